"""Selling over the HTTP API and the command line: plans, a user's payments, refunds (which
need the bot), the monthly traffic reset command, and `main.py plan|promo|payment`."""

from urllib.parse import urlsplit

import pytest

from api.app_keys import CONTEXT, STARS
from api.setup import build_app
from db.connect import close_database, open_database
from db.models import PaymentState, TrafficReset, VPNKey
from domain import audit
from domain.accounts import tokens, users
from domain.accounts.users import UserProfile
from domain.billing import orders, payments, plans
from domain.servers import registry
from domain.settings import Settings
from tests.api_fixtures import Api
from tests.billing_fixtures import FakeStars, charge_for, make_plan
from tests.bot_fixtures import TOKEN, FakeBotApi
from tests.conftest import SECRET_MARKERS
from tests.serving import cli_env, run_main
from tests.test_cli import run_cli
from vpn.emulator import RunningEmulator


@pytest.fixture
async def api(
    settings: Settings, outline_server: RunningEmulator, aiohttp_client, stars: FakeStars, request
) -> Api:
    """The API app; marked ``with_stars``, its refunds go to the fake Telegram ``stars``."""
    app = build_app(settings)
    if "with_stars" in request.keywords:
        app[STARS] = stars
    client = await aiohttp_client(app)
    SECRET_MARKERS.append(urlsplit(outline_server.api_url).path)
    ctx = client.app[CONTEXT]
    await registry.add_server(ctx, name="alpha", api_url=outline_server.api_url, actor=audit.CLI)
    _, plaintext = await tokens.create_token("tests", actor=audit.CLI)
    return Api(client, plaintext, outline_server.emulator)


@pytest.fixture
async def paid(api: Api) -> dict:
    """User 42 paid 100 Stars for a new 30-day key."""
    await api.user(42, "ann")
    ctx = api.client.app[CONTEXT]
    plan = await make_plan(monthly_reset=True)
    server = (await plans.plan_servers(plan))[0]
    order = await orders.checkout(ctx, tg_id=42, plan_id=plan.id, server_id=server.id, actor="t")
    outcome = await payments.take_payment(ctx, tg_id=42, charge=charge_for(order, charge_id="c1"))
    assert outcome.key is not None
    return {"plan": plan, "payment": outcome.payment, "key": outcome.key}


async def test_plans_are_listed_with_their_terms(api: Api, paid: dict) -> None:
    await make_plan(name_en="Week", name_ru="Неделя", days=7, price_stars=30, traffic_limit=None)
    await plans.retire_plan(paid["plan"].id, actor="cli")
    data = await api.call("GET", "/api/plans", expect=200)
    assert [(p["name_en"], p["is_active"]) for p in data["plans"]] == [
        ("Week", True),
        ("Monthly", False),
    ]
    assert data["plans"][1] | {"id": 0} == {
        "id": 0,
        "name_en": "Monthly",
        "name_ru": "Месяц",
        "days": 30,
        "traffic_limit": 100 * 1024**3,
        "traffic_reset": "monthly",
        "price_stars": 100,
        "servers": [],
        "recurring": False,
        "is_active": False,
    }
    await api.call("GET", "/api/plans/", expect=401, auth=None)


async def test_a_users_payments_are_listed_newest_first(api: Api, paid: dict) -> None:
    data = await api.call("GET", "/api/user/42/payments/", expect=200)
    (payment,) = data["payments"]
    assert payment | {"paid_at": "x"} == {
        "id": paid["payment"].id,
        "tg_id": 42,
        "plan_id": paid["plan"].id,
        "key_id": paid["key"].id,
        "amount": 100,
        "currency": "XTR",
        "telegram_payment_charge_id": "c1",
        "is_recurring": False,
        "days": 30,
        "state": "applied",
        "paid_at": "x",
        "refunded_at": None,
    }
    await api.call("GET", "/api/user/43/payments/", expect=404)
    await api.call("GET", "/api/user/0/payments/", expect=400)
    await api.call("GET", f"/api/user/{10**20}/payments/", expect=400)


async def test_a_refund_without_the_bot_is_a_clear_409(api: Api, paid: dict) -> None:
    url = f"/api/payment/{paid['payment'].id}/refund/"
    refused = await api.call("POST", url, {"command": "refund_payment"}, expect=409)
    assert "BOT_TOKEN" in refused["details"]
    assert (await payments.get_payment(paid["payment"].id)).state == PaymentState.APPLIED


@pytest.mark.with_stars
async def test_a_refund_takes_the_time_back(api: Api, paid: dict, stars: FakeStars) -> None:
    url = f"/api/payment/{paid['payment'].id}/refund/"
    body = {"command": "refund_payment"}
    data = await api.call("POST", url, body, expect=200)
    assert data["payments"][0]["state"] == "refunded"
    assert stars.refunds == [(42, "c1")]
    again = await api.call("POST", url, body, expect=409)
    assert "already refunded" in again["details"]
    await api.call("POST", "/api/payment/999/refund/", body, expect=404)
    await api.call("POST", f"/api/payment/{2**31}/refund/", body, expect=400)
    bad = await api.call("POST", url, {"command": "nope"}, expect=400)
    assert "refund_payment" in bad["details"]
    key = await VPNKey.get(id=paid["key"].id)
    assert key.inactive_reason == "expired"


@pytest.mark.with_stars
async def test_refund_that_telegram_refuses_is_a_409_that_changes_nothing(
    api: Api, paid: dict, stars: FakeStars
) -> None:
    stars.refuse = True
    url = f"/api/payment/{paid['payment'].id}/refund/"
    data = await api.call("POST", url, {"command": "refund_payment"}, expect=409)
    assert "CHARGE_NOT_FOUND" in data["details"]
    assert (await payments.get_payment(paid["payment"].id)).state == PaymentState.APPLIED


@pytest.mark.parametrize(("reset", "stored"), [("monthly", "monthly"), (None, "no_reset")])
async def test_the_traffic_reset_command_switches_monthly_resets(
    api: Api, reset: str | None, stored: str
) -> None:
    key = await api.new_key(days=10)
    body = {"command": "token_traffic_reset", "reset": reset}
    data = await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", body, expect=200)
    assert data["details"] == f"key {key['id']} traffic reset: {reset or 'never'}"
    row = await VPNKey.get(id=key["id"])
    assert row.traffic_reset == TrafficReset(stored)
    assert (row.period_started_at is not None) == (reset == "monthly")
    wrong = {"command": "token_traffic_reset", "reset": "weekly"}
    await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", wrong, expect=400)


async def test_the_cli_manages_plans_promo_codes_and_payments(database_url: str, server) -> None:
    await close_database()  # the CLI opens the database itself
    code, out, err = await run_cli(
        database_url, "plan", "add", "--name-en", "Month", "--name-ru", "Месяц",
        "--days", "30", "--price", "100", "--traffic-gb", "50", "--monthly-reset",
        "--servers", "alpha",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "plan 1 'Month' added"), err
    code, out, _ = await run_cli(database_url, "plan", "update", "1", "--price", "120")
    assert (code, out.strip()) == (0, "plan 1 updated")
    code, out, _ = await run_cli(database_url, "plan", "list")
    assert out.strip() == (
        "1\tMonth / Месяц\t30 days\t50 GB monthly\t120 XTR\tone-off\talpha\ton sale"
    )
    code, out, _ = await run_cli(database_url, "plan", "retire", "1")
    assert code == 0 and "retired" in out
    code, out, _ = await run_cli(
        database_url, "promo", "add", "spring", "--percent", "20", "--max-uses", "5",
        "--valid-until", "2030-12-31",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "promo code SPRING added")
    code, out, _ = await run_cli(database_url, "promo", "list")
    assert out.strip() == "SPRING\t20% off\t0/5 used\tuntil 2031-01-01 00:00"
    code, out, _ = await run_cli(database_url, "promo", "retire", "spring")
    assert (code, out.strip()) == (
        0,
        "promo code SPRING retired (0 used; those uses stay counted)",
    )
    code, out, _ = await run_cli(database_url, "promo", "list")
    assert out.startswith("SPRING\t20% off\t0/5 used\tuntil 20") and "2031" not in out
    code, _, err = await run_cli(database_url, "promo", "retire", "nope")
    assert (code, err.strip()) == (1, "error: promo code NOPE not found")
    await open_database(database_url)
    await users.upsert_user(UserProfile(id=42), actor="t")
    await close_database()
    code, out, _ = await run_cli(database_url, "payment", "list", "42")
    assert (code, out) == (0, "")
    code, _, err = await run_cli(database_url, "payment", "refund", "1")
    assert (code, err.strip()) == (1, "error: payment 1 not found")
    code, _, err = await run_cli(database_url, "payment", "refund", str(10**20))
    assert (code, err.strip()) == (1, f"error: payment {10**20} not found")
    code, _, err = await run_cli(database_url, "plan", "retire", str(10**20))
    assert (code, err.strip()) == (1, f"error: plan {10**20} not found")


async def test_the_cli_refunds_a_payment_through_the_bot_api(
    database_url: str, paid: dict, bot_api: FakeBotApi
) -> None:
    await close_database()  # the CLI opens the database itself
    env = cli_env(database_url, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=bot_api.base_url)
    code, out, err = await run_main(env, "payment", "refund", str(paid["payment"].id))
    assert (code, out.strip()) == (0, f"payment {paid['payment'].id} refunded"), err
    assert bot_api.called("refundStarPayment") == [
        {"user_id": "42", "telegram_payment_charge_id": "c1"}
    ]
    await open_database(database_url)
    assert (await payments.get_payment(paid["payment"].id)).state == PaymentState.REFUNDED
    key = await VPNKey.get(id=paid["key"].id)
    assert key.inactive_reason == "expired"
