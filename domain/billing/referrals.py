"""Referrals: each user's ``/start ref_<code>`` link; a referred user's first payment earns
the referrer bonus days on their key, once per referred user."""

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from db.models import KeyState, Payment, ReferralBonus, User, VPNKey
from domain import audit
from domain.accounts import users
from domain.accounts.users import REFERRAL_PREFIX
from domain.billing import receipts
from domain.context import Context
from domain.errors import Conflict, DomainError
from domain.keys import changes
from domain.redact import describe

logger = logging.getLogger(__name__)


class _BonusTaken(Conflict):
    """Another worker applied the bonus first."""


@dataclass(frozen=True, slots=True)
class ReferralInfo:
    """A user's referral link payload, how many users it brought and the bonus per friend."""

    payload: str
    joined: int
    rewarded: int
    bonus_days: int


async def _code_of(tg_id: int) -> str:
    user = await users.get_user(tg_id)
    for _ in range(5):
        if user.referral_code:
            return user.referral_code
        code = secrets.token_urlsafe(6)
        try:
            await User.filter(id=tg_id, referral_code__isnull=True).update(referral_code=code)
        except IntegrityError:  # that code belongs to someone else: draw another
            continue
        user = await users.get_user(tg_id)
    raise Conflict("could not assign a referral code; try again", user=tg_id)


async def referral_info(ctx: Context, tg_id: int) -> ReferralInfo:
    """The user's referral payload (created on first use) and their counts."""
    code = await _code_of(tg_id)
    return ReferralInfo(
        payload=REFERRAL_PREFIX + code,
        joined=await User.filter(referred_by_id=tg_id).count(),
        rewarded=await ReferralBonus.filter(referrer_id=tg_id).count(),
        bonus_days=ctx.referral_bonus_days,
    )


async def note_payment(ctx: Context, payment: Payment) -> None:
    """Owe the referrer a bonus on the referred user's first payment (inside its transaction)."""
    if ctx.referral_bonus_days <= 0:
        return
    user = await User.get(id=payment.user_id)
    if user.referred_by_id is None or user.referred_by_id == user.id:
        return
    bonus = ReferralBonus(
        referrer_id=user.referred_by_id,
        referred_id=user.id,
        payment_id=payment.id,
        days=ctx.referral_bonus_days,
    )
    await ReferralBonus.bulk_create([bonus], ignore_conflicts=True)  # once per referred user


async def _apply(ctx: Context, bonus: ReferralBonus, key: VPNKey) -> None:
    async def mark(extended: VPNKey) -> None:
        done = await ReferralBonus.filter(id=bonus.id, applied_at__isnull=True).update(
            applied_at=ctx.now(), key_id=extended.id
        )
        if not done:
            raise _BonusTaken(f"referral bonus {bonus.id} is applied already")
        await receipts.enqueue_bonus(bonus.id, bonus.referrer_id, extended, bonus.days)

    await changes.extend_key(
        ctx,
        key_id=key.id,
        server=None,
        days=bonus.days,
        actor=audit.WORKER,
        action="key.referral_bonus",
        also=mark,
    )


async def apply_bonuses(ctx: Context, **only: Any) -> int:
    """Add owed bonus days to each referrer's key that runs longest; a referrer without a
    key keeps the bonus until they have one. Returns how many were applied."""
    applied = 0
    for bonus in await ReferralBonus.filter(applied_at__isnull=True, **only).order_by("id"):
        key = (
            await VPNKey.filter(
                owner_id=bonus.referrer_id, state=KeyState.LIVE, valid_until__isnull=False
            )
            .order_by("-valid_until")
            .first()
        )
        if key is None:
            continue
        try:
            await _apply(ctx, bonus, key)
        except _BonusTaken:
            continue
        except DomainError as exc:
            logger.warning("referral bonus %s postponed: %s", bonus.id, describe(exc))
            continue
        applied += 1
    return applied
