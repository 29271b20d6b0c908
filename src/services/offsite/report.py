"""The OFFSITE section of `status` and the staleness of the off-machine copies (no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from src.config.settings import Settings
from src.services.offsite.copying import why_not_copied
from src.services.offsite.ledger import TO_SEND, VERIFIED, CopyRecord, Ledger
from src.services.offsite.targets import open_target


@dataclass
class TargetStatus:
    """One target as `status` shows it."""

    name: str
    where: str
    encrypted: bool
    last_verified: CopyRecord | None
    last_verified_age: timedelta | None  # since it was verified there
    last_made_age: timedelta | None  # since its backup was made
    copies: int
    bytes_held: int
    pending: int
    last_error: str | None
    last_error_at: str | None
    # the staleness rule (`stale_since`): None when a fresh daily copy is there, else the
    # newest verified daily copy's archive ("none" before any)
    stale: str | None = None


@dataclass
class OffsiteStatus:
    """Every target, and why nothing is copied when that is so."""

    targets: list[TargetStatus]
    not_copied: str | None
    identity_set: bool
    stale_hours: int


def offsite_status(settings: Settings, now: datetime) -> OffsiteStatus | None:
    """Return the OFFSITE section (None when no target is set)."""
    offsite = settings.offsite
    if not offsite.targets:
        return None
    ledger = Ledger(settings.history_path)
    targets = []
    for target in offsite.targets:
        verified = ledger.records(target.name, (VERIFIED,))
        newest = max(verified, key=lambda r: r.verified_at or "", default=None)
        age = (
            now - datetime.fromisoformat(newest.verified_at)
            if newest and newest.verified_at
            else None
        )
        problem = ledger.target_record(target.name)
        targets.append(
            TargetStatus(
                name=target.name,
                where=open_target(target, settings).describe(),
                encrypted=offsite.encrypted,
                last_verified=newest,
                last_verified_age=age,
                last_made_age=now - made_at(newest) if newest else None,
                copies=len(verified),
                bytes_held=sum(r.size_bytes or 0 for r in verified),
                pending=len(ledger.records(target.name, TO_SEND)),
                last_error=problem.last_error,
                last_error_at=problem.last_error_at,
                stale=stale_since(settings, verified, now),
            )
        )
    return OffsiteStatus(
        targets, why_not_copied(offsite), offsite.identity_file is not None, offsite.stale_hours
    )


def made_at(record: CopyRecord) -> datetime:
    """When the archive of a copy was made (its UTC sort key), else when it was verified."""
    try:
        return datetime.strptime(record.sort_key[:22], "%Y%m%dT%H%M%S.%f").replace(
            tzinfo=timezone.utc
        )
    except ValueError:
        return datetime.fromisoformat(record.verified_at or record.queued_at)


def stale_since(settings: Settings, verified: list[CopyRecord], now: datetime) -> str | None:
    """The one staleness rule, for `status`, `status --check` and the alarm alike.

    A target is stale when no daily backup made within OFFSITE_STALE_HOURS is verified on
    it: the age is the backup's (when it was made), not the copy's, so an old backup
    copied late is still old. Manual and other copies do not count. Returns None when
    fresh (or daily backups are not copied at all), else the newest verified daily copy's
    archive ("none" before any).
    """
    if "daily" not in settings.offsite.types:
        return None
    daily = [r for r in verified if r.backup_type == "daily"]
    newest = max(daily, key=made_at, default=None)
    if newest is None:
        return "none"
    if now - made_at(newest) > timedelta(hours=settings.offsite.stale_hours):
        return newest.archive
    return None


def stale_targets(settings: Settings, now: datetime) -> dict[str, str]:
    """Return the stale targets (`stale_since`), each with its newest verified daily copy.

    One incident lasts until a newer daily copy is verified, so an alarm is raised once
    per incident.
    """
    if not settings.offsite.targets:
        return {}
    ledger = Ledger(settings.history_path)
    stale = {}
    for target in settings.offsite.targets:
        since = stale_since(settings, ledger.records(target.name, (VERIFIED,)), now)
        if since is not None:
            stale[target.name] = since
    return stale
