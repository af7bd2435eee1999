"""Hostile or careless input through the bot and straight into the domain: forged callback
data with huge ids, odd admin searches, and extensions past year 8999 — never an overflow."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import AnswerCallbackQuery

from db.models import VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.bounds import ExpiryOutOfRange
from domain.context import Context
from domain.errors import Invalid, NotFound
from domain.keys import changes, issuing, user_keys
from tests.bot_fixtures import ADMIN, ANN, BotHarness, outdated

HUGE = "9" * 25


@pytest.fixture
async def ann_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    """Ann and the admin registered; Ann holds a key valid until the last days of 8999."""
    for user in (ANN, ADMIN):
        await tg.as_user(user).send("/start")
    until = datetime(8999, 12, 28, tzinfo=UTC)
    return await issuing.create_key(
        bot_ctx, server="alpha", tg_id=ANN.id, name="home", valid_until=until, actor="t"
    )


@pytest.mark.parametrize(
    "data",
    [
        f"k:show:{HUGE}",
        f"k:refresh_ok:{HUGE}",
        "k:show:-1",
        "k:show:0",
        f"t:{HUGE}",
        f"ak:show:{HUGE}",
        f"ak:ext7:{HUGE}",
        f"au:{HUGE}",
        f"ai:{HUGE}:0",
        f"ai:100:{HUGE}",
        f"b:progress:{HUGE}",
        f"am:{HUGE}:0",
        f"am:1:{HUGE}",
        f"as:drain:{HUGE}",
        "t:-2",
    ],
)
async def test_forged_callback_data_with_a_huge_id_matches_no_button(
    tg: BotHarness, ann_key: VPNKey, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    for user in (ANN, ADMIN):
        assert outdated(await tg.as_user(user).press(data)), data
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_admin_plus_seven_days_on_a_far_future_key_is_a_clear_refusal(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    (alert,) = await tg.as_user(ADMIN).press(f"ak:ext7:{ann_key.id}")
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text == (
        "A key cannot be valid beyond the year 8999.\n\nthe expiry would pass the year 8999"
    )
    assert (await VPNKey.get(id=ann_key.id)).valid_until == ann_key.valid_until
    await users.set_language(ADMIN.id, "ru", actor="t")
    (alert,) = await tg.as_user(ADMIN).press(f"ak:ext30:{ann_key.id}")
    assert alert.text.startswith("Ключ не может действовать после 8999 года.")


@pytest.mark.parametrize("query", [HUGE, "-" + HUGE, "0", "²", "١٢٣", "9" * 5000, "@" + HUGE])
async def test_admin_search_for_an_impossible_id_is_not_found(
    tg: BotHarness, ann_key: VPNKey, query: str
) -> None:
    admin = tg.as_user(ADMIN)
    await admin.press("a:find")
    (reply,) = await admin.send(query)
    assert reply.text.startswith("Not found — it may have been deleted.")


@pytest.mark.parametrize("tg_id", [0, -1, 2**53, 10**20, 2**64])
async def test_domain_look_ups_of_impossible_ids_are_not_found(
    db: str, ctx: Context, tg_id: int
) -> None:
    with pytest.raises(NotFound):
        await users.get_user(tg_id)
    with pytest.raises(NotFound):
        await users.find_user(str(tg_id))
    with pytest.raises(NotFound):
        await issuing.live_key(tg_id)
    with pytest.raises(NotFound):
        await user_keys.user_key(1, tg_id, any_owner=True)
    with pytest.raises(NotFound):
        await changes.extend_key(ctx, key_id=tg_id, server=None, days=1, actor="t")
    with pytest.raises(NotFound):
        await changes.delete_key(ctx, key_id=tg_id, server=None, actor="t")


async def test_the_domain_refuses_expiries_and_limits_beyond_the_bounds(
    server, ctx: Context
) -> None:
    key = await issuing.create_key(ctx, server="alpha", name="k", days=30, actor="t")
    far = datetime(8999, 12, 31, tzinfo=UTC)
    for valid_until in (datetime(9000, 6, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(ExpiryOutOfRange):
            await changes.set_valid_until(
                ctx, key_id=key.id, server="alpha", valid_until=valid_until, actor="t"
            )
        with pytest.raises(ExpiryOutOfRange):
            await issuing.create_key(ctx, server="alpha", valid_until=valid_until, actor="t")
    await changes.set_valid_until(ctx, key_id=key.id, server="alpha", valid_until=far, actor="t")
    with pytest.raises(ExpiryOutOfRange):
        await changes.extend_key(ctx, key_id=key.id, server="alpha", days=36500, actor="t")
    with pytest.raises(Invalid):
        await changes.set_traffic_limit(
            ctx, key_id=key.id, server="alpha", traffic_limit=2**53, actor="t"
        )
    with pytest.raises(Invalid):
        await changes.set_valid_until(
            ctx, key_id=key.id, server="alpha", valid_until=datetime(2030, 1, 1), actor="t"
        )
    stored = await VPNKey.get(id=key.id)
    assert stored.valid_until == far and stored.traffic_limit is None
    assert far - timedelta(days=1) < stored.valid_until


@pytest.mark.parametrize(
    "profile",
    [
        UserProfile(id=5, first_name="x" * 257),
        UserProfile(id=5, username="u" * 65),
        UserProfile(id=5, last_name="a\x00b"),
        UserProfile(id=5, language_code="en" * 9),
    ],
)
async def test_a_profile_text_longer_than_its_column_is_refused(
    db: str, profile: UserProfile
) -> None:
    with pytest.raises(Invalid):
        await users.upsert_user(profile, actor="t")
    with pytest.raises(Invalid):
        await users.upsert_user(UserProfile(id=5), actor="t", start_payload="p" * 65)
    with pytest.raises(NotFound):
        await users.get_user(5)
