"""The expiry sweep: keys whose ``valid_until`` has passed are cut and marked ``expired``."""

import logging

from tortoise.expressions import Q

from db.models import InactiveReason, KeyState, VPNKey
from domain.context import Context
from domain.keys.enforcement import CURRENT, enforce_many

logger = logging.getLogger(__name__)


async def sweep_expired(ctx: Context) -> int:
    """Cut every live key past its expiry (server first); returns how many were cut.

    One indexed query (``state``, ``valid_until``) finds the candidates: active keys and
    keys cut for traffic (expiry outranks quota). A key whose server fails stays as it is
    and is picked up again by the next sweep. Keys are cut in batches
    (``enforcement.enforce_many``): servers first, then one transaction per batch.
    """
    key_ids = await (
        VPNKey.filter(state=KeyState.LIVE, valid_until__lte=ctx.now(), server__is_active=True)
        .filter(Q(is_active=True) | Q(inactive_reason=InactiveReason.TRAFFIC))
        .order_by("valid_until")
        .values_list("id", flat=True)
    )

    transitions = await enforce_many(ctx, dict.fromkeys(key_ids, CURRENT))
    expired = sum(action == "key.expired" for action in transitions.values())
    if expired:
        logger.info("expiry sweep: %d key(s) expired", expired)
    return expired
