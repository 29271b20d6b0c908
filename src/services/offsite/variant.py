"""The database-only variant of an archive: for a target that cannot take the whole archive.

It holds the database members of the archive (the database, its raw -wal/-journal in an
emergency archive, the salvaged copy of a damaged one) and a metadata.json that lists only
them and says what was left out (the SQL and JSON exports, the config, data and log files).
Each member is read back from the archive against its recorded SHA-256, and the variant
passes every check `verify` makes before it leaves: restore takes it like any archive.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from src.config.settings import Settings
from src.errors import ArchiveInvalid, OffsiteTooLarge
from src.services import catalog, progress
from src.services.archive import READ_ERRORS, ArchiveWriter, extract_member, read_metadata
from src.services.naming import clean_stale, work_prefix
from src.services.offsite.names import database_only_name

logger = logging.getLogger(__name__)

DATABASE_ONLY = "database only"
DATABASE_ROLES = ("database", "database-sidecar", "salvaged")
WORK_KIND = "dbonly"  # work folders `.dbonly-<pid>-...` in BACKUP_DIR, removed after use


def kept_members(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the members the variant keeps: the database copies, not exports or files."""
    return [m for m in metadata.get("members", []) if m.get("role") in DATABASE_ROLES]


def variant_metadata(metadata: dict[str, Any], archive: str) -> dict[str, Any]:
    """Return the variant's metadata: the archive's, its members the kept ones, and why."""
    kept = kept_members(metadata)
    left_out = [m["path"] for m in metadata.get("members", []) if m not in kept]
    return metadata | {
        "members": kept,
        "variant": {"kind": DATABASE_ONLY, "of": archive, "left_out": left_out},
    }


@contextmanager
def database_only(settings: Settings, archive: Path) -> Iterator[Path]:
    """Build and verify the database-only variant of `archive`; yield it, then remove it.

    Args:
        settings: where the work folder goes (BACKUP_DIR) and the compression level.
        archive: a verified archive of ours.

    Yields:
        The variant, `<archive stem>.dbonly.zip`, in a work folder of BACKUP_DIR.

    Raises:
        OffsiteTooLarge: the archive holds no database to send alone.
        ArchiveInvalid: a member differs from its metadata, or the variant fails `verify`.
    """
    metadata = read_metadata(archive)
    if not any(m.get("role") == "database" for m in kept_members(metadata)):
        raise OffsiteTooLarge(f"{archive.name} holds no database to send on its own")
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.backup_dir, WORK_KIND)
    with tempfile.TemporaryDirectory(dir=settings.backup_dir, prefix=work_prefix(WORK_KIND)) as tmp:
        work = Path(tmp)
        variant = work / database_only_name(archive.name)
        _write(settings, archive, metadata, variant, work)
        report = catalog.verify_archive(variant, work)
        if not report.ok:
            raise ArchiveInvalid(
                f"the database-only variant of {archive.name} fails verification: "
                + "; ".join(report.problems[:5])
            )
        logger.info(
            "%s: database-only variant %s verified (%d bytes)",
            archive.name,
            variant.name,
            variant.stat().st_size,
        )
        yield variant


def _write(
    settings: Settings, archive: Path, metadata: dict[str, Any], variant: Path, work: Path
) -> None:
    """Copy the database members (checked against their SHA-256) and the new metadata."""
    progress.phase(f"making the database-only variant of {archive.name}")
    writer = ArchiveWriter(variant, settings.compression_level)
    try:
        for member in kept_members(metadata):
            _copy_member(archive, member, writer, work / "member")
        writer.add_metadata(variant_metadata(metadata, archive.name))
        writer.close()
    except BaseException:
        writer.abort()
        raise


def _copy_member(archive: Path, member: dict[str, Any], writer: ArchiveWriter, spool: Path) -> None:
    """Extract one member (its SHA-256 checked on the way) and add it to the variant."""
    try:
        problems = extract_member(archive, member["path"], spool, member)
    except READ_ERRORS as error:
        problems = [f"{member['path']}: {error}"]
    if problems:
        spool.unlink(missing_ok=True)
        raise ArchiveInvalid(f"{archive.name}: " + "; ".join(problems))
    writer.add_file(member["path"], spool, member["role"], member.get("source"))
    if member.get("original"):
        writer.note_original(member["path"], member["original"])
    spool.unlink()
