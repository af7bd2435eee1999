"""Money for the admin panel: Stars received per day and per plan (refunds left out).

Days are those of the operator's display time zone (``DISPLAY_TIMEZONE``), as the admin
reads every other date.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from db.models import Payment, PaymentState, Plan

COUNTED = (PaymentState.RECEIVED, PaymentState.APPLIED)


@dataclass(frozen=True, slots=True)
class Takings:
    """Stars and number of payments of one day or one plan."""

    label: date | Plan
    stars: int
    payments: int


@dataclass(frozen=True, slots=True)
class Revenue:
    """The last days, day by day (days without payments left out), and every plan ever."""

    days: list[Takings]
    plans: list[Takings]
    refunded: int

    @property
    def total(self) -> int:
        """Stars kept, over all time."""
        return sum(p.stars for p in self.plans)


def _takings(rows: list[tuple[object, int]]) -> list[tuple[object, int, int]]:
    stars: Counter[object] = Counter()
    count: Counter[object] = Counter()
    for label, amount in rows:
        stars[label] += amount
        count[label] += 1
    return [(label, stars[label], count[label]) for label in stars]


async def revenue(now: datetime, zone: tzinfo = UTC, days: int = 14) -> Revenue:
    """Takings of the last ``days`` days in ``zone`` and of each plan, newest day first."""
    today = now.astimezone(zone).date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), zone)
    recent = await Payment.filter(state__in=COUNTED, paid_at__gte=since).values_list(
        "paid_at", "amount"
    )
    by_day = _takings([(paid_at.astimezone(zone).date(), amount) for paid_at, amount in recent])
    by_plan = _takings(
        await Payment.filter(state__in=COUNTED).values_list("order__plan_id", "amount")
    )
    plans = {p.id: p for p in await Plan.filter(id__in=[row[0] for row in by_plan])}
    refunded = await Payment.filter(state=PaymentState.REFUNDED).values_list("amount", flat=True)
    return Revenue(
        days=sorted((Takings(*row) for row in by_day), key=lambda t: t.label, reverse=True),
        plans=sorted(
            (Takings(plans[row[0]], row[1], row[2]) for row in by_plan),
            key=lambda t: -t.stars,
        ),
        refunded=sum(refunded),
    )
