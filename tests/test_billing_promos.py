"""Promo codes at checkout: percent off or free days, refused when unknown, expired, used
up or already used, and race-safe: parallel checkouts never exceed the limit."""

import asyncio
from datetime import UTC, datetime

import pytest

from db.models import Order, OrderState, PromoCode, PromoRedemption
from domain import audit
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.billing import orders, promos
from domain.billing.promos import PromoRefused
from domain.errors import Conflict, Invalid
from tests.worker_fixtures import OWNER


async def _checkout(ctx, plan, server, code: str, tg_id: int = OWNER) -> Order:
    return await orders.checkout(
        ctx, tg_id=tg_id, plan_id=plan.id, server_id=server.id, promo_code=code, actor="t"
    )


async def _refusal(ctx, plan, server, code: str, tg_id: int = OWNER) -> str:
    with pytest.raises(PromoRefused) as caught:
        await _checkout(ctx, plan, server, code, tg_id)
    return str(caught.value.params["reason"])


@pytest.fixture
async def buyers(server) -> list[int]:
    """Ten registered users (ids 1001-1010)."""
    ids = list(range(1001, 1011))
    for tg_id in ids:
        await users.upsert_user(UserProfile(id=tg_id), actor="t")
    return ids


async def test_percent_off_lowers_the_price_and_free_days_add_days(
    ctx, owner, plan, server
) -> None:
    await promos.create_promo("spring20", percent_off=20, actor=audit.CLI)
    await promos.create_promo("WEEK", free_days=7, actor=audit.CLI)
    cheaper = await _checkout(ctx, plan, server, " Spring20 ")
    assert (cheaper.price, cheaper.days, cheaper.plan_price) == (80, 30, 100)
    longer = await _checkout(ctx, plan, server, "week")
    assert (longer.price, longer.days) == (100, 37)


async def test_unknown_expired_and_used_up_codes_are_refused_and_change_nothing(
    ctx, clock, owner, plan, server
) -> None:
    await promos.create_promo("OLD", percent_off=10, valid_until=clock.now(), actor=audit.CLI)
    await promos.create_promo("ONCE", percent_off=10, max_uses=1, actor=audit.CLI)
    assert await _refusal(ctx, plan, server, "nope") == "unknown"
    assert await _refusal(ctx, plan, server, "") == "unknown"
    for typed in ("old\x00", "x" * 5000, "ОЛД"):  # no stored code looks like these
        assert await _refusal(ctx, plan, server, typed) == "unknown"
    assert await _refusal(ctx, plan, server, "old") == "expired"
    await PromoCode.filter(code="ONCE").update(uses=1)
    assert await _refusal(ctx, plan, server, "once") == "used_up"
    assert not await Order.exists() and not await PromoRedemption.exists()


async def test_a_code_serves_each_user_once_but_a_new_checkout_may_take_it_over(
    ctx, owner, plan, server
) -> None:
    await promos.create_promo("HELLO", percent_off=50, max_uses=5, actor=audit.CLI)
    first = await _checkout(ctx, plan, server, "hello")
    second = await _checkout(ctx, plan, server, "hello")  # replaces the unpaid first order
    assert (await Order.get(id=first.id)).state == OrderState.CANCELLED
    assert (await PromoCode.get(code="HELLO")).uses == 1
    await Order.filter(id=second.id).update(state=OrderState.PAID)
    assert await _refusal(ctx, plan, server, "hello") == "used"


async def test_an_order_that_expires_unpaid_gives_its_use_back(
    ctx, clock, owner, plan, server
) -> None:
    await promos.create_promo("LAST", percent_off=10, max_uses=1, actor=audit.CLI)
    await _checkout(ctx, plan, server, "last")
    clock.advance(hours=25)
    await orders.expire_orders(clock.now())
    promo = await PromoCode.get(code="LAST")
    assert promo.uses == 0 and not await PromoRedemption.exists()
    await _checkout(ctx, plan, server, "last")


async def test_ten_parallel_checkouts_at_the_limit_get_exactly_the_limit(
    ctx, plan, server, buyers
) -> None:
    await promos.create_promo("RUSH", percent_off=30, max_uses=3, actor=audit.CLI)
    results = await asyncio.gather(
        *(_checkout(ctx, plan, server, "rush", tg_id) for tg_id in buyers),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, PromoRefused)]
    assert (len(won), len(refused)) == (3, 7), results
    assert {r.params["reason"] for r in refused} == {"used_up"}
    assert (await PromoCode.get(code="RUSH")).uses == 3
    assert await PromoRedemption.all().count() == 3 == await Order.all().count()


async def test_promo_codes_are_validated_when_made(server) -> None:
    with pytest.raises(Invalid):
        await promos.create_promo("x", percent_off=10, actor=audit.CLI)
    with pytest.raises(Invalid):
        await promos.create_promo("BOTH", percent_off=10, free_days=3, actor=audit.CLI)
    with pytest.raises(Invalid):
        await promos.create_promo("FREE", percent_off=100, actor=audit.CLI)
    with pytest.raises(Invalid):
        await promos.create_promo("MANY", percent_off=10, max_uses=2**31, actor=audit.CLI)
    with pytest.raises(Invalid):
        await promos.create_promo("LONG", free_days=3651, actor=audit.CLI)
    with pytest.raises(Invalid):
        far = datetime(9500, 1, 1, tzinfo=UTC)
        await promos.create_promo("FAR", percent_off=10, valid_until=far, actor=audit.CLI)
    await promos.create_promo("DUP", free_days=1, actor=audit.CLI)
    with pytest.raises(Conflict):
        await promos.create_promo("dup", free_days=1, actor=audit.CLI)
    assert [p.code for p in await promos.list_promos()] == ["DUP"]
