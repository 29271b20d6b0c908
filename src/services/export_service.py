"""Export every table as readable JSON files: one per table and a summary, streamed."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from src.config.settings import Settings
from src.errors import IntegrityFailure, disk_errors_in
from src.services import progress
from src.services.exporters import exact_row, json_default, json_exportable
from src.services.integrity import TableInfo, check_header, list_tables, open_readonly
from src.services.live_database import readable_copy
from src.services.naming import unique_path
from src.services.row_reader import readable_rows

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What an export wrote."""

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # table: why it stopped early
    files: dict[str, str] = field(default_factory=dict)  # table: file name

    @property
    def complete(self) -> bool:
        """Tell whether every table was read to its end."""
        return not self.errors


def _file_name(name: str, used: set[str]) -> str:
    """Return a safe, unique file name for a table."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "table"
    if len(base) > 100:  # file systems allow about 255 bytes a name
        base = f"{base[:80]}_{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    candidate, number = f"{base}.json", 1
    while candidate.lower() in used:
        number += 1
        candidate = f"{base}_{number}.json"
    used.add(candidate.lower())
    return candidate


def export_database(settings: Settings, folder: Path | None = None) -> ExportResult:
    """Export the live database into `folder`, or a new recovery/data_export_<time>/.

    A write that a killed process left half done (a hot journal) is rolled back in a copy
    in the recovery folder; the live database is never changed.

    Raises:
        DatabaseNotFound, NotADatabase: nothing to export at DATABASE_PATH.
        IntegrityFailure: the database cannot be read at all.
        InsufficientSpace, FolderNotWritable: the folder written to is full or read-only.
    """
    db = settings.database_path
    check_header(db)
    target = folder or unique_path(
        settings.recovery_dir / f"data_export_{settings.now():%Y%m%d_%H%M%S}"
    )
    existed = target.exists()
    with disk_errors_in(target.parent):  # SQLite only reads here: the files are written
        try:
            settings.recovery_dir.mkdir(parents=True, exist_ok=True)
            with readable_copy(db, settings.recovery_dir) as readable:
                return export_tables(readable, target, settings.now().isoformat(), source=db)
        except sqlite3.DatabaseError as error:
            raise IntegrityFailure(
                f"{db} cannot be read ({error}). "
                "Run `python backup_manager.py diagnose`: it exports what can still be read."
            ) from error
        except OSError:
            if not existed:  # no half-written export is left behind
                shutil.rmtree(target, ignore_errors=True)
            raise


def export_tables(
    db: Path, folder: Path, exported_at: str, source: Path | None = None
) -> ExportResult:
    """Write every readable row of every table to `folder`, a JSON file per table.

    A table that fails part-way keeps the rows read before the failure; the summary
    says where each one stopped. The database is opened read-only.

    Args:
        db: the database (never created or changed).
        folder: a new folder for the files.
        exported_at: the time to record in the summary.
        source: the database to name in the summary, when `db` is a copy of it.

    Returns:
        Rows written per table, and the tables that stopped early with the reason.
    """
    with closing(open_readonly(db)) as conn:
        tables = list_tables(conn)  # before the folder exists: an unreadable file leaves none
        folder.mkdir(parents=True, exist_ok=False)
        result = ExportResult(folder)
        used: set[str] = {"summary.json"}
        wanted = json_exportable(tables)
        progress.phase("exporting the tables", len(wanted))
        for table in wanted:
            result.files[table.name] = _file_name(table.name, used)
            _export_table(conn, table, folder / result.files[table.name], result)
            progress.advance(1)
    summary = {
        "database": str(source or db),
        "exported_at": exported_at,
        "complete": result.complete,
        "tables": {
            name: {"file": result.files[name], "rows": rows, "error": result.errors.get(name)}
            for name, rows in result.rows.items()
        },
        "encoding": "UTF-8; BLOB values as {'$blob': base64}; +-Infinity as {'$real': ...}; "
        "TEXT that is not valid UTF-8 as {'$text_hex': hex}",
    }
    (folder / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    logger.info("export of %s to %s: %s", db, folder, result.rows)
    return result


def _export_table(
    conn: sqlite3.Connection, table: TableInfo, target: Path, result: ExportResult
) -> None:
    """Stream one table into its file, one row object a line; skip past damaged pages."""
    columns = list(table.columns)
    count = 0
    with target.open("wb") as out:
        out.write(orjson.dumps({"table": table.name, "columns": columns})[:-1] + b',"rows":[')
        for row in readable_rows(conn, table, result.errors):
            out.write((b"\n" if count == 0 else b",\n") + _row_object(columns, row))
            count += 1
        out.write(b"\n]}\n")
    result.rows[table.name] = count


def _row_object(columns: list[str], row: tuple[Any, ...]) -> bytes:
    """Serialise one row as a JSON object keyed by column name, exactly."""
    try:
        data = orjson.dumps(dict(zip(columns, row, strict=True)), default=json_default)
    except orjson.JSONEncodeError:  # TEXT that is not valid UTF-8
        data = b""
    if not data or data.count(b"null") != row.count(None):  # orjson writes inf as null
        data = orjson.dumps(dict(zip(columns, exact_row(row), strict=True)), default=json_default)
    return data
