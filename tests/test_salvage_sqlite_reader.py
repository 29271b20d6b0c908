"""SQLite's own reader copies the whole leaves of a damaged file (far faster than decoding
each row here): the recovered database must be the one the row-by-row reader gives, on
every kind of damage, and SQLite may read the file only where it sees what the salvage
reads (no -wal or journal applied, a header, UTF-8).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from src.services.salvage.result import SalvageResult
from src.services.salvage.run import salvage
from src.services.salvage.sqlite_copy import SqliteSource
from tests.conftest import CHINOOK, table_rows
from tests.salvage_db import build

PAGE = 4096


@pytest.fixture(scope="module")
def bot_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corruption suite's 50,000-row database (BLOBs with overflow pages, free blocks)."""
    path = tmp_path_factory.mktemp("reader") / "template.db"
    build(path)
    return path


def flip_bits(data: bytearray, bits: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(bits):
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)


def garbage_pages(data: bytearray, share: float, seed: int) -> None:
    rng = random.Random(seed)
    count = len(data) // PAGE
    for page in rng.sample(range(2, count + 1), max(1, int(count * share))):
        data[(page - 1) * PAGE : page * PAGE] = rng.randbytes(PAGE)


def zeroed(data: bytearray, share: float, seed: int) -> None:
    """Zero a few unaligned ranges (a sector here and there)."""
    rng = random.Random(seed)
    for _ in range(int(len(data) * share) // 512):
        at = rng.randrange(PAGE, len(data) - 512)
        length = rng.randrange(5, 512)
        data[at : at + length] = bytes(length)


def cell_counts_lowered(data: bytearray, seed: int) -> None:
    """Lower the cell count of a few table leaves: their last cells hide past the count."""
    rng = random.Random(seed)
    leaves = [
        n
        for n in range(2, len(data) // PAGE + 1)
        if data[(n - 1) * PAGE] == 0x0D and data[(n - 1) * PAGE + 4] > 3
    ]
    for page in rng.sample(leaves, min(5, len(leaves))):
        at = (page - 1) * PAGE + 3
        count = int.from_bytes(data[at : at + 2], "big")
        data[at : at + 2] = (count - 2).to_bytes(2, "big")


DAMAGE: dict[str, Callable[[bytearray], None]] = {
    "none": lambda data: None,
    "1% of pages garbage": lambda data: garbage_pages(data, 0.01, 3),
    "100 bits flipped": lambda data: flip_bits(data, 100, 11),
    "1000 bits flipped": lambda data: flip_bits(data, 1000, 12),
    "unaligned zeroed ranges": lambda data: zeroed(data, 0.01, 5),
    "cell counts lowered": lambda data: cell_counts_lowered(data, 7),
    "cut at 70%": lambda data: data.__delitem__(slice(int(len(data) * 0.7) + 1000, None)),
}

# damage that leaves page 1 and most leaves whole (bit flips may hit the schema)
COPIED = ("none", "1% of pages garbage", "unaligned zeroed ranges", "cell counts lowered")


def both_ways(tmp_path: Path, original: Path, damage: Callable[[bytearray], None]):
    data = bytearray(original.read_bytes())
    damage(data)
    source = tmp_path / "damaged.db"
    source.write_bytes(bytes(data))
    fast = salvage(source, None, tmp_path / "fast.db")
    slow = salvage(source, None, tmp_path / "slow.db", sqlite_reader=False)
    return fast, slow


def contents(result: SalvageResult) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(result.recovered)) as conn:
        return table_rows(conn)


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("database", ["bot-like", "chinook"])
def test_sqlites_reader_recovers_exactly_what_the_row_reader_does(
    tmp_path, bot_like, database, damage
):
    original = bot_like if database == "bot-like" else CHINOOK
    fast, slow = both_ways(tmp_path, original, DAMAGE[damage])
    assert fast.integrity == slow.integrity == "ok"
    if damage in COPIED:  # SQLite read the file's whole leaves
        assert fast.leaves_copied > 0
    if damage.startswith("cut"):  # its header counts pages it lacks: SQLite refuses it
        assert fast.leaves_copied == 0
    assert slow.leaves_copied == 0
    assert contents(fast) == contents(slow)
    assert (fast.lost_and_found, fast.damaged_pages) == (slow.lost_and_found, slow.damaged_pages)
    assert {k: v.total for k, v in fast.counts.items()} == {
        k: v.total for k, v in slow.counts.items()
    }


def test_a_file_with_a_wal_beside_it_is_read_row_by_row(tmp_path):
    db = tmp_path / "live.db"
    shutil.copyfile(CHINOOK, db)
    with closing(sqlite3.connect(db)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE Artist SET Name = 'only in the wal' WHERE ArtistId = 1")
        writer.commit()
        source = tmp_path / "copy.db"
        shutil.copyfile(db, source)
        shutil.copyfile(tmp_path / "live.db-wal", tmp_path / "copy.db-wal")
    result = salvage(source, None, tmp_path / "out.db")
    assert result.leaves_copied == 0  # SQLite, opening it immutable, would not see the -wal
    with closing(sqlite3.connect(result.recovered)) as conn:
        name = conn.execute("SELECT Name FROM Artist WHERE ArtistId = 1").fetchone()[0]
    assert name == "only in the wal"


def test_a_file_whose_page_one_is_lost_is_read_row_by_row(tmp_path, bot_like):
    data = bytearray(bot_like.read_bytes())
    data[:PAGE] = bytes(PAGE)
    source = tmp_path / "damaged.db"
    source.write_bytes(bytes(data))
    hinted = salvage(source, None, tmp_path / "out.db")
    assert hinted.leaves_copied == 0


def test_damage_sqlite_meets_inside_the_new_databases_transaction_starts_it_all_again(
    tmp_path, bot_like, monkeypatch
):
    # SQLite loses the whole open transaction when it meets damage: were the probe ever
    # to miss some, the salvage starts again reading every row itself
    def probe(self, plan, bounds):
        return True, False  # every leaf "read whole", no text looked at again

    data = bytearray(bot_like.read_bytes())
    flip_bits(data, 1000, 12)  # records SQLite refuses on leaves whose cells look plain
    source = tmp_path / "damaged.db"
    source.write_bytes(bytes(data))
    slow = salvage(source, None, tmp_path / "slow.db", sqlite_reader=False)
    monkeypatch.setattr(SqliteSource, "probe", probe)
    again = salvage(source, None, tmp_path / "again.db")
    assert again.leaves_copied == 0 and again.integrity == "ok"
    assert contents(again) == contents(slow)
    assert not list(tmp_path.glob(".*partial"))


def test_a_text_a_flipped_bit_left_no_utf8_is_mended_as_the_row_reader_does(tmp_path):
    # SQLite copies a text's bytes as they are; Python's sqlite3 (the bot's) could then
    # never read that row: each byte that is no UTF-8 becomes U+FFFD, as row by row
    db = tmp_path / "notes.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, mood INTEGER)")
        conn.executemany(
            "INSERT INTO notes VALUES (?, ?, ?)",
            [
                (i, f"hari ke-{i} 💪 semangat" if i % 2 else f"hari ke-{i}", i % 5)
                for i in range(1, 3001)
            ],
        )
    data = bytearray(db.read_bytes())
    at = data.index(b"hari ke-1500")
    data[at] ^= 0x80  # "h" (0x68) becomes 0xe8: a lead byte with no continuation
    source = tmp_path / "damaged.db"
    source.write_bytes(bytes(data))
    fast = salvage(source, None, tmp_path / "fast.db")
    slow = salvage(source, None, tmp_path / "slow.db", sqlite_reader=False)
    assert fast.leaves_copied > 0
    with closing(sqlite3.connect(fast.recovered)) as conn:  # every row reads
        body = conn.execute("SELECT body FROM notes WHERE id = 1500").fetchone()[0]
    assert body == "\ufffdari ke-1500"
    assert contents(fast) == contents(slow)
