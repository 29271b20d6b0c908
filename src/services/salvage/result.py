"""What a salvage gives back: the recovered database, its rows, and how they were found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TableCount:
    """Rows recovered for one table, and where they were found."""

    from_tree: int = 0
    from_unlinked_pages: int = 0
    from_backup: int = 0  # rows of pages the file lost, taken from the newest backup

    @property
    def total(self) -> int:
        """All rows recovered for the table."""
        return self.from_tree + self.from_unlinked_pages + self.from_backup


@dataclass
class SalvageResult:
    """The recovered database a salvage wrote, and what it found and lost on the way."""

    recovered: Path
    rows: dict[str, int]  # rows per table in the recovered database
    integrity: str  # its integrity_check
    lost_and_found: int = 0
    damaged_pages: int = 0
    page_size: int = 0
    notes: list[str] = field(default_factory=list)
    failed_objects: list[str] = field(default_factory=list)  # indexes etc. not recreated
    counts: dict[str, TableCount] = field(default_factory=dict)
    seconds: float = 0.0
    unreadable: list[int] = field(default_factory=list)  # page numbers (the first 200)
    rebuilt: list[str] = field(default_factory=list)  # virtual tables refilled or rebuilt
    foreign_key_violations: int = 0  # rows that refer to a row that was lost
    unexpected_errors: list[str] = field(default_factory=list)  # the salvage went on past them
    leaves_copied: int = 0  # whole leaves SQLite's own reader copied (the rest: row by row)
