"""Repair by row-level salvage: a new database in recovery/, never the damaged one changed."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.errors import IntegrityFailure
from src.services import catalog
from src.services.integrity import (
    TableInfo,
    check_header,
    count_rows,
    list_tables,
    open_readonly,
    quote_identifier,
    rowid_name,
    run_check,
)
from src.services.naming import unique_path
from src.services.salvage import readable_rows

logger = logging.getLogger(__name__)


@dataclass
class RepairResult:
    """What a repair built and how it compares with the newest backup."""

    recovered: Path
    report: Path
    rows: dict[str, int]
    expected: dict[str, int] | None  # rows per table in the newest verified backup
    integrity: str
    errors: dict[str, str] = field(default_factory=dict)  # table: where reading stopped
    failed_objects: list[str] = field(default_factory=list)  # indexes etc. not recreated


def repair(settings: Settings) -> RepairResult:
    """Build recovery/recovered_<time>.db from every row of the database that can be read.

    Row-level salvage through SQLite: each table is read in rowid order and damaged
    pages are skipped by seeking past them; indexes are rebuilt, not copied. It needs
    a readable schema (page 1); the damaged file is opened read-only.

    Raises:
        DatabaseNotFound, NotADatabase: nothing to repair at DATABASE_PATH.
        IntegrityFailure: even the schema cannot be read (restore a backup instead).
    """
    db = settings.database_path
    check_header(db)
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{settings.now():%Y%m%d_%H%M%S}"
    recovered = unique_path(settings.recovery_dir / f"recovered_{stamp}.db")
    partial = recovered.with_name(f".{recovered.name}.partial")
    errors: dict[str, str] = {}
    try:
        with closing(open_readonly(db)) as src:
            failed = _copy(src, partial, errors)
    except sqlite3.DatabaseError as error:
        partial.unlink(missing_ok=True)
        raise IntegrityFailure(
            f"The schema of {db} cannot be read ({error}); row-level repair needs it. "
            "Restore the newest verified backup: python backup_manager.py restore latest --confirm"
        ) from error
    partial.replace(recovered)
    with closing(open_readonly(recovered)) as conn:
        integrity = run_check(conn, "integrity_check")
        rows = count_rows(conn)
    newest = next(
        (b for b in catalog.list_backups(settings) if b.verified and not b.degraded), None
    )
    expected = newest.metadata["database"]["tables"] if newest and newest.metadata else None
    result = RepairResult(recovered, Path(), rows, expected, integrity, errors, failed)
    result.report = _write_report(settings, stamp, result)
    logger.info("repair of %s: %s, integrity %s", db, recovered, integrity)
    return result


def _copy(src: sqlite3.Connection, target: Path, errors: dict[str, str]) -> list[str]:
    """Create the schema in `target`, copy every readable row, then indexes and triggers."""
    schema = src.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    tables = [t for t in list_tables(src) if t.readable and not t.shadow]
    pragmas = {
        p: int(src.execute(f"PRAGMA {p}").fetchone()[0]) for p in ("user_version", "application_id")
    }
    page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
    failed: list[str] = []
    with closing(sqlite3.connect(target, isolation_level=None)) as dst:
        dst.execute(f"PRAGMA page_size={page_size}")
        dst.execute("BEGIN")
        shadow = {t.name for t in list_tables(src) if t.shadow}
        for kind, name, sql in schema:
            if kind == "table" and not name.startswith("sqlite_") and name not in shadow:
                dst.execute(sql)
        for table in tables:
            if not table.name.lower().startswith("sqlite_stat"):
                _copy_rows(src, dst, table, errors)
        for kind, name, sql in schema:
            if kind in ("index", "trigger", "view"):
                try:
                    dst.execute(sql)
                except sqlite3.DatabaseError as error:  # e.g. salvaged rows break UNIQUE
                    failed.append(f"{kind} {name}: {error}")
        for pragma, value in pragmas.items():
            dst.execute(f"PRAGMA {pragma}={value}")
        dst.execute("COMMIT")
    return failed


def _copy_rows(
    src: sqlite3.Connection, dst: sqlite3.Connection, table: TableInfo, errors: dict[str, str]
) -> None:
    """Copy one table's readable rows, keeping rowids."""
    columns = [quote_identifier(c) for c in table.columns]
    if table.has_rowid and table.rowid_alias is None:
        columns.insert(0, rowid_name(table))
    if table.name == "sqlite_sequence":
        dst.execute("DELETE FROM sqlite_sequence")
    insert = (
        f"INSERT INTO {quote_identifier(table.name)}({','.join(columns)}) "
        f"VALUES({','.join('?' * len(columns))})"
    )
    dst.executemany(insert, readable_rows(src, table, errors, with_rowid=True))


def _write_report(settings: Settings, stamp: str, result: RepairResult) -> Path:
    """Write the repair report: rows per table against the newest backup."""
    tables: dict[str, Any] = {
        name: {
            "recovered": rows,
            "in_newest_backup": (result.expected or {}).get(name),
            "stopped": result.errors.get(name),
        }
        for name, rows in result.rows.items()
    }
    report = {
        "database": str(settings.database_path),
        "recovered": str(result.recovered),
        "method": "row-level salvage through SQLite (damaged pages skipped by rowid)",
        "integrity_check": result.integrity,
        "tables": tables,
        "not_recreated": result.failed_objects,
    }
    path = unique_path(settings.recovery_dir / f"repair_{stamp}.json")
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return path
