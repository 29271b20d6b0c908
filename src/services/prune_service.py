"""`prune`: retention of the backups and of the recovery folder, decided first, then done."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from src.config.settings import ARCHIVE_TYPES, Settings
from src.services import backup_service, catalog, recovery_retention
from src.services.recovery_retention import RecoveryPlan


@dataclass
class PrunePlan:
    """What retention would delete now, and the kept archives it passes by."""

    expired: list[catalog.BackupInfo]
    kept: list[catalog.BackupInfo]  # `backup keep`: never deleted, never counted
    recovery: RecoveryPlan | None  # None: only one backup type was asked for

    @property
    def empty(self) -> bool:
        """Tell whether nothing at all would be deleted."""
        return not self.expired and not (self.recovery and self.recovery.expired)


@dataclass
class PruneResult:
    """What `prune` deleted."""

    deleted: list[Path] = field(default_factory=list)
    recovery_deleted: list[Path] = field(default_factory=list)


def plan_prune(settings: Settings, backup_type: str | None = None) -> PrunePlan:
    """Decide what retention deletes now; change nothing (this is `prune --dry-run`).

    Args:
        settings: the retention settings and folders.
        backup_type: only this type's backups (the recovery folder is then left alone);
            None for every type and the recovery folder.

    Returns:
        The expired backups (oldest first per type), the kept ones, and the recovery
        folder's expired reports and exports.
    """
    kinds = [backup_type] if backup_type else list(ARCHIVE_TYPES)
    expired = [b for kind in kinds for b in backup_service.plan_retention(settings, kind)]
    kept = [b for b in catalog.list_backups(settings, backup_type) if b.kept]
    recovery = None if backup_type else recovery_retention.plan_recovery(settings)
    return PrunePlan(expired, kept, recovery)


def apply_prune(settings: Settings, plan: PrunePlan) -> PruneResult:
    """Delete what `plan_prune` chose (the backups under the backup lock)."""
    result = PruneResult()
    if plan.expired:
        result.deleted = backup_service.delete_expired(settings, plan.expired)
    if plan.recovery:
        result.recovery_deleted = recovery_retention.delete(plan.recovery.expired)
    return result
