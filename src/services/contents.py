"""What an archive holds besides the database: config, data and log files, and its metadata."""

from __future__ import annotations

import logging
import platform
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from src import __version__
from src.config.settings import Settings
from src.services import progress
from src.services.archive import ArchiveWriter, deflate_engine
from src.services.catalog import FORMAT_VERSION
from src.services.integrity import DatabaseFacts
from src.services.member_names import stored_name
from src.services.zip_structure import MAX_MEMBERS

logger = logging.getLogger(__name__)


# room for the database's members and metadata.json below the cap restore applies
_MAX_FILES = MAX_MEMBERS - 16


def add_files(settings: Settings, writer: ArchiveWriter) -> dict[str, list[str]]:
    """Add config, data and recent log files; return what was included and what was missing.

    Each file is stored under a name `restore` accepts (member_names): a name with, say,
    a ':' is stored cleaned and its own name recorded as `original`.
    """
    included, missing = [], []
    root = settings.project_root
    taken: set[str] = set()
    progress.phase("adding the config, data and log files")
    for role, names in (("config", settings.config_files), ("data", settings.data_files)):
        for name in names:
            path = (root / name).resolve()
            if path.name == ".env":
                missing.append(f"{name} (never archived: it holds secrets)")
                continue
            if not path.is_file():
                missing.append(name)
                logger.warning("backup: %s file %s not found, skipped", role, path)
                continue
            rel = (
                path.relative_to(root).as_posix()
                if path.is_relative_to(root)
                else f"_external/{path.name}"
            )
            _add(writer, stored_name("files", rel, taken), path, role, rel)
            included.append(rel)
    cutoff = time.time() - timedelta(days=settings.log_max_age_days).total_seconds()
    if settings.log_dir.is_dir():
        for path in sorted(settings.log_dir.iterdir()):
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= cutoff:
                if len(taken) >= _MAX_FILES:  # restore refuses an archive of more members
                    missing.append(f"logs/{path.name} (left out: more than {_MAX_FILES} files)")
                    continue
                _add(writer, stored_name("logs", path.name, taken), path, "log", path.name)
                included.append(f"logs/{path.name}")
    return {"included": included, "missing": missing}


def _add(writer: ArchiveWriter, member: str, path: Path, role: str, original: str) -> None:
    """Archive one file; note its own name when it had to be stored under another."""
    writer.add_file(member, path, role, str(path))
    if member.split("/", 1)[1] != original:
        writer.note_original(member, original)
        logger.info("backup: %s is stored as %s (its name is not portable)", original, member)


def build_metadata(
    settings: Settings,
    backup_type: str,
    started: datetime,
    duration: float,
    facts: DatabaseFacts,
    before: str,
    after: str,
) -> dict[str, Any]:
    """Build metadata.json (members are added by the caller)."""
    return {
        "format_version": FORMAT_VERSION,
        "backup_type": backup_type,
        "created_at": started.isoformat(),
        "timezone": settings.timezone_name,
        "app_version": __version__,
        "hostname": socket.gethostname(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "duration_seconds": round(duration, 3),
        "compression": deflate_engine(settings.compression_level),
        "database": {
            "source_path": str(settings.database_path),
            "size_bytes": facts.size_bytes,
            "sqlite_version": facts.sqlite_version,
            "journal_mode": facts.journal_mode,
            "page_size": facts.page_size,
            "page_count": facts.page_count,
            "freelist_count": facts.freelist_count,
            "user_version": facts.user_version,
            "application_id": facts.application_id,
            "tables": facts.tables,
            "total_rows": facts.total_rows,
            "user_count": facts.user_count,
            "integrity_before": before,
            "integrity_after": after,
        },
    }
