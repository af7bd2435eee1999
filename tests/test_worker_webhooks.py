"""Outgoing webhooks to a receiver served by ``aiohttp_server``: signed, retried, at least
once, in order per key, never carrying an access URL."""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from db.models import Notice
from domain.context import Context
from domain.keys import changes, issuing
from domain.keys.expiry import sweep_expired
from domain.lifecycle.worker import run_worker
from domain.notices import outbox
from domain.notices.webhooks import SIGNATURE_HEADER, WebhookSender, deliver_webhooks, verify
from domain.settings import Settings
from domain.traffic.ledger import sync_traffic
from tests.worker_fixtures import ADMIN_ACTOR, FakeClock, eventually, new_key

SECRET = b"webhook-test-secret"


@dataclass
class Receiver:
    """Accepts events whose signature checks out; can be told to fail the next few."""

    url: str = ""
    fail_next: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    raw: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(SECRET, body, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503)
        self.raw.append(body)
        self.events.append(json.loads(body))
        return web.Response(status=204)

    def sequence(self, key_id: int) -> list[str]:
        """Event types first seen for one key, in arrival order (repeats dropped)."""
        seen: dict[int, str] = {}
        for event in self.events:
            if event["key"]["key_id"] == key_id:
                seen.setdefault(event["id"], event["event"])
        return list(seen.values())


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/vpn", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.url = str(server.make_url("/hooks/vpn"))
    return rec


async def test_events_are_signed_retried_and_arrive_in_order_per_key(
    ctx: Context, clock: FakeClock, owner, outline_server, receiver: Receiver, webhooks_enabled
) -> None:
    sender = WebhookSender(receiver.url, SECRET, retry_base=60, retry_cap=60)
    first = await new_key(ctx, days=1)
    second = await new_key(ctx, traffic_limit=100)
    refreshed = await issuing.refresh_key(ctx, key_id=first.id, server="alpha", actor=ADMIN_ACTOR)
    outline_server.emulator.add_traffic(second.remote_id, 500)
    clock.advance(minutes=5)
    await sync_traffic(ctx)
    clock.advance(days=2)
    await sweep_expired(ctx)
    await changes.delete_key(ctx, key_id=second.id, server="alpha", actor=ADMIN_ACTOR)
    receiver.fail_next = 2
    try:
        for _ in range(6):  # every minute: failures wait out their backoff, nothing is lost
            await deliver_webhooks(ctx, sender)
            clock.advance(minutes=1)
    finally:
        await sender.close()
    assert receiver.bad_signatures == 0
    assert receiver.sequence(first.id) == ["key.created"]
    assert receiver.sequence(refreshed.id) == ["key.refreshed", "key.expired"]
    assert receiver.sequence(second.id) == ["key.created", "key.quota_reached", "key.deleted"]
    assert not await Notice.filter(channel=outbox.WEBHOOK, sent_at=None).exists()
    retried = await Notice.filter(channel=outbox.WEBHOOK, attempts__gt=1).count()
    assert retried >= 1
    body = receiver.events[-1]
    assert body["actor"] == ADMIN_ACTOR and body["occurred_at"].endswith("Z")
    assert all(b"ss://" not in raw and b"access_url" not in raw for raw in receiver.raw)


async def test_a_receiver_that_keeps_failing_holds_that_keys_later_events(
    ctx: Context, clock: FakeClock, owner, receiver: Receiver, webhooks_enabled
) -> None:
    sender = WebhookSender(receiver.url, SECRET, max_attempts=2, retry_base=60)
    key = await new_key(ctx)
    await changes.delete_key(ctx, key_id=key.id, server="alpha", actor=ADMIN_ACTOR)
    receiver.fail_next = 1
    try:
        assert await deliver_webhooks(ctx, sender) == 0  # created failed; deleted must wait
        assert receiver.events == []
        clock.advance(minutes=2)
        assert await deliver_webhooks(ctx, sender) == 2
    finally:
        await sender.close()
    assert [e["event"] for e in receiver.events] == ["key.created", "key.deleted"]


async def test_the_running_worker_posts_events_when_configured(
    ctx: Context, owner, database_url: str, receiver: Receiver
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        webhook_events_url=receiver.url,
        webhook_events_secret=SECRET.decode(),
        outbox_poll_seconds=0.05,
        expiry_check_seconds=3600,
        traffic_sync_seconds=3600,
        reconcile_seconds=3600,
    )
    async with run_worker(ctx, settings) as worker:
        key = await new_key(ctx)

        async def created_seen() -> bool:
            return receiver.sequence(key.id) == ["key.created"]

        await eventually(created_seen)
        assert worker.leading
    new = await new_key(ctx)  # the worker is gone: no more webhooks are queued
    assert not await Notice.filter(key_id=new.id, channel=outbox.WEBHOOK).exists()


def test_webhooks_need_a_secret_to_sign_with() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_EVENTS_SECRET"):
        Settings(_env_file=None, webhook_events_url="http://127.0.0.1:9/hook")
