"""The backups on disk: list them, read their metadata, verify them again."""

from __future__ import annotations

import logging
import re
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from src.config.settings import ARCHIVE_TYPES, PRE_RESTORE, Settings
from src.errors import ArchiveInvalid, BackupError, disk_errors_in
from src.services.archive import check_members, extract_member, read_metadata, refused_names
from src.services.history import History
from src.services.integrity import count_rows, run_check
from src.services.naming import clean_stale, work_prefix
from src.services.sandbox import open_untrusted

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
NAME_PREFIX = "pmo_recovery_backup"
ARCHIVE_NAME = re.compile(
    rf"^{NAME_PREFIX}_(?P<type>{'|'.join(ARCHIVE_TYPES)})_(?P<stamp>\d{{8}}_\d{{6}})"
    r"(?:_(?P<n>\d{1,6}))?\.zip$"  # a sequence number of sane length (names are untrusted)
)


@dataclass
class BackupInfo:
    """One backup archive as `list` shows it."""

    path: Path
    backup_type: str
    stamp: str
    sequence: int
    size_bytes: int
    verified: bool | None  # True ok, False failed its last verification, None never checked
    metadata: dict[str, Any] | None
    error: str | None = None
    # exempt from retention (`backup keep`); None when the history cannot be read, which
    # retention treats as kept (it never deletes on a guess)
    kept: bool | None = False

    @property
    def name(self) -> str:
        """Return the archive's file name."""
        return self.path.name

    @property
    def state(self) -> str:
        """The verdict every door shows: ok (verified), unverified, degraded, or failed
        (its last verification failed, which outweighs degraded)."""
        if self.verified is False:
            return "failed"
        if self.degraded:
            return "degraded"
        return "ok" if self.verified else "unverified"

    @property
    def created_at_key(self) -> str:
        """Sort key, oldest to newest: UTC time from metadata (immune to DST), then number."""
        moment = None
        if self.metadata and "created_at" in self.metadata:
            try:
                moment = datetime.fromisoformat(str(self.metadata["created_at"]))
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            moment = datetime.strptime(self.stamp, "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)
        return f"{moment.astimezone(timezone.utc):%Y%m%dT%H%M%S.%f}_{self.sequence:04d}"

    @property
    def created_at(self) -> str:
        """Return when the backup was made (ISO 8601), from metadata or the name."""
        if self.metadata and "created_at" in self.metadata:
            return str(self.metadata["created_at"])
        s = self.stamp
        return f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[9:11]}:{s[11:13]}:{s[13:15]}"

    @property
    def degraded(self) -> bool:
        """Tell whether this is an emergency archive of a database that failed its checks."""
        return bool(self.metadata and self.metadata.get("degraded"))

    @property
    def trigger(self) -> str | None:
        """Return who asked for the backup (cli, scheduler, bot, restore, demo)."""
        return str(self.metadata.get("trigger")) if self.metadata else None

    @property
    def user_count(self) -> int | None:
        """Return the number of users recorded in the metadata."""
        if not self.metadata:
            return None
        value = self.metadata.get("database", {}).get("user_count")
        return int(value) if value is not None else None


@dataclass
class VerifyReport:
    """The result of verifying one archive."""

    path: Path
    problems: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Tell whether every check passed."""
        return not self.problems


def list_backups(settings: Settings, backup_type: str | None = None) -> list[BackupInfo]:
    """List the finished backups, newest first (half-written archives never show).

    Args:
        settings: where the backups are.
        backup_type: only this type, or every type.

    Returns:
        One entry per archive, with its metadata when it can be read.
    """
    history = History(settings.history_path)
    kept = history.kept_names()
    found = []
    for kind in [backup_type] if backup_type else list(ARCHIVE_TYPES):
        folder = settings.type_dir(kind)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = ARCHIVE_NAME.match(path.name)
            if not match or match["type"] != kind or not path.is_file():
                continue
            try:
                found.append(_describe(path, match, history, kept))
            except FileNotFoundError:  # deleted by retention while we looked
                continue
    return sorted(found, key=lambda b: b.created_at_key, reverse=True)


def not_latest_because(backup_type: str, degraded: bool, trigger: str | None) -> str | None:
    """The one rule for `latest` (restore, list, status, the bot, off-machine targets).

    Returns why an archive is passed by, or None when it can be `latest` (it must also be
    verified, which the caller knows): a restore's own safety copy would make `restore
    latest` twice undo itself; a degraded emergency archive is incomplete.
    """
    if backup_type == PRE_RESTORE or trigger == "restore":
        return "the safety copy an earlier restore made"
    if degraded:
        return "a degraded emergency archive"
    return None


def counts_as_latest(backup: BackupInfo) -> bool:
    """Tell whether a listed backup may be `latest` (verified, and the rule above)."""
    return (
        bool(backup.verified)
        and not_latest_because(backup.backup_type, backup.degraded, backup.trigger) is None
    )


def latest(settings: Settings, backup_type: str | None = None) -> BackupInfo | None:
    """`latest`: the newest verified backup that is neither a safety copy nor degraded."""
    return next((b for b in list_backups(settings, backup_type) if counts_as_latest(b)), None)


def resolve_archive(settings: Settings, reference: str) -> Path:
    """Return the archive an ARCHIVE argument names, resolved (not checked in any way).

    A path (absolute, or relative to the current folder) names that file; an archive's
    file name as `list` shows it, with no such file here, names the archive of that name
    in its type folder. `restore`, `verify` and `backup keep|unkeep` all read it this way.
    """
    given = Path(reference).expanduser()
    match = ARCHIVE_NAME.match(reference)
    if match and not given.exists():  # a bare name never holds a folder part
        return (settings.type_dir(match["type"]) / reference).resolve()
    return given.resolve()


def _describe(
    path: Path, match: re.Match[str], history: History, kept: frozenset[str] | None
) -> BackupInfo:
    """Read what `list` shows of one archive."""
    metadata, error = None, None
    known = history.verification(path)
    try:
        metadata = read_metadata(path)
        # one verified by an older version may hold names this one refuses to restore
        refused = refused_names(path) if known and known[0] else []
        if refused:
            more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
            error = "; ".join(refused[:3]) + more
    except ArchiveInvalid as problem:
        error = str(problem)
    verified = False if error else (known[0] if known else None)
    return BackupInfo(
        path=path,
        backup_type=match["type"],
        stamp=match["stamp"],
        sequence=int(match["n"] or 1),
        size_bytes=path.stat().st_size,
        verified=verified,
        metadata=metadata,
        error=error,
        kept=None if kept is None else path.name in kept,
    )


def check_metadata(metadata: dict[str, Any]) -> list[str]:
    """Return what is wrong with an archive's metadata.json."""
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        return [f"unknown metadata format version {version!r} (this tool reads {FORMAT_VERSION})"]
    problems = [
        f"metadata.json lacks {key!r}"
        for key in ("backup_type", "created_at", "database", "members")
        if key not in metadata
    ]
    if problems:
        return problems
    return _check_shapes(metadata)


def _check_shapes(metadata: dict[str, Any]) -> list[str]:
    """Check the types of what the tool reads from metadata.json (it may be crafted)."""
    database, members = metadata["database"], metadata["members"]
    if not isinstance(database, dict) or not isinstance(database.get("tables", {}), dict):
        return ["metadata.json: 'database' and its 'tables' must be objects"]
    if not all(isinstance(v, int) for v in database.get("tables", {}).values()):
        return ["metadata.json: row counts must be whole numbers"]
    if not isinstance(members, list) or not all(
        isinstance(m, dict)
        and isinstance(m.get("path"), str)
        and isinstance(m.get("size"), int)
        and isinstance(m.get("sha256"), str)
        and isinstance(m.get("role", ""), str)
        and isinstance(m.get("original", ""), str)
        for m in members
    ):
        return ["metadata.json: each member needs a path, a size and a sha256"]
    if sum(1 for m in members if m.get("role") == "database") > 1:
        return ["metadata.json lists more than one database"]
    return []


def verify_archive(path: Path, work_dir: Path) -> VerifyReport:
    """Re-run every check on an archive: metadata, CRC and SHA-256, the database itself.

    Args:
        path: the archive.
        work_dir: a folder for the temporary copy of the archived database.

    Returns:
        The report; `ok` is true when nothing was found wrong.
    """
    report = VerifyReport(path)
    try:
        report.metadata = read_metadata(path)
    except ArchiveInvalid as error:
        report.problems.append(str(error))
        return report
    report.problems.extend(check_metadata(report.metadata))
    if report.problems:
        return report
    report.problems.extend(check_members(path, report.metadata))
    if not report.problems:
        report.problems.extend(_check_database(path, report.metadata, work_dir))
    return report


def _check_database(path: Path, metadata: dict[str, Any], work_dir: Path) -> list[str]:
    """Extract the archived database; run integrity_check; compare row counts."""
    member = next((m for m in metadata["members"] if m.get("role") == "database"), None)
    if member is None:
        return ["the archive holds no database"]
    work_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(work_dir, "verify")
    # one folder per run (several verify runs may go on at once), named by our pid
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=work_prefix("verify")) as tmp:
        copy = Path(tmp) / "archived.db"
        extract_member(path, member["path"], copy)
        with closing(open_untrusted(copy)) as conn:
            result = run_check(conn, "integrity_check")
            if result != "ok":
                if metadata.get("degraded"):
                    return []  # archived as damaged on purpose; metadata says so
                return [f"archived database fails integrity_check: {result}"]
            counts = count_rows(conn)
    expected = metadata["database"].get("tables", {})
    if counts != expected:
        diff = sorted(
            f"{name}: {counts.get(name)} rows, metadata says {expected.get(name)}"
            for name in set(counts) | set(expected)
            if counts.get(name) != expected.get(name)
        )
        return ["row counts differ from metadata: " + "; ".join(diff[:10])]
    return []


def verify_backups(settings: Settings, paths: list[Path]) -> list[VerifyReport]:
    """Verify archives and record each result in the history."""
    history = History(settings.history_path)
    reports = []
    for path in paths:
        if not path.is_file():
            raise BackupError(f"No backup archive at {path}. `list` shows the backups there are.")
        with disk_errors_in(settings.recovery_dir):  # where the database is unpacked
            report = verify_archive(path, settings.recovery_dir)  # works with read-only backups
        if path.resolve().is_relative_to(settings.backup_dir):
            history.record_verification(path.resolve(), settings.now(), report.problems)
        reports.append(report)
    return reports
