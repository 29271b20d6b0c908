"""Validate a backup archive before anything is restored from it, trusting nothing inside."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.errors import ArchiveInvalid, InsufficientSpace, RestoreAborted, disk_error
from src.services import progress, table_kinds
from src.services.archive import (
    READ_ERRORS,
    check_members,
    extract_member,
    member_bytes,
    read_metadata,
)
from src.services.catalog import check_metadata
from src.services.integrity import count_rows, list_tables, run_check
from src.services.member_names import check_infos
from src.services.rebuild import rebuild_from_json, rebuild_from_sql
from src.services.sandbox import open_untrusted
from src.services.schema_diff import planted_internal_names
from src.services.zip_structure import open_zip

logger = logging.getLogger(__name__)


@dataclass
class Validation:
    """An archive that passed every check, and the database to restore from it."""

    archive: Path
    metadata: dict[str, Any]
    candidate: Path  # a checked database file in the work folder
    source: str  # which copy passed: database, sql or json
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)


# A backup of ours (SQLite pages, SQL and JSON text) deflates a few times, rarely 20; a
# ZIP bomb's members claim hundreds of times their packed size (deflate's limit is about
# 1000), or a total no bot's database reaches.
MAX_RATIO = 200
MAX_UNPACKED = 1 << 40  # 1 TiB


def check_sizes(
    infos: list[zipfile.ZipInfo], metadata: dict[str, Any], free: int, folder: Path | None = None
) -> list[str]:
    """Refuse sizes that disagree with the metadata or would not fit (a ZIP bomb).

    Raises:
        InsufficientSpace: the sizes are plausible, the disk holding `folder` (where the
            archive is unpacked) is too small for them.
    """
    listed = {m.get("path"): m.get("size") for m in metadata.get("members", [])}
    problems = [
        f"{info.filename}: the ZIP says {info.file_size} bytes, "
        f"metadata.json {listed[info.filename]}"
        for info in infos
        if info.filename in listed and listed[info.filename] != info.file_size
    ]
    total = sum(info.file_size for info in infos)
    if total * 2 <= free:  # the extracted copy, and perhaps a rebuilt one
        return problems
    packed = max(1, sum(info.compress_size for info in infos))
    needed = f"unpacking needs about {2 * total // 2**20} MB but {free // 2**20} MB are free"
    if problems or total > MAX_UNPACKED or total > packed * MAX_RATIO:
        problems.append(f"{needed} (a ZIP bomb: it claims {total // packed} times its size)")
        return problems
    where = folder or "the recovery folder"
    raise InsufficientSpace(
        f"Not enough free space to check the backup: {needed} on the disk holding {where}. "
        "Free some space there, or point RECOVERY_DIR at another disk, then try again."
    )


def validate_archive(
    archive: Path, work: Path, space_in: Path | None = None, *, every_member: bool = True
) -> Validation:
    """Check an archive completely; return a checked database file to restore.

    Args:
        archive: the ZIP, from anywhere (also one downloaded from Telegram).
        work: an empty folder for the extracted copies (inside the recovery folder).
        space_in: the folder to name when the disk is too full (the recovery folder).
        every_member: read back every member's bytes. False only for an archive of ours
            that passed every check and has not changed since (history: size and
            modification time): then only its database copy is read back (SHA-256 as it
            is extracted, integrity_check, row counts) and the others only before a
            fallback would use them. Names, layout and local headers are always checked.

    Returns:
        The validation, with the database copy that passed (.db, else SQL, else JSON).

    Raises:
        ArchiveInvalid: anything is wrong; nothing outside `work` was written.
        InsufficientSpace: the disk holding `work` is too full to unpack or rebuild it
            (nothing is wrong with the archive).
    """
    space_in = space_in or work
    if not archive.is_file():
        raise RestoreAborted(f"No archive at {archive}. `list` shows the backups there are.")
    if not zipfile.is_zipfile(archive):
        raise ArchiveInvalid(f"{archive.name} is not a ZIP archive; nothing was restored.")
    try:
        with open_zip(archive) as zf:
            infos = zf.infolist()
    except READ_ERRORS as error:
        raise ArchiveInvalid(
            f"{archive.name} was refused, nothing was restored: {error}."
        ) from None
    _refuse(archive, check_infos(infos))
    metadata = read_metadata(archive)
    _refuse(archive, check_metadata(metadata))
    _refuse(archive, check_sizes(infos, metadata, shutil.disk_usage(work).free, space_in))
    database = next((m for m in metadata["members"] if m.get("role") == "database"), None)
    if database is None:
        _refuse(archive, check_members(archive, metadata))
        return _choose_database(archive, metadata, work, None, space_in)
    # the other members are read back on the second core while the database is
    # extracted (and hashed on the way) on this one
    extracted = work / "candidate_database.db"
    only = frozenset({database["path"]})
    rest = frozenset(m["path"] for m in metadata["members"]) - only
    if not every_member:  # the names and headers of all, no bytes (the database's below)
        _refuse(archive, check_members(archive, metadata, rest | only, None))
    shown = member_bytes(metadata) if every_member else member_bytes(metadata, rest)
    progress.phase("checking and unpacking the archive", shown)
    with ThreadPoolExecutor(max_workers=1) as pool:
        others = (
            pool.submit(progress.carried(check_members), archive, metadata, only, None)
            if every_member
            else None
        )
        try:
            problems = extract_member(archive, database["path"], extracted, database)
        except READ_ERRORS as error:  # OSError is one of them
            _raise_if_full(error, space_in)
            problems = [f"{database['path']}: {error}"]
        problems = (others.result() if others else []) + problems
    _refuse(archive, problems)
    return _choose_database(archive, metadata, work, extracted, space_in, every_member)


def _raise_if_full(error: BaseException, folder: Path) -> None:
    """Raise InsufficientSpace for a full disk: that is no defect of the archive."""
    known = disk_error(error, folder)
    if isinstance(known, InsufficientSpace):
        raise known from error


class _PlantedSchema(ArchiveInvalid):
    """A copy of the database holds objects named like SQLite's own: the archive was forged."""


def _refuse(archive: Path, problems: list[str]) -> None:
    """Raise ArchiveInvalid listing the problems, if any."""
    if problems:
        shown = "; ".join(problems[:8]) + (
            f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        )
        raise ArchiveInvalid(
            f"{archive.name} was refused, nothing was restored: {shown}. "
            "Use another backup (`list` shows them)."
        )


def _choose_database(
    archive: Path,
    metadata: dict[str, Any],
    work: Path,
    extracted: Path | None,
    space_in: Path,
    checked_all: bool = True,
) -> Validation:
    """Take the archived .db; if it fails, rebuild from the SQL dump, then from JSON.

    An emergency archive of a damaged database also holds a salvaged copy (its rows as
    the page-level reader found them), tried after the .db; its SQL and JSON copies were
    made from it, and these three are checked against its row counts.

    With `checked_all` False, every other member is read back (SHA-256) before the first
    fallback uses any of them.
    """
    salvaged = metadata.get("salvaged")
    salvaged_counts = salvaged.get("tables") if isinstance(salvaged, dict) else None
    members = {m.get("role"): m["path"] for m in metadata["members"]}
    page_size = metadata["database"].get("page_size")
    notes = _variant_notes(metadata)
    attempts = (
        ("database", lambda target: extracted.replace(target) if extracted else None),
        ("salvaged", lambda target: _extract_salvaged(archive, members["salvaged"], target)),
        ("sql", lambda target: rebuild_from_sql(archive, members["sql"], target, page_size)),
        ("json", lambda target: rebuild_from_json(archive, members["json"], target, page_size)),
    )
    for source, build in attempts:
        if source not in members:
            if source != "salvaged":  # only an emergency archive of a damaged file has one
                notes.append(f"no {source} copy in the archive")
            continue
        expected = metadata["database"].get("tables", {})
        if source != "database" and isinstance(salvaged_counts, dict):
            expected = salvaged_counts
        if source != "database" and not checked_all:
            read = frozenset({members["database"]} if "database" in members else set())
            _refuse(archive, check_members(archive, metadata, read))
            checked_all = True
        candidate = work / f"candidate_{source}.db"
        progress.phase(f"checking the archive's {_COPY_NAMES[source]}")
        # an archive of ours, verified and unchanged since, whose database copy passed
        # integrity_check when it was made: the SHA-256 just checked proves these are
        # those bytes, so checking them again proves nothing more (the live database is
        # checked after the write)
        proven = (
            source == "database"
            and not checked_all
            and metadata["database"].get("integrity_after") == "ok"
        )
        try:
            build(candidate)
            problem, counts = _check_candidate(candidate, expected, source, proven)
        except _PlantedSchema as error:  # no other copy of a forged archive is trusted
            raise ArchiveInvalid(
                f"{archive.name} was refused, nothing was restored: {error} "
                "Use another backup (`list` shows them)."
            ) from None
        except _BUILD_ERRORS as error:
            _raise_if_full(error, space_in)
            problem, counts = f"could not be used: {error}", {}
        if problem is None:
            return Validation(archive, metadata, candidate, source, counts, notes)
        notes.append(f"the {source} copy {problem}")
        logger.warning("restore: the %s copy in %s %s", source, archive.name, problem)
    raise ArchiveInvalid(
        f"{archive.name}: no copy of the database in it can be trusted ({'; '.join(notes)}). "
        "Use another backup (`list` shows them)."
    )


def _variant_notes(metadata: dict[str, Any]) -> list[str]:
    """Say that the archive is a database-only variant (no exports, no files in it)."""
    variant = metadata.get("variant")
    if not isinstance(variant, dict) or not isinstance(variant.get("of"), str):
        return []
    return [
        f"a {variant.get('kind', 'partial')} copy of {variant['of']}: its SQL and JSON "
        "exports and its files were left out (the whole archive did not fit the target)"
    ]


_COPY_NAMES = {
    "database": "database",
    "salvaged": "salvaged copy",
    "sql": "SQL dump",
    "json": "JSON export",
}


def _extract_salvaged(archive: Path, name: str, target: Path) -> None:
    """Extract the salvaged copy (read back with every member before any fallback)."""
    problems = extract_member(archive, name, target)
    if problems:
        raise ArchiveInvalid("; ".join(problems))


# what a crafted or damaged copy can raise while it is rebuilt and checked (READ_ERRORS
# has OSError and zipfile's errors); anything else is a bug of ours and is not hidden
_BUILD_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.DatabaseError,  # UntrustedSQL too: a statement a dump of ours never contains
    ArchiveInvalid,
    ValueError,  # also invalid UTF-8 and invalid JSON
    LookupError,
    TypeError,
    StopIteration,
    *READ_ERRORS,
)


def _check_candidate(
    candidate: Path, expected: dict[str, int], source: str, proven: bool = False
) -> tuple[str | None, dict[str, int]]:
    """Return what is wrong with a candidate database (or None), and its row counts.

    With `proven` (its bytes are those that passed integrity_check before), the
    integrity_check is not run again; everything else is.

    Raises:
        _PlantedSchema: it holds an object named like SQLite's own (a forged schema).
    """
    with closing(open_untrusted(candidate)) as conn:
        result = "ok" if proven else run_check(conn, "integrity_check")
        if result != "ok":
            return f"fails integrity_check: {result}", {}
        planted = planted_internal_names(conn)
        if planted:
            raise _PlantedSchema(
                f"its {source} copy holds {', '.join(planted[:5])}: names reserved for "
                "SQLite's own objects, which only a forged schema has (a trigger or view "
                "so named would be hidden from the restore preview)."
            )
        counts = count_rows(conn)
        # a rebuilt copy has no statistics tables (ANALYZE makes them); from JSON, the
        # internal tables of virtual tables (FTS5 ...) are rebuilt, not copied
        skip = set()
        if source != "database":
            skip = {n for n in (*counts, *expected) if table_kinds.is_statistics(n)}
        if source == "json":
            skip |= {t.name for t in list_tables(conn) if t.shadow}
    wanted = {k: v for k, v in expected.items() if k not in skip}
    found = {k: v for k, v in counts.items() if k not in skip}
    if found != wanted:
        wrong = sorted(n for n in set(found) | set(wanted) if found.get(n) != wanted.get(n))
        return f"has other row counts than its metadata ({', '.join(wrong[:5])})", counts
    return None, counts
