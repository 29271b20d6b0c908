"""The demo: a sample bot database where none exists, a manual backup of it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from src.config.settings import Settings
from src.database.sample import SampleSummary, create_sample_database, write_sample_data_files
from src.services import progress
from src.services.backup_service import BackupResult, create_backup

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What the demo made."""

    sample: SampleSummary | None  # None: a database existed and was left untouched
    backup: BackupResult
    data_files: list[Path] = field(default_factory=list)


def run_demo(settings: Settings, users: int) -> DemoResult:
    """Create the sample database only where none exists, then back up whatever is there."""
    db = settings.database_path
    if not db.exists():
        progress.phase(f"creating a sample database of {users} users")
    sample = None if db.exists() else create_sample_database(db, users=users)
    data_files = write_sample_data_files(settings.project_root / "data")
    backup = create_backup(settings, "manual", trigger="demo")
    return DemoResult(sample, backup, data_files)
