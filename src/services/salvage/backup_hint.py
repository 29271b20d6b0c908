"""The newest verified backup as a hint: what a salvage takes from it where the file lost
it (the schema, the page size, the header values, the rows of lost pages).

Which backup that is, and where its database is extracted, is the caller's business
(`repair_service` reads the catalog); a salvage only asks, when it first needs it.
"""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from src.services.integrity import open_readonly
from src.services.salvage.layouts import SchemaRow

_ENCODINGS = {"UTF-8": "utf-8", "UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}


@dataclass
class Backup:
    """What the newest verified backup knows of the database's structure."""

    name: str
    schema: list[SchemaRow]
    page_size: int
    encoding: str
    user_version: int
    application_id: int
    tables: dict[str, int]
    wal: bool = False
    database: Path | None = None  # its database, extracted for the repair (then deleted)
    created_at: str = ""


class SchemaHint(Protocol):
    """Where a salvage finds the newest verified backup, when it first needs it."""

    def extracted(self, notes: list[str]) -> Backup | None:
        """The newest verified backup that could be read, its database extracted (a backup
        that could not be read is noted in `notes` and passed over)."""


def read_backup(
    name: str, database: Path, tables: dict[str, int], *, wal: bool, created_at: str
) -> Backup:
    """Read an extracted backup database's schema and header values.

    Args:
        name: the backup's name, for the notes.
        database: its database, extracted (nobody writes it).
        tables: rows per table, as its metadata records them.
        wal: the database was in WAL mode.
        created_at: when the backup was made (ISO 8601).

    Raises:
        sqlite3.DatabaseError: the database cannot be read.
    """
    with closing(open_readonly(database, immutable=True)) as conn:
        schema = [
            SchemaRow(*row)
            for row in conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master")
        ]
        facts = [
            conn.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_size", "encoding", "user_version", "application_id")
        ]
    return Backup(
        name,
        schema,
        int(facts[0]),
        _ENCODINGS.get(str(facts[1]), "utf-8"),
        int(facts[2]),
        int(facts[3]),
        tables,
        wal,
        database=database,
        created_at=created_at,
    )


class Prefetched:
    """A hint whose backup is extracted in a thread as soon as damage shows (`start`), so
    that decompressing it runs beside the tree walk on another core; `extracted` waits for
    it (and starts it when nobody did). Safe to ask from any thread, once or many times."""

    def __init__(self, hint: SchemaHint, notes: list[str]) -> None:
        self._hint, self._notes = hint, notes
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._backup: Backup | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Begin extracting the backup, unless that has begun."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._extract, name="salvage-backup", daemon=True
                )
                self._thread.start()

    def _extract(self) -> None:
        try:
            self._backup = self._hint.extracted(self._notes)
        except BaseException as error:  # noqa: BLE001 - handed to the thread that asks
            self._error = error

    def wait(self) -> None:
        """Wait for an extraction under way, if any."""
        if self._thread is not None:
            self._thread.join()

    def extracted(self, notes: list[str]) -> Backup | None:
        """The backup (its notes went to the list given at creation, `notes` is the same)."""
        self.start()
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._backup
