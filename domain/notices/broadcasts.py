"""Admin broadcasts: one outbox notice per reachable user, and the progress of a broadcast."""

from typing import NamedTuple

from tortoise.transactions import in_transaction

from db.models import Notice, User
from domain import audit
from domain.errors import Invalid
from domain.notices import outbox

TEXT_MAX = 4096  # Telegram's limit for one message
_CHUNK = 1000


class BroadcastProgress(NamedTuple):
    """How far a broadcast got: messages delivered, given up on, and still queued."""

    delivered: int
    failed: int
    pending: int


def _prefix(broadcast_id: int) -> str:
    return f"bc:{broadcast_id}:"


async def enqueue_broadcast(text: str, *, actor: str) -> int:
    """Queue ``text`` for every user who has not blocked the bot; returns the broadcast id."""
    text = text.strip()
    if not 1 <= len(text) <= TEXT_MAX:
        raise Invalid(f"broadcast text must be 1-{TEXT_MAX} characters", field="text")
    async with in_transaction():
        reachable = User.filter(bot_blocked_at=None).order_by("id")
        user_ids = await reachable.values_list("id", flat=True)
        details = {"recipients": len(user_ids)}
        event = await audit.record(actor, "broadcast.queued", details=details)
        payload = {"text": text, "broadcast_id": event.id}
        for start in range(0, len(user_ids), _CHUNK):
            rows = [
                Notice(
                    channel=outbox.TELEGRAM,
                    kind=outbox.BROADCAST,
                    user_id=user_id,
                    payload=payload,
                    dedup_key=f"{_prefix(event.id)}{user_id}",
                )
                for user_id in user_ids[start : start + _CHUNK]
            ]
            await Notice.bulk_create(rows)
    return event.id


async def broadcast_progress(broadcast_id: int) -> BroadcastProgress:
    """``(delivered, failed, pending)`` counts of one broadcast's messages."""
    rows = Notice.filter(channel=outbox.TELEGRAM, dedup_key__startswith=_prefix(broadcast_id))
    delivered = await rows.filter(sent_at__isnull=False).count()
    failed = await rows.filter(failed_at__isnull=False).count()
    pending = await rows.filter(sent_at=None, failed_at=None).count()
    return BroadcastProgress(delivered, failed, pending)
