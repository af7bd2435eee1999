"""Texts of buying and paying: plans, the summary, invoices, receipts, refusals, referrals."""

from datetime import datetime

from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.formats import fmt_bytes, fmt_date
from bot.texts import esc, expiry, server_title
from db.models import Order, Plan, TrafficReset, VPNKey
from domain.billing.gateway import PaymentsUnavailable, StarsRefused
from domain.billing.orders import NotPayable, Offers, Quote
from domain.billing.payments import PaymentOutcome
from domain.billing.plans import plan_name
from domain.billing.promos import PromoRefused
from domain.billing.referrals import ReferralInfo
from domain.billing.subscriptions import KeyCard
from domain.errors import DomainError


def language() -> str:
    """The language of the current update."""
    return get_i18n().current_locale


def name_of(plan: Plan) -> str:
    """The plan's name in the current language, escaped."""
    return esc(plan_name(plan, language()))


def stars(amount: int) -> str:
    """A price in Telegram Stars."""
    return f"⭐ {amount}"


def day_count(days: int) -> str:
    """``1 day``, ``2 days``… in the current language."""
    return ngettext("{n} day", "{n} days", days).format(n=days)


def terms(plan: Plan, days: int | None = None) -> str:
    """Days, traffic and renewal of a plan (``days`` when a promo code adds some)."""
    if plan.traffic_limit is None:
        traffic = _("unlimited traffic")
    elif plan.traffic_reset == TrafficReset.MONTHLY:
        traffic = _("{size} a month").format(size=fmt_bytes(plan.traffic_limit))
    else:
        traffic = _("{size} of traffic").format(size=fmt_bytes(plan.traffic_limit))
    parts = [day_count(days or plan.days), traffic]
    if plan.recurring:
        parts.append(_("renews every 30 days"))
    return " · ".join(parts)


def plan_button(plan: Plan) -> str:
    """The button of one plan."""
    return f"{plan_name(plan, language())} · {stars(plan.price_stars)}"


def _lines(found: list[Plan]) -> list[str]:
    return [f"• <b>{name_of(p)}</b> — {terms(p)} — {stars(p.price_stars)}" for p in found]


def _cannot_extend(offers: Offers) -> str:
    """Why no plan on sale extends the key, and the plans a new key can be bought with."""
    name = esc(offers.key.name) if offers.key is not None else ""
    if offers.reason == "no_expiry":
        why = _("“{name}” has no end date, so there is nothing to extend.").format(name=name)
    else:
        why = _("No plan on sale can extend “{name}”: none of them covers its server.")
        why = why.format(name=name)
    new = _("You can buy a new key instead:")
    return "\n".join([why, "", new, "", *_lines(offers.new_key), "", _("Choose a plan:")])


def plans(offers: Offers) -> str:
    """The plans on sale (for one key, when extending it; or why none extends it)."""
    if offers.new_key:
        return _cannot_extend(offers)
    if not offers.plans:
        return _("No plans are on sale right now. Please come back later.")
    if offers.key is not None:
        header = _("<b>Extend “{name}”</b>").format(name=esc(offers.key.name))
    else:
        header = "<b>" + _("Buy or extend a key") + "</b>"
    return "\n".join([header, "", *_lines(offers.plans), "", _("Choose a plan:")])


def targets(plan: Plan) -> str:
    """The question between extending a key and a new one."""
    return _("<b>{plan}</b>: extend one of your keys, or get a new key?").format(
        plan=name_of(plan)
    )


def servers(plan: Plan) -> str:
    """The server choice for a new key."""
    return _("<b>{plan}</b>: choose the server of your new key.").format(plan=name_of(plan))


def no_server() -> str:
    """No server can take a new key of this plan."""
    return _("No server is available for this plan right now. Please try again later.")


def summary(quote: Quote, now: datetime) -> str:
    """What the user is about to pay for, with the promo code hint."""
    plan = quote.plan
    if quote.key is not None:
        target = _("Extends “{name}” ({expiry}).").format(
            name=esc(quote.key.name), expiry=expiry(quote.key, now)
        )
    else:
        server = server_title(quote.server) if quote.server else ""
        target = _("A new key on {server}.").format(server=esc(server))
    return "\n".join(
        (
            f"<b>{name_of(plan)}</b> — {stars(plan.price_stars)}",
            terms(plan),
            target,
            "",
            _("Have a promo code? Send it now, or tap “Pay”."),
        )
    )


def invoice_description(order: Order) -> str:
    """The invoice's description (Telegram allows 255 characters)."""
    # An order fresh from the checkout holds its key or its server object.
    if order.key_id is not None:
        target = _("extends “{name}”").format(name=order.key.name)
    else:
        target = _("a new key on {server}").format(server=server_title(order.server))
    return f"{terms(order.plan, order.days)} · {target}"[:255]


def promo_applied(order: Order) -> str:
    """What the promo code entered changed."""
    return "🎟 " + _("Promo code applied: {price} instead of {old}, {days}.").format(
        price=stars(order.price), old=stars(order.plan_price), days=day_count(order.days)
    )


def subscription_offer(order: Order) -> str:
    """The message carrying a recurring plan's subscription link."""
    return _(
        "<b>{plan}</b>: {price} every 30 days. Telegram renews it until you cancel it "
        "(on the key card). Tap the button to subscribe."
    ).format(plan=name_of(order.plan), price=stars(order.price))


def receipt(outcome: PaymentOutcome, now: datetime) -> str:
    """The answer to a successful payment (applied, or waiting for the server)."""
    paid = _("✅ Payment received: {price} for “{plan}”.").format(
        price=stars(outcome.payment.amount), plan=name_of(outcome.plan)
    )
    if outcome.key is None:
        wait = _(
            "The VPN server is not answering right now. Your key will be ready as soon as it "
            "is back, and we will message you."
        )
        return f"{paid}\n\n{wait}"
    key = _("Key “{name}”: {expiry}.").format(
        name=esc(outcome.key.name), expiry=expiry(outcome.key, now)
    )
    lines = [paid, key]
    if outcome.plan.recurring:
        lines.append(_("🔁 Auto-renewal is on; you can cancel it on the key card."))
    return "\n".join(lines)


def renewal(card: KeyCard) -> str:
    """The subscription line of a key card (empty without a subscription)."""
    if card.renewal is None or card.renewal.subscription_until is None:
        return ""
    until = fmt_date(card.renewal.subscription_until)
    if card.renews:
        return "🔁 " + _("Auto-renewal: on, next charge on {date}.").format(date=until)
    return "🔁 " + _("Auto-renewal: off; paid until {date}.").format(date=until)


def cannot_pay() -> str:
    """Why an invoice cannot be paid, when nothing more precise is known."""
    return _("This order cannot be paid right now. Start again with /buy.")


def invite(info: ReferralInfo, link: str) -> str:
    """The user's referral link and how many friends it brought."""
    lines = ["<b>" + _("Invite friends") + "</b>", "", _("Your link:"), esc(link), ""]
    if info.bonus_days:
        lines.append(
            _("When a friend you invited pays for the first time, your key gets {days}.").format(
                days=day_count(info.bonus_days)
            )
        )
    joined = ngettext(
        "{n} friend joined with your link", "{n} friends joined with your link", info.joined
    )
    lines.append(joined.format(n=info.joined))
    return "\n".join(lines)


_NOT_PAYABLE = {
    "unknown": lambda: _("This invoice does not belong to any order. Start again with /buy."),
    "not_yours": lambda: _("This invoice belongs to someone else. Start again with /buy."),
    "amount": lambda: _("The amount does not match the order. Start again with /buy."),
    "paid": lambda: _("This order is paid already."),
    "expired": lambda: _("This invoice has expired. Start again with /buy."),
    "plan_retired": lambda: _("This plan is no longer on sale. Choose another one with /buy."),
    "price_changed": lambda: _("The price of this plan has changed. Start again with /buy."),
    "key_deleted": lambda: _("The key of this order was deleted. Start again with /buy."),
    "server": lambda: _("The server of this order is not available. Start again with /buy."),
}
_PROMO = {
    "unknown": lambda: _("There is no such promo code. Check it, or tap “Pay”."),
    "expired": lambda: _("This promo code has expired. Try another one, or tap “Pay”."),
    "used_up": lambda: _("This promo code has been used up. Try another one, or tap “Pay”."),
    "used": lambda: _("You have used this promo code already. Try another one, or tap “Pay”."),
}


def billing_error(exc: DomainError) -> str | None:
    """A translated sentence for a checkout or payment error (``None``: not one of them)."""
    reason = str(exc.params.get("reason", ""))
    if isinstance(exc, NotPayable):
        return _NOT_PAYABLE.get(reason, _NOT_PAYABLE["unknown"])()
    if isinstance(exc, PromoRefused):
        return _PROMO.get(reason, _PROMO["unknown"])()
    if isinstance(exc, PaymentsUnavailable):
        return _("Payments are not available right now.")
    if isinstance(exc, StarsRefused):
        return _("Telegram did not accept the request. Nothing was changed — try again later.")
    return None


def opened(key: VPNKey) -> str:
    """The button to a key."""
    return "🔑 " + _("Open “{name}”").format(name=key.name)
