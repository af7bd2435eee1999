"""The expiry sweep: keys whose ``valid_until`` has passed are cut and marked ``expired``."""

import logging

from tortoise.expressions import Q

from db.models import InactiveReason, KeyState, VPNKey
from domain.concurrency import bounded
from domain.context import Context
from domain.errors import DomainError
from domain.keys.enforcement import enforce_rules
from domain.redact import describe

logger = logging.getLogger(__name__)


async def sweep_expired(ctx: Context) -> int:
    """Cut every live key past its expiry (server first); returns how many were cut.

    One indexed query (``state``, ``valid_until``) finds the candidates: active keys and
    keys cut for traffic (expiry outranks quota). A key whose server fails stays as it is
    and is picked up again by the next sweep.
    """
    key_ids = await (
        VPNKey.filter(state=KeyState.LIVE, valid_until__lte=ctx.now(), server__is_active=True)
        .filter(Q(is_active=True) | Q(inactive_reason=InactiveReason.TRAFFIC))
        .order_by("valid_until")
        .values_list("id", flat=True)
    )

    async def expire(key_id: int) -> bool:
        try:
            return await enforce_rules(ctx, key_id) == "key.expired"
        except DomainError as exc:
            logger.warning("expiry of key %s postponed: %s", key_id, describe(exc))
            return False

    expired = sum(await bounded(key_ids, expire))
    if expired:
        logger.info("expiry sweep: %d key(s) expired", expired)
    return expired
