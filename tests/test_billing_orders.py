"""Plans and checkout: what can be bought for which key or server, and the re-check before
Telegram charges (``pre_checkout_query``): every reason an order is no longer payable."""

import pytest

from db.models import AuditEvent, Order, OrderState, Plan
from domain.billing import orders, plans
from domain.billing.orders import NotPayable
from domain.bounds import MAX_BYTES
from domain.errors import Invalid, NotFound
from domain.keys import changes
from domain.settings import GIB
from tests.billing_fixtures import make_plan
from tests.worker_fixtures import OWNER, new_key

pytestmark = pytest.mark.usefixtures("owner")


async def test_plans_are_created_updated_and_retired_with_an_audit_trail(server) -> None:
    plan = await make_plan(monthly_reset=True, servers=("alpha",))
    assert (plan.server_ids, plan.traffic_reset) == ([server.id], "monthly")
    await plans.update_plan(plan.id, {"price_stars": 150, "traffic_limit": None}, actor="cli")
    await plans.retire_plan(plan.id, actor="cli")
    fresh = await Plan.get(id=plan.id)
    assert (fresh.price_stars, fresh.traffic_limit, fresh.is_active) == (150, None, False)
    assert await plans.list_plans(on_sale=True) == []
    actions = await AuditEvent.all().values_list("action", flat=True)
    assert [a for a in actions if a.startswith("plan.")] == [
        "plan.created",
        "plan.updated",
        "plan.retired",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name_en": ""}, "name_en"),
        ({"name_ru": "x" * 33}, "name_ru"),
        ({"days": 0}, "days"),
        ({"price_stars": 0}, "price_stars"),
        ({"traffic_limit": 0}, "traffic_limit"),
        ({"traffic_limit": MAX_BYTES + 1}, "traffic_limit"),
        ({"recurring": True, "days": 31}, "days"),
    ],
)
async def test_a_plan_with_impossible_terms_is_refused(server, overrides, field) -> None:
    with pytest.raises(Invalid) as caught:
        await make_plan(**overrides)
    assert caught.value.params["field"] == field
    assert not await Plan.exists()


async def test_a_plan_for_an_unknown_server_is_refused(server) -> None:
    with pytest.raises(NotFound):
        await make_plan(servers=("nowhere",))


@pytest.mark.parametrize("plan_id", [0, -1, 2**31, 10**20])
async def test_an_impossible_plan_id_is_not_found(server, plan_id) -> None:
    with pytest.raises(NotFound):
        await plans.get_plan(plan_id)
    with pytest.raises(NotFound):
        await plans.update_plan(plan_id, {"price_stars": 1}, actor="cli")


async def test_an_impossible_key_id_cannot_be_bought_for(ctx, plan, server) -> None:
    for key_id in (2**31, 10**20):
        with pytest.raises(NotFound):
            await orders.offers(OWNER, key_id)
        with pytest.raises(NotFound):
            await orders.targets(ctx, OWNER, plan.id, key_id)
        with pytest.raises(NotFound):
            await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key_id, actor="t")
    assert not await Order.exists()


async def test_targets_are_the_users_keys_with_an_expiry_else_the_plan_servers(
    ctx, plan, server
) -> None:
    assert [s.id for s in (await orders.targets(ctx, OWNER, plan.id)).servers] == [server.id]
    dated = await new_key(ctx, days=5)
    await new_key(ctx)  # no expiry: nothing to extend
    found = await orders.targets(ctx, OWNER, plan.id)
    assert [k.id for k in found.keys] == [dated.id] and found.servers == []
    only = await orders.targets(ctx, OWNER, plan.id, key_id=dated.id)
    assert [k.id for k in only.keys] == [dated.id] and only.servers == []
    new = await orders.targets(ctx, OWNER, plan.id, new_key=True)
    assert new.keys == [] and [s.id for s in new.servers] == [server.id]


async def test_checkout_refuses_a_key_of_another_user_or_a_retired_plan(ctx, plan, server) -> None:
    other = await new_key(ctx, tg_id=None, days=5)
    with pytest.raises(NotFound):
        await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=other.id, actor="t")
    await plans.retire_plan(plan.id, actor="cli")
    with pytest.raises(NotPayable) as caught:
        await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t")
    assert caught.value.params["reason"] == "plan_retired"
    assert not await Order.exists()


async def test_a_fresh_order_is_payable_by_its_buyer(ctx, plan, server) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    assert len(order.token) >= 20 and not order.token.isdigit()
    found = await orders.payable_order(
        ctx, token=order.token, tg_id=OWNER, amount=100, currency="XTR"
    )
    assert found.id == order.id


async def _refusal(ctx, order: Order, **kwargs: object) -> str:
    values: dict[str, object] = {
        "token": order.token,
        "tg_id": OWNER,
        "amount": order.price,
        "currency": "XTR",
    }
    with pytest.raises(NotPayable) as caught:
        await orders.payable_order(ctx, **(values | kwargs))  # type: ignore[arg-type]
    return str(caught.value.params["reason"])


async def test_pre_checkout_refuses_forged_foreign_and_mismatched_orders(
    ctx, plan, server
) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    assert await _refusal(ctx, order, token="forged") == "unknown"
    for forged in ("\x00" * 22, order.token + "x" * 200, order.token.upper() + "\x00"):
        assert await _refusal(ctx, order, token=forged) == "unknown"
    assert await _refusal(ctx, order, tg_id=OWNER + 1) == "not_yours"
    assert await _refusal(ctx, order, amount=1) == "amount"
    assert await _refusal(ctx, order, currency="EUR") == "amount"


async def test_pre_checkout_refuses_a_retired_plan_and_a_changed_price(ctx, plan, server) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    await plans.update_plan(plan.id, {"price_stars": 120}, actor="cli")
    assert await _refusal(ctx, order) == "price_changed"
    await plans.retire_plan(plan.id, actor="cli")
    assert await _refusal(ctx, order) == "plan_retired"


async def test_pre_checkout_refuses_a_deleted_key_an_old_or_paid_order(
    ctx, clock, plan, server
) -> None:
    key = await new_key(ctx, days=5)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    await changes.delete_key(ctx, key_id=key.id, server=None, actor="t")
    assert await _refusal(ctx, order) == "key_deleted"
    fresh = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    clock.advance(hours=25)
    assert await _refusal(ctx, fresh) == "expired"
    assert await orders.expire_orders(clock.now()) == 2
    assert await Order.filter(state=OrderState.EXPIRED).count() == 2
    paid = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t")
    await Order.filter(id=paid.id).update(state=OrderState.PAID)
    assert await _refusal(ctx, paid) == "paid"


async def test_a_plan_names_itself_in_the_users_language(server) -> None:
    plan = await make_plan(traffic_limit=5 * GIB)
    assert (plans.plan_name(plan, "ru"), plans.plan_name(plan, "en")) == ("Месяц", "Monthly")
    assert plans.plan_name(plan, None) == "Monthly"
    assert (await plans.spec_of(plan)).traffic_limit == 5 * GIB
