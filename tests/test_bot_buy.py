"""Buying in the bot through the production dispatcher, asserting on the exact Bot API calls:
/buy, a new key, extending from a notice's button, the invoice and its pre-checkout, the
receipt, a repeated payment, refused invoices and promo codes, and throttled pay buttons."""

from datetime import timedelta

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    EditMessageText,
    SendInvoice,
    SendMessage,
)

from db.models import Order, Payment, PromoCode, VPNKey
from domain import audit
from domain.billing import plans, promos
from domain.context import Context
from domain.keys import issuing
from domain.keys.enforcement import CURRENT, enforce_many
from tests.billing_fixtures import make_plan, payment_update, pre_checkout_update
from tests.bot_fixtures import ANN, BORIS, FIXED_NOW, BotHarness, buttons


@pytest.fixture
async def shop(tg: BotHarness, server) -> BotHarness:
    """Ann and Boris registered; nothing on sale yet."""
    await tg.as_user(ANN).send("/start")
    await tg.as_user(BORIS).send("/start")
    return tg


async def _invoice(tg: BotHarness, user, plan_id: int, target: str) -> SendInvoice:
    """Press the plan, then Pay, for ``target`` (``key:<id>`` or ``server:<id>``)."""
    kind, _, ident = target.partition(":")
    key_id, server_id = (ident, "0") if kind == "key" else ("0", ident)
    await tg.as_user(user).press(f"p:go:{plan_id}:{key_id}:{server_id}")
    calls = await tg.as_user(user).press(f"p:pay:{plan_id}:{key_id}:{server_id}")
    (invoice,) = [c for c in calls if isinstance(c, SendInvoice)]
    return invoice


async def test_buy_says_so_when_nothing_is_on_sale(shop: BotHarness) -> None:
    (call,) = await shop.as_user(ANN).send("/buy")
    assert isinstance(call, SendMessage)
    assert call.text == "No plans are on sale right now. Please come back later."
    assert buttons(call.reply_markup) == [[("« Back", "m:home")]]
    (ru,) = await shop.as_user(BORIS).send("/buy")
    assert ru.text == "Сейчас нет тарифов в продаже. Загляните позже."


async def test_buying_a_new_key_from_the_menu_to_the_receipt(
    shop: BotHarness, server, outline_server
) -> None:
    plan = await make_plan()
    await make_plan(name_en="Retired", name_ru="Старый", price_stars=5)
    await plans.retire_plan(plan.id + 1, actor="cli")
    ann = shop.as_user(ANN)
    edit, _ = await ann.press("m:buy", message_id=3)
    assert isinstance(edit, EditMessageText) and edit.text == (
        "<b>Buy or extend a key</b>\n\n"
        "• <b>Monthly</b> — 30 days · 100 GB of traffic — ⭐ 100\n\nChoose a plan:"
    )
    assert buttons(edit.reply_markup) == [
        [("Monthly · ⭐ 100", f"p:plan:{plan.id}:0:0")],
        [("« Back", "m:home")],
    ]
    summary, _ = await ann.press(f"p:plan:{plan.id}:0:0", message_id=3)  # one server: no choice
    assert summary.text == (
        "<b>Monthly</b> — ⭐ 100\n30 days · 100 GB of traffic\nA new key on alpha.\n\n"
        "Have a promo code? Send it now, or tap “Pay”."
    )
    pay = f"p:pay:{plan.id}:0:{server.id}"
    assert buttons(summary.reply_markup) == [
        [("💳 Pay ⭐ 100", pay)],
        [("« Back", "p:plans:0:0:0")],
    ]
    invoice, answer = await ann.press(pay)
    assert isinstance(invoice, SendInvoice) and isinstance(answer, AnswerCallbackQuery)
    assert (invoice.chat_id, invoice.title, invoice.currency) == (ANN.id, "Monthly", "XTR")
    assert invoice.description == "30 days · 100 GB of traffic · a new key on alpha"
    assert [(p.label, p.amount) for p in invoice.prices] == [("Monthly", 100)]
    assert invoice.provider_token == ""
    order = await Order.get(token=invoice.payload)
    assert (order.user_id, order.price, order.server_id) == (ANN.id, 100, server.id)

    (ok,) = await shop.feed(pre_checkout_update(50, ANN, invoice.payload, 100))
    assert isinstance(ok, AnswerPreCheckoutQuery) and ok.ok and ok.error_message is None
    (receipt,) = await shop.feed(payment_update(51, ANN, invoice.payload, 100, "ch-new"))
    key = await VPNKey.get(owner_id=ANN.id)
    assert isinstance(receipt, SendMessage) and receipt.text == (
        "✅ Payment received: ⭐ 100 for “Monthly”.\n"
        "Key “Monthly”: until 31 January 2030, 12:00 (30 days left)."
    )
    assert buttons(receipt.reply_markup) == [[("🔑 Open “Monthly”", f"k:show:{key.id}")]]
    assert key.remote_id in outline_server.emulator.keys


async def test_extending_a_key_from_its_reminder_and_a_repeated_payment_extends_once(
    shop: BotHarness, bot_ctx: Context
) -> None:
    plan = await make_plan()
    key = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=ANN.id, name="home", days=2, actor="t"
    )
    ann = shop.as_user(ANN)
    edit, _ = await ann.press(f"p:plans:0:{key.id}:0")  # the "Extend" button of the notice
    assert edit.text.startswith("<b>Extend “home”</b>\n\n• <b>Monthly</b>")
    assert buttons(edit.reply_markup) == [
        [("Monthly · ⭐ 100", f"p:plan:{plan.id}:{key.id}:0")],
        [("« Back", f"k:show:{key.id}")],
    ]
    summary, _ = await ann.press(f"p:plan:{plan.id}:{key.id}:0")
    assert "Extends “home” (until 3 January 2030, 12:00 (2 days left))." in summary.text
    invoice = await _invoice(shop, ANN, plan.id, f"key:{key.id}")
    assert invoice.description == "30 days · 100 GB of traffic · extends “home”"
    await shop.feed(pre_checkout_update(60, ANN, invoice.payload, 100))
    update = payment_update(61, ANN, invoice.payload, 100, "ch-ext")
    (first,) = await shop.feed(update)
    (again,) = await shop.feed(update)  # Telegram delivers the same update again
    assert (
        first.text
        == again.text
        == (
            "✅ Payment received: ⭐ 100 for “Monthly”.\n"
            "Key “home”: until 2 February 2030, 12:00 (32 days left)."
        )
    )
    assert (await VPNKey.get(id=key.id)).valid_until == FIXED_NOW + timedelta(days=32)
    assert await Payment.all().count() == 1


async def test_an_expired_key_reopens_when_paid(
    shop: BotHarness, bot_ctx: Context, outline_server
) -> None:
    plan = await make_plan(traffic_limit=None)
    key = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=ANN.id, name="old", days=1, actor="t"
    )
    await VPNKey.filter(id=key.id).update(valid_until=FIXED_NOW - timedelta(days=1))
    assert await enforce_many(bot_ctx, {key.id: CURRENT}) == {key.id: "key.expired"}
    invoice = await _invoice(shop, ANN, plan.id, f"key:{key.id}")
    await shop.feed(payment_update(70, ANN, invoice.payload, 100, "ch-reopen"))
    fresh = await VPNKey.get(id=key.id)
    assert fresh.is_active and fresh.valid_until == FIXED_NOW + timedelta(days=30)
    assert outline_server.emulator.keys[key.remote_id].limit is None


async def test_pre_checkout_is_refused_for_a_retired_plan_or_a_changed_price(
    shop: BotHarness, server
) -> None:
    plan = await make_plan()
    invoice = await _invoice(shop, BORIS, plan.id, f"server:{server.id}")
    await plans.update_plan(plan.id, {"price_stars": 120}, actor="cli")
    (changed,) = await shop.feed(pre_checkout_update(80, BORIS, invoice.payload, 100))
    assert isinstance(changed, AnswerPreCheckoutQuery) and not changed.ok
    assert changed.error_message == "Цена тарифа изменилась. Начните заново с /buy."
    await plans.retire_plan(plan.id, actor="cli")
    (retired,) = await shop.feed(pre_checkout_update(81, ANN, invoice.payload, 100))
    assert not retired.ok
    assert retired.error_message == "This invoice belongs to someone else. Start again with /buy."
    (own,) = await shop.feed(pre_checkout_update(82, BORIS, invoice.payload, 100))
    assert own.error_message == "Этот тариф больше не продаётся. Выберите другой через /buy."


@pytest.mark.parametrize(
    ("payload", "amount", "currency", "text"),
    [
        (
            "forged",
            100,
            "XTR",
            "This invoice does not belong to any order. Start again with /buy.",
        ),
        (None, 99, "XTR", "The amount does not match the order. Start again with /buy."),
        (None, 100, "USD", "The amount does not match the order. Start again with /buy."),
    ],
)
async def test_a_payment_that_matches_no_order_is_answered_and_changes_nothing(
    shop: BotHarness, server, payload, amount, currency, text
) -> None:
    plan = await make_plan()
    invoice = await _invoice(shop, ANN, plan.id, f"server:{server.id}")
    (refused,) = await shop.feed(
        pre_checkout_update(90, ANN, payload or invoice.payload, amount, currency)
    )
    assert not refused.ok and refused.error_message == text
    update = payment_update(
        91, ANN, payload or invoice.payload, amount, "ch-bad", currency=currency
    )
    (reply,) = await shop.feed(update)
    assert isinstance(reply, SendMessage) and reply.text == text
    assert not await Payment.exists() and not await VPNKey.exists()


async def test_a_promo_code_typed_at_the_summary_lowers_the_invoice(
    shop: BotHarness, server
) -> None:
    plan = await make_plan()
    await promos.create_promo("SPRING", percent_off=20, actor=audit.CLI)
    await promos.create_promo("GONE", percent_off=20, valid_until=FIXED_NOW, actor=audit.CLI)
    await promos.create_promo("FULL", percent_off=20, max_uses=1, actor=audit.CLI)
    await PromoCode.filter(code="FULL").update(uses=1)
    ann = shop.as_user(ANN)
    await ann.press(f"p:go:{plan.id}:0:{server.id}")
    for code, text in (
        ("nope", "There is no such promo code. Check it, or tap “Pay”."),
        ("gone", "This promo code has expired. Try another one, or tap “Pay”."),
        ("full", "This promo code has been used up. Try another one, or tap “Pay”."),
    ):
        (reply,) = await ann.send(code)
        assert isinstance(reply, SendMessage) and reply.text == text
    assert not await Order.exists()
    note, invoice = await ann.send("spring")
    assert note.text == "🎟 Promo code applied: ⭐ 80 instead of ⭐ 100, 30 days."
    assert isinstance(invoice, SendInvoice) and invoice.prices[0].amount == 80
    after = await ann.send("spring")  # the checkout is over: no second order
    assert not [c for c in after if isinstance(c, SendInvoice)]
    assert await Order.all().count() == 1


async def test_pay_buttons_are_throttled(make_harness, server) -> None:
    tg = make_harness(throttle_seconds=5.0)
    await tg.as_user(ANN).send("/start")
    plan = await make_plan()
    pay = f"p:pay:{plan.id}:0:{server.id}"
    (invoice, _) = await tg.as_user(ANN).press(pay)
    (alert,) = await tg.as_user(ANN).press(pay)
    assert isinstance(invoice, SendInvoice)
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert await Order.all().count() == 1
