"""One verdict for monitoring (`status --check`): OK, WARNING or CRITICAL, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from src.config.settings import Settings
from src.services import catalog
from src.services.scheduler_state import stale_warnings
from src.services.status_service import SystemStatus

OK, WARNING, CRITICAL = 0, 1, 2  # the Nagios plugin convention (and its exit codes)
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}


@dataclass
class Health:
    """The worst level found and every reason for it."""

    level: int = OK
    reasons: list[str] = field(default_factory=list)

    def add(self, level: int, reason: str) -> None:
        """Note a finding; the level is the worst one noted."""
        self.level = max(self.level, level)
        self.reasons.append(reason)

    def line(self) -> str:
        """One line, as monitoring plugins print it."""
        reasons = self.reasons or ["the database is fine and the backups are fresh"]
        return f"{NAMES[self.level]}: {'; '.join(reasons)}"


def judge(settings: Settings, status: SystemStatus, now: datetime) -> Health:
    """Judge a status: CRITICAL when the data or every backup is at risk, WARNING when late."""
    health = Health()
    db = status.database
    if not db.exists:
        health.add(CRITICAL, f"the database {db.path} is missing")
    elif db.hot_journal:
        health.add(WARNING, "a killed write left a hot journal (the next backup rolls it back)")
    elif db.integrity != "ok":
        health.add(CRITICAL, f"the database fails its check: {db.integrity[:200]}")
    if catalog.latest(settings) is None:
        health.add(CRITICAL, "no verified backup")
    else:
        for warning in stale_warnings(settings, now):
            health.add(WARNING, warning)
    if status.scheduler.paused:
        health.add(WARNING, "the scheduler is paused")
    if status.scheduler.hanging:
        health.add(WARNING, "the scheduler does not respond")
    _offsite(status, health)
    _replication(status, health)
    return health


def _replication(status: SystemStatus, health: Health) -> None:
    """Litestream down, the replica unreadable or behind: a warning (the backups go on)."""
    replica = status.replication
    if replica is None:
        return
    if not replica.running:
        health.add(WARNING, "continuous replication (Litestream) is not running")
    if replica.error:
        health.add(WARNING, f"replica: {replica.error[:160]}")
    if replica.behind and replica.lag is not None:
        health.add(WARNING, f"the replica is {replica.lag.total_seconds():.0f} s behind")


def _offsite(status: SystemStatus, health: Health) -> None:
    offsite = status.offsite
    if offsite is None:
        return
    if offsite.not_copied:
        health.add(WARNING, "nothing is copied off the machine (OFFSITE_ENCRYPT_TO is not set)")
        return
    for target in offsite.targets:
        if target.pending:
            health.add(WARNING, f"{target.pending} copy(ies) pending for {target.name}")
        if target.last_error:
            health.add(WARNING, f"{target.name}: {target.last_error[:160]}")
        if target.stale == "none":  # the one rule (report.stale_since), as `status` shows
            health.add(WARNING, f"no verified daily copy on {target.name} yet")
        elif target.stale:
            health.add(
                WARNING,
                f"no daily backup made in the last {offsite.stale_hours} h is verified on "
                f"{target.name}",
            )
