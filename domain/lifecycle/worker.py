"""The lifecycle worker: periodic tasks in the app's process, run only by the leader.

``run_worker`` starts leader election; while this process leads it runs the expiry sweep
and reminders, the traffic sync, the reconciler and outbox delivery (Telegram notices when
a messenger is given, webhooks when configured). Every loop outlives its own errors.
"""

import asyncio
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from domain.billing.upkeep import settle_billing
from domain.context import Context
from domain.keys.expiry import sweep_expired
from domain.keys.reconcile import reconcile
from domain.lifecycle.leader import Leadership, leadership_for
from domain.notices import attempts, outbox
from domain.notices.delivery import DeliveryPolicy, deliver_notices
from domain.notices.messenger import Messenger
from domain.notices.ratelimit import RateLimiter
from domain.notices.reminders import send_reminders
from domain.notices.webhooks import WebhookSender, deliver_webhooks
from domain.operations.schedule import backup_if_due
from domain.redact import describe
from domain.servers.drain import run_requested_drains
from domain.servers.health import fail_over, watch_servers
from domain.settings import Settings
from domain.traffic.ledger import sync_traffic

logger = logging.getLogger(__name__)
# The reconciler repairs drift, which is rarely urgent at start-up.
RECONCILE_GRACE = 60.0
# Delivered and abandoned outbox rows are kept this long (broadcast progress, debugging).
OUTBOX_KEEP = timedelta(days=30)
# How often the leader looks whether a scheduled backup is due (it survives restarts).
BACKUP_CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Loop:
    """One periodic task: ``step`` every ``every`` seconds, first after ``delay``."""

    name: str
    every: float
    step: Callable[[], Awaitable[object]]
    delay: float = 0.0


def log_failure(what: str, exc: Exception) -> None:
    """Log an unexpected error: a redacted message, then where it happened (no values)."""
    logger.error("%s: %s", what, describe(exc))
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename}:{f.lineno} {f.name}" for f in reversed(frames))
    logger.debug("%s at %s", what, where)


async def repeat(loop: Loop) -> None:
    """Run ``loop.step`` forever; an error is logged (without secrets) and the loop goes on."""
    await asyncio.sleep(loop.delay)
    while True:
        started = time.monotonic()
        try:
            await loop.step()
        except Exception as exc:  # one failed round must not stop the worker
            log_failure(f"worker {loop.name}: round failed", exc)
        await asyncio.sleep(max(0.0, loop.every - (time.monotonic() - started)))


class Worker:
    """The worker's loops and the leadership they run under."""

    def __init__(
        self,
        ctx: Context,
        settings: Settings,
        messenger: Messenger | None = None,
        *,
        leadership: Leadership | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.messenger = messenger
        self.leadership = leadership or leadership_for(settings.database_url)
        self.leading = False
        self.limiter = RateLimiter(
            settings.telegram_rate_per_second, settings.telegram_chat_interval_seconds
        )
        self.policy = DeliveryPolicy(max_attempts=settings.notice_max_attempts)
        self.webhooks: WebhookSender | None = None
        secret = settings.webhook_events_secret
        if settings.webhook_events_url and secret is not None:
            self.webhooks = WebhookSender(
                settings.webhook_events_url,
                secret.get_secret_value().encode(),
                timeout=settings.webhook_events_timeout_seconds,
                max_attempts=settings.webhook_events_max_attempts,
            )

    def loops(self) -> list[Loop]:
        """The periodic tasks this configuration calls for."""
        s, ctx = self.settings, self.ctx
        loops = [
            Loop("expiry", s.expiry_check_seconds, self.expire_and_remind),
            Loop("traffic", s.traffic_sync_seconds, lambda: sync_traffic(ctx)),
            Loop("billing", s.expiry_check_seconds, lambda: settle_billing(ctx)),
            Loop(
                "reconcile",
                s.reconcile_seconds,
                self.reconcile_and_tidy,
                delay=min(s.reconcile_seconds, RECONCILE_GRACE),
            ),
        ]
        loops.append(Loop("health", s.health_check_seconds, self.watch_health))
        loops.append(Loop("drains", s.health_check_seconds, self.drain_servers))
        if self.messenger is not None:
            loops.append(Loop("notices", s.outbox_poll_seconds, self.drain_notices))
        if self.webhooks is not None:
            loops.append(Loop("webhooks", s.outbox_poll_seconds, self.drain_webhooks))
        if s.backup_dir is not None:
            every = min(BACKUP_CHECK_SECONDS, s.backup_every_hours * 3600)
            loops.append(Loop("backup", every, self.back_up))
        return loops

    async def back_up(self) -> None:
        """A scheduled backup into ``BACKUP_DIR`` when the newest one is old enough."""
        s = self.settings
        assert s.backup_dir is not None
        await backup_if_due(
            s.database_url,
            s.backup_dir,
            every=timedelta(hours=s.backup_every_hours),
            keep=s.backup_keep,
            now=self.ctx.now(),
        )

    async def expire_and_remind(self) -> None:
        """One expiry sweep, then the reminders now due."""
        await sweep_expired(self.ctx)
        await send_reminders(self.ctx)

    async def reconcile_and_tidy(self) -> None:
        """Repair drift between the database and the servers; drop old outbox rows."""
        await reconcile(self.ctx)
        await attempts.forget_finished(self.ctx.now() - OUTBOX_KEEP)

    async def watch_health(self) -> None:
        """Check every active server; alert on changes; fail over servers down too long."""
        admins = self.settings.admin_ids
        await watch_servers(self.ctx, admins)
        if self.settings.failover_minutes is not None:
            after = timedelta(minutes=self.settings.failover_minutes)
            await fail_over(self.ctx, admins, after)

    async def drain_servers(self) -> None:
        """Drain the servers admins asked to drain."""
        await run_requested_drains(self.ctx, self.settings.admin_ids)

    async def drain_notices(self) -> None:
        """Deliver Telegram notices until none is due."""
        assert self.messenger is not None
        while await deliver_notices(self.ctx, self.messenger, self.limiter, self.policy):
            pass

    async def drain_webhooks(self) -> None:
        """Post webhook events until none is due."""
        assert self.webhooks is not None
        while await deliver_webhooks(self.ctx, self.webhooks):
            pass

    async def lead(self) -> None:
        """Forever: wait to lead, run the loops while leading, stand by when it is lost."""
        retry = self.settings.leader_retry_seconds
        while True:
            if not await self._acquire():
                await asyncio.sleep(retry)
                continue
            logger.info("worker: this process leads the lifecycle worker")
            self.leading = True
            tasks = [asyncio.create_task(repeat(loop)) for loop in self.loops()]
            try:
                await self._until_lost(retry)
                logger.warning("worker: leadership lost; standing by")
            finally:
                self.leading = False
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.leadership.release()

    async def _acquire(self) -> bool:
        try:
            return await self.leadership.try_acquire()
        except Exception as exc:  # the election must outlive any error
            log_failure("worker: leader election failed", exc)
            return False

    async def _until_lost(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.leadership.still_held():
                    return
            except Exception as exc:  # unsure whether we still lead: stand down
                log_failure("worker: leadership check failed", exc)
                return


@asynccontextmanager
async def run_worker(
    ctx: Context, settings: Settings, messenger: Messenger | None = None
) -> AsyncIterator[Worker]:
    """Run the lifecycle worker for the duration of the ``async with`` block."""
    worker = Worker(ctx, settings, messenger)
    outbox.configure(webhooks=worker.webhooks is not None)
    task = asyncio.create_task(worker.lead(), name="lifecycle-worker")
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if worker.webhooks is not None:
            await worker.webhooks.close()
        outbox.configure(webhooks=False)
