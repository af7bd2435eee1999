"""More of buying in the bot: a subscription with its renewal and auto-renewal switch, a
payment while the server is down, an admin refund, ten parallel promo checkouts, referrals,
the new notices and plural forms (days, friends, payments) in English and Russian."""

import asyncio
from datetime import timedelta

import pytest
from aiogram.methods import (
    CreateInvoiceLink,
    EditMessageText,
    EditUserStarSubscription,
    RefundStarPayment,
    SendInvoice,
    SendMessage,
)
from aiogram.types import InlineKeyboardMarkup, User

from bot.admin_keyboards import plus_days
from bot.formats import fmt_date
from bot.money_texts import revenue
from bot.notices import notice_text
from bot.setup import build_i18n
from bot.shop_texts import day_count
from db.models import KeyState, Notice, Payment, PaymentState, Plan, PromoCode, VPNKey
from domain import audit
from domain.accounts import users
from domain.billing import promos
from domain.billing.revenue import Revenue, Takings
from domain.billing.upkeep import settle_billing
from domain.context import Context
from domain.keys import issuing
from domain.notices.outbox import iso
from tests.billing_fixtures import make_plan, payment_update
from tests.bot_fixtures import (
    ADMIN,
    ANN,
    BORIS,
    FIXED_NOW,
    INVOICE_LINK,
    BotHarness,
    buttons,
)


@pytest.fixture
async def shop(tg: BotHarness, server) -> BotHarness:
    for user in (ANN, BORIS, ADMIN):
        await tg.as_user(user).send("/start")
    return tg


def flat(markup: InlineKeyboardMarkup | None) -> list[tuple[str, str]]:
    return [button for row in buttons(markup) for button in row]


async def _buy_new(tg: BotHarness, user: User, plan_id: int, server_id: int) -> list:
    await tg.as_user(user).press(f"p:go:{plan_id}:0:{server_id}")
    return await tg.as_user(user).press(f"p:pay:{plan_id}:0:{server_id}")


async def test_a_subscription_renews_and_its_auto_renewal_is_switched_on_the_key_card(
    shop: BotHarness, server
) -> None:
    plan = await make_plan(recurring=True, name_en="Auto", name_ru="Авто")
    link, offer, _ = await _buy_new(shop, ANN, plan.id, server.id)
    assert isinstance(link, CreateInvoiceLink) and link.subscription_period == 2592000
    assert (link.currency, link.provider_token, link.prices[0].amount) == ("XTR", "", 100)
    assert isinstance(offer, SendMessage) and offer.text == (
        "<b>Auto</b>: ⭐ 100 every 30 days. Telegram renews it until you cancel it "
        "(on the key card). Tap the button to subscribe."
    )
    assert buttons(offer.reply_markup) == [
        [("💳 Subscribe: ⭐ 100 / 30 days", INVOICE_LINK + link.payload)]
    ]
    until = FIXED_NOW + timedelta(days=30)
    first = payment_update(10, ANN, link.payload, 100, "sub-1", recurring=True, until=until)
    (receipt,) = await shop.feed(first)
    assert receipt.text.endswith("🔁 Auto-renewal is on; you can cancel it on the key card.")
    key = await VPNKey.get(owner_id=ANN.id)

    card, _ = await shop.as_user(ANN).press(f"k:show:{key.id}")
    assert card.text.endswith("🔁 Auto-renewal: on, next charge on 31 January 2030, 12:00.")
    assert ("🔁 Cancel auto-renewal", f"k:renew_off:{key.id}") in flat(card.reply_markup)
    call, edit, _ = await shop.as_user(ANN).press(f"k:renew_off:{key.id}")
    assert isinstance(call, EditUserStarSubscription)
    assert (call.user_id, call.telegram_payment_charge_id, call.is_canceled) == (
        ANN.id,
        "sub-1",
        True,
    )
    assert isinstance(edit, EditMessageText)
    assert edit.text.endswith("🔁 Auto-renewal: off; paid until 31 January 2030, 12:00.")
    assert ("🔁 Resume auto-renewal", f"k:renew_on:{key.id}") in flat(edit.reply_markup)

    later = until + timedelta(days=30)
    renewal = payment_update(11, ANN, link.payload, 100, "sub-2", recurring=True, until=later)
    await shop.feed(renewal)
    assert (await VPNKey.get(id=key.id)).valid_until == FIXED_NOW + timedelta(days=60)


async def test_a_payment_while_the_server_is_down_is_applied_when_it_returns(
    shop: BotHarness, server, outline_server, bot_ctx: Context
) -> None:
    plan = await make_plan()
    invoice, _ = await _buy_new(shop, BORIS, plan.id, server.id)
    outline_server.emulator.faults.fail_next(1000, 503)
    (receipt,) = await shop.feed(payment_update(20, BORIS, invoice.payload, 100, "ch-down"))
    assert receipt.text == (
        "✅ Оплата получена: ⭐ 100 за «Месяц».\n\n"
        "VPN-сервер сейчас не отвечает. Ключ будет готов, как только сервер заработает, "
        "— мы вам напишем."
    )
    assert buttons(receipt.reply_markup) == [[("🔑 Мои ключи", "m:keys")]]
    outline_server.emulator.faults.rules.clear()
    await settle_billing(bot_ctx)
    key = await VPNKey.get(owner_id=BORIS.id, state=KeyState.LIVE)
    notice = await Notice.get(kind="payment_applied")
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        text = notice_text(notice.kind, notice.payload, FIXED_NOW)
        until = fmt_date(key.valid_until)
    assert text == f"✅ Ваш платёж ⭐ 100 за «Месяц» зачислен: «Месяц» действует до {until}."


async def test_an_admin_refunds_a_payment_from_the_users_card(
    shop: BotHarness, server, bot_ctx: Context
) -> None:
    plan = await make_plan()
    invoice, _ = await _buy_new(shop, ANN, plan.id, server.id)
    await shop.feed(payment_update(30, ANN, invoice.payload, 100, "ch-refund"))
    payment = await Payment.get()
    admin = shop.as_user(ADMIN)
    card, _ = await admin.press(f"au:{ANN.id}")
    assert f"💳 #{payment.id} " in card.text and "⭐ 100 Monthly — applied" in card.text
    refund = ("↩️ Refund #1", f"ap:refund:{payment.id}")
    assert refund in flat(card.reply_markup)
    ask, _ = await admin.press(f"ap:refund:{payment.id}")
    assert ask.text.startswith(f"Refund payment #{payment.id} (⭐ 100)?")
    call, done, _ = await admin.press(f"ap:refund_ok:{payment.id}")
    assert isinstance(call, RefundStarPayment)
    assert (call.user_id, call.telegram_payment_charge_id) == (ANN.id, "ch-refund")
    assert done.text == f"✅ Payment #{payment.id} refunded."
    assert (await Payment.get(id=payment.id)).state == PaymentState.REFUNDED
    key = await VPNKey.get(owner_id=ANN.id)
    assert key.valid_until == FIXED_NOW and not key.is_active
    revenue, _ = await admin.press("a:revenue")
    assert "Total: ⭐ 0\nRefunded: ⭐ 100" in revenue.text


async def test_ten_parallel_promo_checkouts_at_the_limit_get_exactly_the_limit(
    shop: BotHarness, server
) -> None:
    plan = await make_plan()
    await promos.create_promo("RUSH", free_days=10, max_uses=3, actor=audit.CLI)
    buyers = [User(id=500 + n, is_bot=False, first_name=f"B{n}") for n in range(10)]
    for user in buyers:
        await shop.as_user(user).send("/start")
        await shop.as_user(user).press(f"p:go:{plan.id}:0:{server.id}")
    before = len(shop.session.requests)
    await asyncio.gather(*(shop.as_user(u).send("rush") for u in buyers))
    calls = shop.session.requests[before:]
    invoices = [c for c in calls if isinstance(c, SendInvoice)]
    refused = [c for c in calls if isinstance(c, SendMessage) and "used up" in c.text]
    assert (len(invoices), len(refused)) == (3, 7)
    assert (await PromoCode.get(code="RUSH")).uses == 3


async def test_a_referral_earns_the_referrer_bonus_days_once(
    shop: BotHarness, server, bot_ctx: Context
) -> None:
    plan = await make_plan()
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=ANN.id, days=10, actor="t")
    *_, invite = await shop.as_user(ANN).send("/invite")
    code = (await users.get_user(ANN.id)).referral_code
    assert invite.text == (
        "<b>Invite friends</b>\n\nYour link:\n"
        f"https://t.me/vpnkeys_bot?start=ref_{code}\n\n"
        "When a friend you invited pays for the first time, your key gets 7 days.\n"
        "0 friends joined with your link"
    )
    friend = User(id=700, is_bot=False, first_name="F", language_code="ru")
    await shop.as_user(friend).send(f"/start ref_{code}")
    for n in (1, 2):
        invoice, _ = await _buy_new(shop, friend, plan.id, server.id)
        await shop.feed(payment_update(40 + n, friend, invoice.payload, 100, f"ch-ref-{n}"))
    assert (await VPNKey.get(id=key.id)).valid_until == FIXED_NOW + timedelta(days=17)
    edit, _ = await shop.as_user(ANN).press("m:invite")
    assert edit.text.endswith("1 friend joined with your link")
    notice = await Notice.get(kind="referral_bonus")
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("en"):
        assert notice_text(notice.kind, notice.payload, FIXED_NOW).startswith(
            "🎉 A friend you invited made their first payment: “Key 1” got 7 days"
        )


@pytest.mark.parametrize(
    ("n", "en", "ru"),
    [
        (1, "1 day", "1 день"),
        (2, "2 days", "2 дня"),
        (5, "5 days", "5 дней"),
        (11, "11 days", "11 дней"),
        (21, "21 days", "21 день"),
        (22, "22 days", "22 дня"),
    ],
)
def test_day_counts_use_the_right_plural_forms(n: int, en: str, ru: str) -> None:
    i18n = build_i18n()
    with i18n.context():
        with i18n.use_locale("en"):
            assert day_count(n) == en
        with i18n.use_locale("ru"):
            assert day_count(n) == ru


@pytest.mark.parametrize(
    ("n", "en", "ru"),
    [
        (1, ("1 payment", "+1 day"), ("1 платёж", "+1 день")),
        (2, ("2 payments", "+2 days"), ("2 платежа", "+2 дня")),
        (5, ("5 payments", "+5 days"), ("5 платежей", "+5 дней")),
        (11, ("11 payments", "+11 days"), ("11 платежей", "+11 дней")),
        (21, ("21 payments", "+21 days"), ("21 платёж", "+21 день")),
        (22, ("22 payments", "+22 days"), ("22 платежа", "+22 дня")),
    ],
)
def test_payment_counts_and_added_days_use_the_right_plural_forms(
    n: int, en: tuple[str, str], ru: tuple[str, str]
) -> None:
    plan = Plan(name_en="Monthly", name_ru="Месяц")
    figures = Revenue(
        days=[Takings(FIXED_NOW.date(), 100 * n, n)], plans=[Takings(plan, 100 * n, n)], refunded=0
    )
    i18n = build_i18n()
    for locale, (payments, days) in (("en", en), ("ru", ru)):
        with i18n.context(), i18n.use_locale(locale):
            lines = revenue(figures).split("\n")
            day_line, plan_line = lines[5], lines[-1]  # under "Last 14 days", "Per plan"
            assert day_line.endswith(f": ⭐ {100 * n} ({payments})"), day_line
            assert plan_line.endswith(f": ⭐ {100 * n} ({payments})"), plan_line
            assert plus_days(n) == days


@pytest.mark.parametrize(
    ("n", "ru"),
    [
        (1, "По вашей ссылке пришёл 1 друг"),
        (2, "По вашей ссылке пришли 2 друга"),
        (5, "По вашей ссылке пришли 5 друзей"),
        (11, "По вашей ссылке пришли 11 друзей"),
        (21, "По вашей ссылке пришёл 21 друг"),
        (22, "По вашей ссылке пришли 22 друга"),
    ],
)
def test_friend_counts_use_the_right_russian_forms(n: int, ru: str) -> None:
    from bot.shop_texts import invite
    from domain.billing.referrals import ReferralInfo

    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        text = invite(ReferralInfo(payload="ref_x", joined=n, rewarded=0, bonus_days=0), "l")
    assert text.endswith(ru)


def test_refund_notice_says_what_the_key_is_valid_until() -> None:
    payload = {
        "key_id": 7,
        "key_name": "home",
        "valid_until": iso(FIXED_NOW),
        "amount": 100,
        "plan_en": "Monthly",
        "plan_ru": "Месяц",
        "payment_id": 1,
    }
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        assert notice_text("payment_refunded", payload, FIXED_NOW) == (
            "↩️ Ваш платёж ⭐ 100 за «Месяц» возвращён. «home»: действует до 1 января 2030, 12:00."
        )
    with i18n.context(), i18n.use_locale("en"):
        assert notice_text("payment_refunded", payload | {"key_id": None}, FIXED_NOW).endswith(
            "was refunded. “home”: no key was issued."
        )


async def test_the_admin_sees_revenue_per_day_of_the_display_zone_and_per_plan(
    make_harness, server
) -> None:
    tg = make_harness(display_timezone="Europe/Moscow")  # UTC+3: 21:00 UTC is the next day
    for user in (ANN, ADMIN):
        await tg.as_user(user).send("/start")
    month = await make_plan()
    week = await make_plan(name_en="Week", name_ru="Неделя", days=7, price_stars=30)
    paid_at = {
        "ch-rev-0": FIXED_NOW - timedelta(hours=14),  # 31 Dec 22:00 UTC: 1 January in Moscow
        "ch-rev-1": FIXED_NOW - timedelta(hours=16),  # 31 Dec 20:00 UTC: 31 December there
        "ch-rev-2": FIXED_NOW,
    }
    for n, (charge, plan) in enumerate(zip(paid_at, (month, week, week), strict=True)):
        invoice, _ = await _buy_new(tg, ANN, plan.id, server.id)
        await tg.feed(payment_update(60 + n, ANN, invoice.payload, plan.price_stars, charge))
        await Payment.filter(telegram_payment_charge_id=charge).update(paid_at=paid_at[charge])
    shown, _ = await tg.as_user(ADMIN).press("a:revenue")
    assert shown.text == (
        "<b>Revenue</b>\nTotal: ⭐ 160\nRefunded: ⭐ 0\n\n<b>Last 14 days</b>\n"
        "1 January 2030: ⭐ 130 (2 payments)\n31 December 2029: ⭐ 30 (1 payment)\n\n"
        "<b>Per plan</b>\nMonthly: ⭐ 100 (1 payment)\nWeek: ⭐ 60 (2 payments)"
    )
