"""A database for the corruption suite: 3 tables, 50,000 rows, BLOBs that overflow pages."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

SCHEMA = (
    "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL, joined TEXT, score REAL)",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, member_id INTEGER, body TEXT, created TEXT,"
    " mood INTEGER)",
    "CREATE TABLE files (id INTEGER PRIMARY KEY, member_id INTEGER, label TEXT, data BLOB)",
    "CREATE INDEX idx_members_name ON members (name)",
    "CREATE INDEX idx_notes_member ON notes (member_id, created)",
    "CREATE INDEX idx_files_member ON files (member_id)",
)
WORDS = [
    "semangat",
    "hari",
    "ini",
    "aku",
    "bertahan",
    "lagi",
    "tidur",
    "cukup",
    "olahraga",
    "doa",
    "💪",
    "teman",
]


def build(
    path: Path, *, members: int = 20_000, notes: int = 20_000, files: int = 10_000, seed: int = 7
) -> None:
    """Create the database at `path` (rollback journal, 4096-byte pages)."""
    rng = random.Random(seed)
    with closing(sqlite3.connect(path)) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        with conn:
            conn.executemany(
                "INSERT INTO members VALUES (?, ?, ?, ?)",
                [
                    (i, f"{rng.choice(WORDS)} {i}", f"2024-{1 + i % 12:02d}-01", rng.random() * 100)
                    for i in range(1, members + 1)
                ],
            )
            conn.executemany(
                "INSERT INTO notes VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        rng.randint(1, members),
                        " ".join(rng.choices(WORDS, k=rng.randint(3, 40))),
                        f"2024-05-{1 + i % 28:02d}T0{i % 10}:00",
                        rng.choice((None, -2, 0, 3, 2**40)),
                    )
                    for i in range(1, notes + 1)
                ],
            )
            conn.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?)",
                [
                    (
                        i,
                        rng.randint(1, members),
                        f"file {i}.bin",
                        rng.randbytes(
                            rng.randint(4_000, 16_000) if i % 10 == 0 else rng.randint(20, 300)
                        ),
                    )
                    for i in range(1, files + 1)
                ],
            )
        # some deleted rows, so the file has free pages holding stale rows
        with conn:
            conn.execute("DELETE FROM notes WHERE id % 97 = 0 OR id BETWEEN 5001 AND 5400")
