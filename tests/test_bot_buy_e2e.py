"""One end-to-end run of selling over real long polling against the local Bot API stand-in
(``TELEGRAM_API_BASE``), with the worker running: buying a new key, extending from the
reminder, a repeated payment, a cut key reopened, refused pre-checkouts, a payment while
the server is down, a subscription renewed and its renewal cancelled, a refund, ten
parallel promo checkouts and a referral bonus paid once."""

import asyncio
import json
import re
from datetime import timedelta
from functools import partial

import pytest
from aiogram.types import User

from bot import setup as bot_setup
from db.models import InactiveReason, KeyState, Order, Payment, PaymentState, VPNKey
from domain import audit
from domain.billing import plans, promos
from domain.context import utcnow
from tests.billing_fixtures import make_plan
from tests.bot_fixtures import ADMIN, ANN, BORIS
from tests.botapi_standin import LINK, BotApiStandIn, keyboard
from tests.test_bot_e2e import eventually, start_service  # noqa: F401  (a fixture)

TIMEOUT = 60


@pytest.fixture(autouse=True)
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run pays faster than any person: the 5 s throttle of pay buttons is off."""
    build = bot_setup.build_dispatcher
    monkeypatch.setattr(bot_setup, "build_dispatcher", partial(build, throttle_seconds=0))


@pytest.fixture
async def bot_api(aiohttp_server) -> BotApiStandIn:
    """The stand-in in place of the plain recording Bot API server."""
    api = BotApiStandIn()
    api.base_url = str((await aiohttp_server(api.app)).make_url("")).rstrip("/")
    return api


async def _invoice(api: BotApiStandIn, user: User, data: str) -> str:
    """Press ``data`` (a Pay button); the payload of the invoice the bot sends."""
    since = api.mark()
    api.press(user, data)
    invoice = await api.next_call("sendInvoice", since, chat_id=str(user.id))
    return str(invoice["payload"])


async def _key(**filters: object) -> VPNKey:
    return await VPNKey.get(state=KeyState.LIVE, **filters)


async def test_selling_end_to_end_over_long_polling(
    start_service,  # noqa: F811
    bot_api: BotApiStandIn,
    outline_server,
) -> None:
    api = bot_api
    server = await start_service(expiry_check_seconds=0.1)
    srv = (await plans.plan_servers(await make_plan()))[0]
    monthly = (await plans.list_plans())[0]
    auto = await make_plan(recurring=True, name_en="Auto", name_ru="Авто", price_stars=120)
    for user in (ANN, BORIS, ADMIN):
        since = api.mark()
        api.send(user, "/start")
        await api.next_call("sendMessage", since, chat_id=str(user.id))

    # Buy a new key: menu → plan → (one server) summary → Pay → invoice → pre-checkout → paid.
    since = api.mark()
    api.press(ANN, "m:buy")
    shown = await api.next_call("editMessageText", since, text="Buy or extend")
    assert keyboard(shown)[0][0]["callback_data"] == f"p:plan:{monthly.id}:0:0"
    payload = await _invoice(api, ANN, f"p:pay:{monthly.id}:0:{srv.id}")
    since = api.mark()
    assert await api.pay(ANN, payload, 100)
    receipt = await api.next_call(
        "sendMessage", since, chat_id=str(ANN.id), text="Payment received"
    )
    key = await _key(owner_id=ANN.id)
    assert "until" in receipt["text"] and key.remote_id in outline_server.emulator.keys

    # The reminder of a key about to expire carries "Extend"; paying extends from its expiry.
    expiry = utcnow() + timedelta(days=2)
    await VPNKey.filter(id=key.id).update(valid_until=expiry)
    since = api.mark()
    reminder = await api.next_call("sendMessage", since, chat_id=str(ANN.id), text="expires on")
    extend = keyboard(reminder)[0][0]
    assert extend == {"text": "💳 Extend", "callback_data": f"p:plans:0:{key.id}:0"}
    api.press(ANN, extend["callback_data"])
    payload = await _invoice(api, ANN, f"p:pay:{monthly.id}:{key.id}:0")
    since = api.mark()
    charge = await api.pay(ANN, payload, 100)
    assert charge is not None
    await api.next_call("sendMessage", since, chat_id=str(ANN.id), text="Payment received")
    assert (await _key(id=key.id)).valid_until == expiry + timedelta(days=30)

    # The same successful_payment again: a receipt, no second extension.
    since = api.mark()
    api.deliver_charge(ANN, payload, 100, charge)
    await api.next_call("sendMessage", since, chat_id=str(ANN.id), text="Payment received")
    assert (await _key(id=key.id)).valid_until == expiry + timedelta(days=30)
    assert await Payment.filter(telegram_payment_charge_id=charge).count() == 1

    # A cut (expired) key reopens on payment.
    await VPNKey.filter(id=key.id).update(valid_until=utcnow() - timedelta(minutes=1))
    since = api.mark()
    await api.next_call("sendMessage", since, chat_id=str(ANN.id), text="has expired")
    assert (await _key(id=key.id)).inactive_reason == InactiveReason.EXPIRED
    payload = await _invoice(api, ANN, f"p:pay:{monthly.id}:{key.id}:0")
    assert await api.pay(ANN, payload, 100)

    async def reopened() -> bool:
        return (await _key(id=key.id)).is_active

    await eventually(reopened)
    assert outline_server.emulator.keys[key.remote_id].limit == 100 * 1024**3

    # Pre-checkout is refused when the price changed, or the plan was retired.
    payload = await _invoice(api, BORIS, f"p:pay:{monthly.id}:0:{srv.id}")
    await plans.update_plan(monthly.id, {"price_stars": 110}, actor="cli")
    answer = await api.checkout(BORIS, payload, 100)
    assert answer["ok"] == "false" and "Цена тарифа изменилась" in answer["error_message"]
    payload = await _invoice(api, BORIS, f"p:pay:{monthly.id}:0:{srv.id}")
    await plans.retire_plan(monthly.id, actor="cli")
    answer = await api.checkout(BORIS, payload, 110)
    assert answer["ok"] == "false" and "больше не продаётся" in answer["error_message"]
    assert not await Payment.filter(user_id=BORIS.id).exists()

    # A subscription: the invoice link, the first charge, a renewal, then no more renewals.
    since = api.mark()
    api.press(BORIS, f"p:pay:{auto.id}:0:{srv.id}")
    link = await api.next_call("createInvoiceLink", since)
    assert link["subscription_period"] == "2592000"
    offer = await api.next_call("sendMessage", since, chat_id=str(BORIS.id))
    assert keyboard(offer)[0][0]["url"] == LINK + link["payload"]
    until = utcnow() + timedelta(days=30)
    first = await api.pay(BORIS, link["payload"], 120, recurring=True, until=until)
    assert first is not None

    async def subscribed() -> bool:
        return await VPNKey.filter(owner_id=BORIS.id, state=KeyState.LIVE).exists()

    await eventually(subscribed)
    sub_key = await _key(owner_id=BORIS.id)
    later = until + timedelta(days=30)
    await api.pay(BORIS, link["payload"], 120, renewal=True, recurring=True, until=later)

    async def renewed() -> bool:
        return (await _key(id=sub_key.id)).valid_until == sub_key.valid_until + timedelta(30)

    await eventually(renewed)
    since = api.mark()
    api.press(BORIS, f"k:renew_off:{sub_key.id}")
    cancel = await api.next_call("editUserStarSubscription", since)
    assert (cancel["telegram_payment_charge_id"], cancel["is_canceled"]) == (first, "true")
    await api.next_call("editMessageText", since, text="Автопродление: выключено")

    # A payment while the VPN server is down is applied by the worker once it is back.
    await plans.update_plan(monthly.id, {"price_stars": 100}, actor="cli")
    back_on_sale = await plans.create_plan(await plans.spec_of(monthly), actor="cli")
    payload = await _invoice(api, ADMIN, f"p:pay:{back_on_sale.id}:0:{srv.id}")
    outline_server.emulator.faults.fail_next(10_000, 503)
    since = api.mark()
    assert await api.pay(ADMIN, payload, 100)
    waiting = await api.next_call("sendMessage", since, chat_id=str(ADMIN.id))
    assert "not answering right now" in waiting["text"]
    outline_server.emulator.faults.rules.clear()
    applied = await api.next_call("sendMessage", since, chat_id=str(ADMIN.id), text="is applied")
    assert "valid until" in applied["text"]

    # An admin refunds the payment that reopened Ann's key: the 30 days it bought go away,
    # which leaves no time (never less than none), so the key is cut again.
    paid = await Payment.filter(user_id=ANN.id).order_by("-id").first()
    assert paid is not None
    since = api.mark()
    api.press(ADMIN, f"ap:refund_ok:{paid.id}")
    refund = await api.next_call("refundStarPayment", since)
    assert refund["telegram_payment_charge_id"] == paid.telegram_payment_charge_id
    await api.next_call("editMessageText", since, text=f"Payment #{paid.id} refunded")
    assert (await Payment.get(id=paid.id)).state == PaymentState.REFUNDED
    refunded = await _key(id=key.id)
    assert refunded.valid_until <= utcnow() and not refunded.is_active
    assert refunded.inactive_reason == InactiveReason.EXPIRED

    # Ten parallel checkouts with a promo code at its limit: exactly the limit get invoices.
    await promos.create_promo("RUSH", percent_off=50, max_uses=3, actor=audit.CLI)
    crowd = [User(id=800 + n, is_bot=False, first_name=f"C{n}") for n in range(10)]
    for user in crowd:
        since = api.mark()
        api.send(user, "/start")
        await api.next_call("sendMessage", since, chat_id=str(user.id))
        api.press(user, f"p:go:{back_on_sale.id}:0:{srv.id}")
        await api.next_call("editMessageText", since, text="promo code")
    since = api.mark()
    for user in crowd:
        api.send(user, "rush")

    async def all_answered() -> bool:
        answers = [c for c in api.calls[since:] if c[0] in ("sendInvoice", "sendMessage")]
        refused = [c for c in answers if "used up" in str(c[1].get("text"))]
        return len([c for c in answers if c[0] == "sendInvoice"]) + len(refused) == 10

    await eventually(all_answered)
    invoices = [p for name, p in api.calls[since:] if name == "sendInvoice"]
    assert len(invoices) == 3 and all(json_amount(p) == 50 for p in invoices)

    # A referral: Ann's link brings Carl; his first payment gives Ann 7 days, once.
    since = api.mark()
    api.send(ANN, "/invite")
    invite = await api.next_call("sendMessage", since, chat_id=str(ANN.id), text="start=ref_")
    code = re.search(r"start=(ref_[\w-]+)", invite["text"])
    assert code is not None
    carl = User(id=950, is_bot=False, first_name="Carl", language_code="en")
    since = api.mark()
    api.send(carl, f"/start {code.group(1)}")
    await api.next_call("sendMessage", since, chat_id=str(carl.id))
    for _ in range(2):
        payload = await _invoice(api, carl, f"p:pay:{back_on_sale.id}:0:{srv.id}")
        since = api.mark()
        assert await api.pay(carl, payload, 100)
        await api.next_call("sendMessage", since, chat_id=str(carl.id), text="Payment received")
    bonus = await api.next_call("sendMessage", 0, chat_id=str(ANN.id), text="A friend you invited")
    assert "7 days" in bonus["text"]
    rewarded = await _key(id=key.id)
    assert rewarded.is_active  # the bonus reopened the key cut by the refund
    assert abs(rewarded.valid_until - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert await Order.filter(user_id=carl.id, state="paid").count() == 2
    await asyncio.sleep(0.3)  # the worker's next rounds give no second bonus
    assert (await _key(id=key.id)).valid_until == rewarded.valid_until
    await server.close()


def json_amount(params: dict) -> int:
    return json.loads(params["prices"])[0]["amount"]
