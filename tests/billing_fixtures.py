"""Fixtures for selling tests: a plan on sale, a fake Telegram Stars gateway, and charges
as Telegram's ``successful_payment`` would report them."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiogram.types import Chat, Message, PreCheckoutQuery, SuccessfulPayment, Update, User

from db.models import Order, Plan
from domain import audit
from domain.billing import plans
from domain.billing.gateway import StarsRefused
from domain.billing.payments import Charge
from domain.billing.plans import PlanSpec
from domain.settings import GIB

_charges = itertools.count(1)


@dataclass
class FakeStars:
    """Records refunds and renewal switches; ``refuse`` makes Telegram say no."""

    refunds: list[tuple[int, str]] = field(default_factory=list)
    renewals: list[tuple[int, str, bool]] = field(default_factory=list)
    refuse: bool = False

    async def refund(self, *, user_id: int, charge_id: str) -> None:
        if self.refuse:
            raise StarsRefused("Telegram refused the refund: CHARGE_NOT_FOUND")
        self.refunds.append((user_id, charge_id))

    async def set_renewal(self, *, user_id: int, charge_id: str, cancelled: bool) -> None:
        if self.refuse:
            raise StarsRefused("Telegram refused: SUBSCRIPTION_NOT_FOUND")
        self.renewals.append((user_id, charge_id, cancelled))


@pytest.fixture
def stars() -> FakeStars:
    return FakeStars()


async def make_plan(**overrides: object) -> Plan:
    """A plan on sale: 30 days, 100 GB a month by default, 100 Stars."""
    values: dict[str, object] = {
        "name_en": "Monthly",
        "name_ru": "Месяц",
        "days": 30,
        "price_stars": 100,
        "traffic_limit": 100 * GIB,
    }
    return await plans.create_plan(PlanSpec(**(values | overrides)), actor=audit.CLI)  # type: ignore[arg-type]


@pytest.fixture
async def plan(server) -> Plan:
    """``Monthly``: 30 days, 100 GB, 100 Stars, on every server."""
    return await make_plan()


def charge_for(
    order: Order,
    *,
    charge_id: str | None = None,
    amount: int | None = None,
    currency: str = "XTR",
    recurring: bool = False,
    until: datetime | None = None,
) -> Charge:
    """The ``successful_payment`` Telegram sends for ``order`` (a fresh charge id by default)."""
    return Charge(
        payload=order.token,
        amount=order.price if amount is None else amount,
        currency=currency,
        charge_id=charge_id or f"stxCharge{next(_charges)}",
        provider_charge_id="",
        is_recurring=recurring,
        subscription_until=until,
    )


def pre_checkout_update(
    update_id: int, user: User, payload: str, amount: int, currency: str = "XTR"
) -> Update:
    """The ``pre_checkout_query`` Telegram sends when ``user`` presses Pay."""
    query = PreCheckoutQuery(
        id=f"pcq{update_id}",
        from_user=user,
        currency=currency,
        total_amount=amount,
        invoice_payload=payload,
    )
    return Update(update_id=update_id, pre_checkout_query=query)


def payment_update(
    update_id: int,
    user: User,
    payload: str,
    amount: int,
    charge_id: str,
    *,
    currency: str = "XTR",
    recurring: bool = False,
    until: datetime | None = None,
) -> Update:
    """The message with ``successful_payment`` Telegram sends once ``user`` is charged."""
    paid = SuccessfulPayment(
        currency=currency,
        total_amount=amount,
        invoice_payload=payload,
        telegram_payment_charge_id=charge_id,
        provider_payment_charge_id="",
        is_recurring=recurring or None,
        is_first_recurring=None,
        subscription_expiration_date=int(until.timestamp()) if until else None,
    )
    message = Message(
        message_id=update_id,
        date=datetime.now(UTC),
        chat=Chat(id=user.id, type="private"),
        from_user=user,
        successful_payment=paid,
    )
    return Update(update_id=update_id, message=message)
