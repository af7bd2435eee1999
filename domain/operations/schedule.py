"""Where backups go, scheduled backups (``BACKUP_DIR``, ``BACKUP_EVERY_HOURS``) and pruning."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.operations.backup import write_backup

logger = logging.getLogger(__name__)
PATTERN = "vpnkeys-*.jsonl.gz"


def backup_name(now: datetime) -> str:
    """The file name of a backup taken at ``now`` (sorts by time)."""
    return f"vpnkeys-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.jsonl.gz"


def backup_target(path: Path | None, folder: Path, now: datetime) -> Path:
    """``path`` itself, or a timestamped file in ``path`` (a folder) or in ``folder``."""
    if path is None:
        path = folder
    if path.is_dir() or path.suffix == "" or str(path).endswith("/"):
        path.mkdir(parents=True, exist_ok=True)
        return path / backup_name(now)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def backups_in(folder: Path) -> list[Path]:
    """The scheduled backups in ``folder``, oldest first."""
    return sorted(folder.glob(PATTERN)) if folder.is_dir() else []


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    old = backups_in(folder)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _is_due(folder: Path, every: timedelta, now: datetime) -> bool:
    existing = backups_in(folder)
    if not existing:
        return True
    newest = datetime.fromtimestamp(existing[-1].stat().st_mtime, UTC)
    return now - newest >= every


async def backup_if_due(
    database_url: str, folder: Path, *, every: timedelta, keep: int, now: datetime
) -> Path | None:
    """Back up into ``folder`` when its newest backup is ``every`` old (or there is none)."""
    if not _is_due(folder, every, now):
        return None
    target = backup_target(folder, folder, now)
    counts = await write_backup(database_url, target, now)
    removed = prune(folder, keep)
    logger.info(
        "backup: %s written (%d rows), %d old backup(s) removed",
        target.name,
        sum(counts.values()),
        len(removed),
    )
    return target
