"""The automatic activity rules: expiry and quota cut a key, lifting them re-opens it."""

from datetime import datetime

from db.models import InactiveReason, VPNKey

AUTOMATIC = (InactiveReason.EXPIRED, InactiveReason.TRAFFIC)


def is_expired(key: VPNKey, now: datetime) -> bool:
    """Whether the key's validity has run out."""
    return key.valid_until is not None and key.valid_until <= now


def is_over_quota(key: VPNKey) -> bool:
    """Whether the key has used its whole traffic allowance."""
    return key.traffic_limit is not None and key.traffic_used >= key.traffic_limit


def settle(key: VPNKey, now: datetime) -> str | None:
    """Bring ``is_active``/``inactive_reason`` in line with expiry and quota.

    Returns the transition's action (``key.expired``, ``key.quota_reached``,
    ``key.reopened``) or ``None``. A key disabled by hand stays disabled.
    """
    if key.inactive_reason == InactiveReason.MANUAL:
        return None
    reason = (
        InactiveReason.EXPIRED
        if is_expired(key, now)
        else InactiveReason.TRAFFIC
        if is_over_quota(key)
        else None
    )
    if reason == key.inactive_reason:
        return None
    key.is_active = reason is None
    key.inactive_reason = reason
    if reason is None:
        return "key.reopened"
    return "key.expired" if reason == InactiveReason.EXPIRED else "key.quota_reached"
