"""Retention: decide (purely) which backups expire, then delete only those."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

logger = logging.getLogger(__name__)


class Ranked(Protocol):
    """What choosing the expired copies needs to know of one (a local or an off-machine one)."""

    @property
    def created_at_key(self) -> str:
        """A key that sorts backups oldest to newest."""

    @property
    def verified(self) -> bool | None:
        """True verified, False failed verification, None not checked."""

    @property
    def degraded(self) -> bool:
        """An emergency archive of a database that failed its checks."""


class Retainable(Ranked, Protocol):
    """A local backup: ranked, and a file to delete."""

    @property
    def path(self) -> Path:
        """The archive."""


T = TypeVar("T", bound=Ranked)


def select_expired(
    backups: Sequence[T], keep: int, period: Callable[[T], Hashable] | None = None
) -> list[T]:
    """Return the backups of one type that retention deletes, oldest first.

    Without `period` the newest `keep` verified backups stay. With it (the day of a daily
    backup, the week of a weekly one), the newest verified backup of each of the last
    `keep` periods that have one stays: seven runs in one afternoon never evict a week.
    Archives that failed verification, or were never verified here (copied in by hand),
    never count and are never deleted here (an operator looks at them). Degraded
    emergency archives are kept apart: the newest `keep` of them stay. Archives kept with
    `backup keep` are left out by the callers before they ask: they neither count nor go.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the newest verified backup always stays")
    newest_first = sorted(backups, key=lambda b: b.created_at_key, reverse=True)
    good = [b for b in newest_first if b.verified is True and not b.degraded]
    degraded = [b for b in newest_first if b.verified is True and b.degraded]
    kept = good[:keep] if period is None else _newest_per_period(good, keep, period)
    expired = [b for b in good if b not in kept] + degraded[keep:]
    return sorted(expired, key=lambda b: b.created_at_key)


def _newest_per_period(
    newest_first: list[T], keep: int, period: Callable[[T], Hashable]
) -> list[T]:
    """The newest backup of each of the `keep` latest periods that have one."""
    kept: list[T] = []
    seen: set[Hashable] = set()
    for backup in newest_first:
        key = period(backup)
        if key in seen:
            continue
        if len(seen) == keep:
            break
        seen.add(key)
        kept.append(backup)
    return kept


def prune(expired: Sequence[Retainable]) -> list[Path]:
    """Delete the archives `select_expired` chose; return the paths deleted."""
    deleted = []
    for backup in expired:
        try:
            backup.path.unlink()
        except FileNotFoundError:
            continue
        except OSError:  # the backup itself succeeded; say so and go on
            logger.exception("retention: cannot delete %s", backup.path)
            continue
        logger.info("retention: deleted %s", backup.path.name)
        deleted.append(backup.path)
    return deleted
