"""Outgoing webhooks: key events POSTed as signed JSON, at least once, in order per key.

The body is the event with its outbox id (``id``, stable across retries, for receivers
to drop repeats); ``X-Signature: sha256=<hex>`` is the HMAC-SHA256 of the raw body under
``WEBHOOK_EVENTS_SECRET``. The URL is never logged: it may carry a credential.
"""

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field

import aiohttp

from db.models import Notice
from domain.context import Context
from domain.notices import attempts, outbox

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the one ``sign`` gives (constant-time; for receivers)."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


class WebhookFailed(Exception):
    """The receiver did not accept the event (non-2xx answer)."""


@dataclass
class WebhookSender:
    """Posts signed events to one URL over a pooled session."""

    url: str = field(repr=False)
    secret: bytes = field(repr=False)
    timeout: float = 10.0
    max_attempts: int = 12
    retry_base: float = 10.0
    retry_cap: float = 3600.0
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    async def post(self, event_id: int, kind: str, body: bytes) -> None:
        """POST one event; raises on a transport error or a non-2xx answer."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            "X-Webhook-Id": str(event_id),
            "X-Webhook-Event": kind,
        }
        async with self._session.post(self.url, data=body, headers=headers) as resp:
            if not 200 <= resp.status < 300:
                raise WebhookFailed(f"receiver answered HTTP {resp.status}")

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def body_of(notice: Notice) -> bytes:
    """The exact bytes posted (and signed) for one outbox row."""
    return json.dumps({"id": notice.id, **notice.payload}, separators=(",", ":")).encode()


async def deliver_webhooks(ctx: Context, sender: WebhookSender, *, window: int = 500) -> int:
    """Post due events oldest first; a key's later events wait while an earlier one retries."""
    now = ctx.now()
    rows = (
        await Notice.filter(channel=outbox.WEBHOOK, sent_at=None, failed_at=None)
        .order_by("id")
        .limit(window)
    )
    held: set[object] = set()
    sent = 0
    for notice in rows:
        group = notice.key_id if notice.key_id is not None else f"event {notice.id}"
        if group in held:
            continue
        if notice.next_attempt_at is not None and notice.next_attempt_at > now:
            held.add(group)
            continue
        try:
            await sender.post(notice.id, notice.kind, body_of(notice))
        except Exception as exc:  # every failure is retried with backoff
            held.add(group)
            await attempts.record_failure(
                notice,
                ctx.now(),
                exc,
                max_attempts=sender.max_attempts,
                base=sender.retry_base,
                cap=sender.retry_cap,
            )
            continue
        await attempts.mark_sent(notice, ctx.now())
        sent += 1
    return sent
