"""Money in the admin panel: revenue per day and per plan, a user's payments, refunds."""

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.formats import fmt_date, fmt_day
from bot.shop_texts import name_of, stars
from db.models import Payment, PaymentState
from domain.billing.revenue import Revenue, Takings

STATES = {
    PaymentState.RECEIVED: lambda: _("waiting for the server"),
    PaymentState.APPLIED: lambda: _("applied"),
    PaymentState.REFUNDING: lambda: _("refunded, key being shortened"),
    PaymentState.REFUNDED: lambda: _("refunded"),
}


def _count(takings: Takings) -> str:
    return ngettext("{n} payment", "{n} payments", takings.payments).format(n=takings.payments)


def revenue(figures: Revenue) -> str:
    """Stars per day (recent days) and per plan, refunds apart."""
    lines = ["<b>" + _("Revenue") + "</b>", _("Total: {stars}").format(stars=stars(figures.total))]
    lines.append(_("Refunded: {stars}").format(stars=stars(figures.refunded)))
    lines += ["", "<b>" + _("Last 14 days") + "</b>"]
    lines += [f"{fmt_day(t.label)}: {stars(t.stars)} ({_count(t)})" for t in figures.days]  # type: ignore[arg-type]
    if not figures.days:
        lines.append(_("No payments."))
    lines += ["", "<b>" + _("Per plan") + "</b>"]
    lines += [f"{name_of(t.label)}: {stars(t.stars)} ({_count(t)})" for t in figures.plans]  # type: ignore[arg-type]
    if not figures.plans:
        lines.append(_("No payments."))
    return "\n".join(lines)


def payment_line(payment: Payment) -> str:
    """One payment on a user's card: id, date, amount, plan and state."""
    state = STATES[payment.state]()
    recurring = " 🔁" if payment.is_recurring else ""
    return (
        f"💳 #{payment.id} {fmt_date(payment.paid_at)} {stars(payment.amount)} "
        f"{name_of(payment.order.plan)}{recurring} — {state}"
    )


def payments(found: list[Payment]) -> list[str]:
    """The payments block of a user's card (nothing when there are none)."""
    if not found:
        return []
    return ["", "<b>" + _("Payments") + "</b>", *(payment_line(p) for p in found)]


def refund_confirm(payment: Payment) -> str:
    """The question before a refund."""
    return _(
        "Refund payment #{id} ({price})? The Stars go back to the user and the time it "
        "bought is taken off the key."
    ).format(id=payment.id, price=stars(payment.amount))
