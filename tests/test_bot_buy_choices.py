"""The choices on the way to an invoice, through the production dispatcher: extend a key or
get a new one, the servers a new key can go to (only those that answer, by their titles),
why no plan extends a key, another user's order paid, a retired promo code, and a retired
plan's key that keeps working."""

from collections.abc import AsyncIterator

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendInvoice, SendMessage

from db.connect import close_database, open_database
from db.models import (
    AuditEvent,
    KeyState,
    Order,
    OrderState,
    Payment,
    PromoCode,
    VPNKey,
    VPNServer,
)
from domain import audit
from domain.billing import plans, promos
from domain.context import Context
from domain.keys import issuing
from domain.keys.enforcement import CURRENT, enforce_many
from domain.servers import registry
from domain.settings import GIB
from tests.billing_fixtures import make_plan, payment_update, pre_checkout_update
from tests.bot_fixtures import ANN, BORIS, FIXED_NOW, BotHarness, buttons
from tests.test_cli import run_cli
from vpn.emulator import RunningEmulator, start_emulator

NOT_ANSWERING = "The VPN server is not answering right now. Nothing was changed — try later."


@pytest.fixture
async def shop(tg: BotHarness, server) -> BotHarness:
    """Ann (English) and Boris (Russian) registered; nothing on sale yet."""
    await tg.as_user(ANN).send("/start")
    await tg.as_user(BORIS).send("/start")
    return tg


@pytest.fixture
async def frankfurt(server, ctx: Context) -> AsyncIterator[tuple[VPNServer, RunningEmulator]]:
    """A second emulator registered as ``beta``, shown to users as "🇩🇪 Frankfurt"."""
    running = await start_emulator()
    beta = await registry.add_server(
        ctx, name="beta", api_url=running.api_url, title="🇩🇪 Frankfurt", actor=audit.CLI
    )
    yield beta, running
    await running.stop()


@pytest.fixture
async def gone(server, ctx: Context) -> VPNServer:
    """A third server, ``gamma``, active but no longer answering."""
    running = await start_emulator()
    gamma = await registry.add_server(ctx, name="gamma", api_url=running.api_url, actor="cli")
    await running.stop()
    return gamma


async def _pay(tg: BotHarness, user, pay: str) -> SendInvoice:
    calls = await tg.as_user(user).press(pay)
    (invoice,) = [c for c in calls if isinstance(c, SendInvoice)]
    return invoice


async def test_a_plan_asks_to_extend_one_of_the_keys_or_get_a_new_one(
    shop: BotHarness, server, bot_ctx: Context
) -> None:
    plan = await make_plan()
    home = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=ANN.id, name="home", days=2, actor="t"
    )
    await issuing.create_key(bot_ctx, server="alpha", tg_id=ANN.id, name="forever", actor="t")
    ann = shop.as_user(ANN)
    choice, _ = await ann.press(f"p:plan:{plan.id}:0:0", message_id=3)
    assert isinstance(choice, EditMessageText)
    assert choice.text == "<b>Monthly</b>: extend one of your keys, or get a new key?"
    assert buttons(choice.reply_markup) == [  # "forever" has no expiry: nothing to extend
        [("🔄 Extend “home”", f"p:go:{plan.id}:{home.id}:0")],
        [("➕ New key", f"p:new:{plan.id}:0:0")],
        [("« Back", "p:plans:0:0:0")],
    ]
    summary, _ = await ann.press(f"p:go:{plan.id}:{home.id}:0", message_id=3)
    assert "Extends “home” (until 3 January 2030, 12:00 (2 days left))." in summary.text
    invoice = await _pay(shop, ANN, f"p:pay:{plan.id}:{home.id}:0")
    assert invoice.description == "30 days · 100 GB of traffic · extends “home”"
    assert (await Order.get(token=invoice.payload)).key_id == home.id

    await issuing.create_key(
        bot_ctx, server="alpha", tg_id=BORIS.id, name="дом", days=2, actor="t"
    )
    (ru, _) = await shop.as_user(BORIS).press(f"p:plan:{plan.id}:0:0")
    assert ru.text == "<b>Месяц</b>: продлить один из ваших ключей или получить новый?"
    assert [row[0][0] for row in buttons(ru.reply_markup)] == [
        "🔄 Продлить «дом»",
        "➕ Новый ключ",
        "« Назад",
    ]


async def test_a_new_key_is_offered_the_servers_that_answer_by_their_titles(
    shop: BotHarness, server, frankfurt, gone: VPNServer, bot_ctx: Context
) -> None:
    beta, beta_emulator = frankfurt
    plan = await make_plan()
    await issuing.create_key(bot_ctx, server="alpha", tg_id=ANN.id, name="home", days=2, actor="t")
    ann = shop.as_user(ANN)
    picker, _ = await ann.press(f"p:new:{plan.id}:0:0", message_id=3)
    assert isinstance(picker, EditMessageText)
    assert picker.text == "<b>Monthly</b>: choose the server of your new key."
    assert buttons(picker.reply_markup) == [  # gamma does not answer: not offered
        [("🌍 alpha", f"p:go:{plan.id}:0:{server.id}")],
        [("🇩🇪 Frankfurt", f"p:go:{plan.id}:0:{beta.id}")],
        [("« Back", "p:plans:0:0:0")],
    ]
    summary, _ = await ann.press(f"p:go:{plan.id}:0:{beta.id}", message_id=3)
    assert "\nA new key on 🇩🇪 Frankfurt.\n" in summary.text
    invoice = await _pay(shop, ANN, f"p:pay:{plan.id}:0:{beta.id}")
    assert invoice.description == "30 days · 100 GB of traffic · a new key on 🇩🇪 Frankfurt"
    await shop.feed(pre_checkout_update(40, ANN, invoice.payload, 100))
    (receipt,) = await shop.feed(payment_update(41, ANN, invoice.payload, 100, "ch-beta"))
    assert receipt.text.startswith("✅ Payment received: ⭐ 100 for “Monthly”.\nKey “Monthly”")
    key = await VPNKey.get(owner_id=ANN.id, name="Monthly")
    assert key.server_id == beta.id and key.remote_id in beta_emulator.emulator.keys

    (ru, _) = await shop.as_user(BORIS).press(f"p:plan:{plan.id}:0:0")  # no key: the servers
    assert ru.text == "<b>Месяц</b>: выберите сервер для нового ключа."
    assert [row[0][0] for row in buttons(ru.reply_markup)] == [
        "🌍 alpha",
        "🇩🇪 Frankfurt",
        "« Назад",
    ]


async def test_with_one_server_answering_the_summary_comes_at_once_and_with_none_an_alert(
    shop: BotHarness, server, outline_server, gone: VPNServer
) -> None:
    plan = await make_plan()
    summary, _ = await shop.as_user(ANN).press(f"p:plan:{plan.id}:0:0")
    assert "\nA new key on alpha.\n" in summary.text
    assert buttons(summary.reply_markup)[0] == [
        ("💳 Pay ⭐ 100", f"p:pay:{plan.id}:0:{server.id}")
    ]
    outline_server.emulator.faults.fail_next(1000, 503)
    (alert,) = await shop.as_user(ANN).press(f"p:new:{plan.id}:0:0")
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text == NOT_ANSWERING
    assert not await Order.exists()


async def test_extend_says_why_no_plan_on_sale_extends_the_key(
    shop: BotHarness, server, frankfurt, bot_ctx: Context
) -> None:
    plan = await make_plan(servers=("beta",))  # alpha's keys cannot be extended with it
    home = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=ANN.id, name="home", days=2, actor="t"
    )
    ann = shop.as_user(ANN)
    edit, _ = await ann.press(f"p:plans:0:{home.id}:0")  # "Extend" on the key card
    assert edit.text == (
        "No plan on sale can extend “home”: none of them covers its server.\n\n"
        "You can buy a new key instead:\n\n"
        "• <b>Monthly</b> — 30 days · 100 GB of traffic — ⭐ 100\n\nChoose a plan:"
    )
    assert buttons(edit.reply_markup) == [
        [("Monthly · ⭐ 100", f"p:plan:{plan.id}:0:0")],  # for a new key
        [("« Back", f"k:show:{home.id}")],
    ]
    summary, _ = await ann.press(f"p:plan:{plan.id}:0:0")
    assert "\nA new key on 🇩🇪 Frankfurt.\n" in summary.text

    forever = await issuing.create_key(
        bot_ctx, server="beta", tg_id=BORIS.id, name="навсегда", actor="t"
    )
    (ru, _) = await shop.as_user(BORIS).press(f"p:plans:0:{forever.id}:0")
    assert ru.text == (
        "У ключа «навсегда» нет срока окончания — продлевать нечего.\n\n"
        "Вместо этого можно купить новый ключ:\n\n"
        "• <b>Месяц</b> — 30 дней · 100 ГБ трафика — ⭐ 100\n\nВыберите тариф:"
    )
    await plans.retire_plan(plan.id, actor="cli")
    (none, _) = await ann.press(f"p:plans:0:{home.id}:0")
    assert none.text == "No plans are on sale right now. Please come back later."
    assert buttons(none.reply_markup) == [[("« Back", f"k:show:{home.id}")]]


async def test_a_payment_of_another_users_order_is_answered_and_changes_nothing(
    shop: BotHarness, server
) -> None:
    plan = await make_plan()
    await shop.as_user(ANN).press(f"p:go:{plan.id}:0:{server.id}")
    invoice = await _pay(shop, ANN, f"p:pay:{plan.id}:0:{server.id}")
    (reply,) = await shop.feed(payment_update(50, BORIS, invoice.payload, 100, "ch-other"))
    assert isinstance(reply, SendMessage) and reply.chat_id == BORIS.id
    assert reply.text == "Этот счёт выставлен другому пользователю. Начните заново с /buy."
    assert not await Payment.exists() and not await VPNKey.exists()
    assert (await Order.get(token=invoice.payload)).state == OrderState.PENDING
    (receipt,) = await shop.feed(payment_update(51, ANN, invoice.payload, 100, "ch-own"))
    assert receipt.text.startswith("✅ Payment received: ⭐ 100 for “Monthly”.")


async def test_a_retired_promo_code_is_refused_at_checkout_and_its_uses_stay_counted(
    shop: BotHarness, server
) -> None:
    plan = await make_plan()
    await promos.create_promo("SPRING", percent_off=20, max_uses=5, actor=audit.CLI)
    await shop.as_user(ANN).press(f"p:go:{plan.id}:0:{server.id}")
    _, invoice = await shop.as_user(ANN).send("spring")
    await shop.feed(payment_update(60, ANN, invoice.payload, 80, "ch-spring"))
    retired = await promos.retire_promo("spring", now=FIXED_NOW, actor=audit.CLI)
    assert (retired.uses, retired.valid_until) == (1, FIXED_NOW)
    again = await promos.retire_promo("SPRING", now=FIXED_NOW, actor=audit.CLI)
    assert again.valid_until == FIXED_NOW  # retiring twice changes nothing
    actions = await AuditEvent.filter(action="promo.retired").count()
    assert actions == 1
    await shop.as_user(BORIS).press(f"p:go:{plan.id}:0:{server.id}")
    (refused,) = await shop.as_user(BORIS).send("spring")
    assert refused.text == (
        "Срок действия промокода истёк. Попробуйте другой или нажмите «Оплатить»."
    )
    assert (await PromoCode.get(code="SPRING")).uses == 1
    assert await Order.filter(user_id=BORIS.id).count() == 0
    assert (await Payment.get()).amount == 80


async def test_a_retired_one_off_plan_keeps_its_paid_key_working(
    shop: BotHarness, server, outline_server, bot_ctx: Context, database_url: str
) -> None:
    plan = await make_plan(traffic_limit=GIB)
    await shop.as_user(ANN).press(f"p:go:{plan.id}:0:{server.id}")
    invoice = await _pay(shop, ANN, f"p:pay:{plan.id}:0:{server.id}")
    await shop.feed(payment_update(70, ANN, invoice.payload, 100, "ch-kept"))
    key = await VPNKey.get(owner_id=ANN.id)

    await close_database()  # the CLI opens the database itself
    code, out, err = await run_cli(database_url, "plan", "retire", str(plan.id))
    assert (code, out.strip()) == (
        0,
        f"plan {plan.id} retired; keys bought with it keep working",
    ), err
    await open_database(database_url)

    emulator = outline_server.emulator
    emulator.add_traffic(key.remote_id, GIB // 2)
    emulator.enforce_limits()
    assert not emulator.is_blocked(key.remote_id)
    assert emulator.key_limit(key.remote_id) == GIB
    assert await enforce_many(bot_ctx, {key.id: CURRENT}) == {}
    fresh = await VPNKey.get(id=key.id)
    assert fresh.state == KeyState.LIVE and fresh.is_active
    assert fresh.valid_until == key.valid_until
    card, _ = await shop.as_user(ANN).press(f"k:show:{key.id}")
    assert card.text.startswith("<b>Monthly</b> — 🟢 active")
    assert not (await plans.get_plan(plan.id)).is_active
