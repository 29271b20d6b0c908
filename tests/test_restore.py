"""`restore ARCHIVE [--confirm] [--include-files]` end to end, as real processes on real files.

Nothing is mocked: every restore runs as `python backup_manager.py restore ...` against
real SQLite files and real ZIP archives in tmp_path; hostile archives are built byte by
byte here; the open connection and the killed restores are separate processes.

Several tests reproduce bugs found while writing this file (stale -wal replayed, a damaged
file changed by a read-write open, --include-files writing unlisted files, page-size
mismatches, leftover work folders); they guard the fixes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    cli_env,
    grow_journal,
    popen_cli,
    table_rows,
)

RunCli = Callable[..., subprocess.CompletedProcess[str]]
Rows = dict[str, list[tuple[object, ...]]]

SEED = 20240612
KILLS = 9
DB_NAME = "pmo_recovery.db"  # the sample_db fixture's file name
FTS_INTERNAL = {"journal_fts_data", "journal_fts_idx", "journal_fts_docsize", "journal_fts_config"}
FTS_TERMS = ("aku", "progress", "olahraga", "urge")
POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and POSIX file semantics")


# --- helpers: databases ----------------------------------------------------------------


def _rows_of(path: Path) -> Rows:
    """table_rows of a database file (read through its WAL, if any)."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        return table_rows(conn)


def _without_fts_internals(rows: Rows) -> Rows:
    """The rows of every table but FTS5's own shadow tables (rebuilt, not copied, from JSON)."""
    return {name: value for name, value in rows.items() if name not in FTS_INTERNAL}


def _integrity(path: Path) -> str:
    """PRAGMA integrity_check of a database, opened read-write (so a hot journal is rolled back)."""
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))


def _fts_matches(path: Path) -> dict[str, list[int]]:
    """Rowids the FTS index finds for a few words (reads the index, not only the content)."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        return {
            term: [
                row[0]
                for row in conn.execute(
                    "SELECT rowid FROM journal_fts WHERE journal_fts MATCH ? ORDER BY rowid",
                    (term,),
                )
            ]
            for term in FTS_TERMS
        }


def _fts_integrity_ok(path: Path) -> None:
    """FTS5's own check that its index agrees with the content table (raises if not)."""
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("INSERT INTO journal_fts(journal_fts) VALUES ('integrity-check')")


def _checkpoint(db: Path) -> None:
    """Fold the WAL into the main file so the file's bytes are the whole database."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _lose_some_rows(db: Path) -> None:
    """The mistake a restore undoes: rows deleted from several tables (FTS follows)."""
    with closing(sqlite3.connect(db)) as conn:
        with conn:
            conn.execute("DELETE FROM checkins WHERE id % 2 = 0")
            conn.execute("DELETE FROM journal_entries WHERE id % 3 = 0")
            conn.execute("DELETE FROM user_badges WHERE user_id % 5 = 0")
            conn.execute("DELETE FROM reminders WHERE user_id % 7 = 0")  # WITHOUT ROWID
            conn.execute("UPDATE users SET first_name = 'Changed' WHERE user_id % 4 = 0")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _side_files(db: Path) -> Iterator[Path]:
    """The database's -wal, -shm and -journal files that exist."""
    for suffix in ("-wal", "-shm", "-journal"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            yield path


CRASHING_WRITER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint=0")
for statement in sys.argv[2:]:
    conn.execute(statement)
print("written", flush=True)
time.sleep(600)
"""


def _crash_after_writing(db: Path, *statements: str) -> None:
    """Let a process commit statements in WAL mode and die by SIGKILL: a hot -wal stays."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(db), *statements],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait(timeout=30)
    wal = db.with_name(db.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0, "the killed writer left no WAL"


# --- helpers: the tool -----------------------------------------------------------------


def _backup(run_cli: RunCli, db: Path, backup_type: str = "manual", **extra: str) -> Path:
    """Run `backup`; return the archive it printed."""
    result = run_cli("backup", "--type", backup_type, db=db, **extra)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"File: (\S+\.zip)", result.stdout)
    assert match, result.stdout
    return Path(match[1])


def _reports(tmp_path: Path) -> list[dict[str, object]]:
    """Every restore report in recovery/, oldest first."""
    folder = tmp_path / "recovery"
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("restore_*.json"))]


def _safety_copies(tmp_path: Path) -> list[Path]:
    """The pre-restore copies a restore made of the database it replaced."""
    return sorted((tmp_path / "backups" / "pre-restore").glob("*.zip"))


def _tree(root: Path, db: Path) -> dict[str, str]:
    """Every path under root with a digest of its content, but recovery/ and logs/.

    The live database's -wal and -shm are left out too: SQLite creates them (empty) when
    the tool merely reads a WAL database; the database file itself is compared.
    """
    skip = {db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")}
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("recovery", "logs") or path in skip:
            continue
        if path.is_symlink():
            found[rel.as_posix()] = "link " + os.readlink(path)
        elif path.is_file():
            found[rel.as_posix()] = _sha(path.read_bytes())
        else:
            found[rel.as_posix()] = "folder"
    return found


# --- helpers: archives -----------------------------------------------------------------


def _read_archive(archive: Path) -> tuple[dict[str, object], dict[str, bytes]]:
    """Return an archive's metadata and the bytes of every other member, in order."""
    with zipfile.ZipFile(archive) as zf:
        metadata = json.loads(zf.read("metadata.json"))
        members = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != "metadata.json"}
    return metadata, members


def _member_of(metadata: dict[str, object], role: str) -> str:
    return next(m["path"] for m in metadata["members"] if m["role"] == role)  # type: ignore[attr-defined,index]


def _write_archive(
    target: Path,
    metadata: dict[str, object],
    members: dict[str, bytes],
    *,
    fix_hashes: bool = True,
    attrs: dict[str, int] | None = None,
) -> Path:
    """Write members then metadata.json as a ZIP; with fix_hashes, metadata lists them exactly."""
    listed = {m["path"]: m for m in metadata["members"]}  # type: ignore[attr-defined]
    if fix_hashes:
        for name, data in members.items():
            entry = listed.setdefault(name, {"path": name, "role": "data"})
            entry.update(size=len(data), sha256=_sha(data))
        metadata["members"] = list(listed.values())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (attrs or {}).get(name, 0o100600) << 16
            zf.writestr(info, data)
        zf.writestr("metadata.json", json.dumps(metadata))
    return target


def _damage_pages(data: bytes, fraction: float, seed: int = SEED) -> bytes:
    """Overwrite a fraction of a database's pages (never page 1) with random bytes."""
    page = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page
    rng = random.Random(seed)
    damaged = bytearray(data)
    for number in rng.sample(range(1, pages), max(1, int(pages * fraction))):
        damaged[number * page : (number + 1) * page] = rng.randbytes(page)
    return bytes(damaged)


class _Passthrough:
    """A 'compressor' for bytes that are raw deflate already."""

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _write_zero_bomb(target: Path, member: str, mebibytes: int, metadata: dict[str, object]) -> int:
    """Write a ZIP whose member inflates to `mebibytes` MiB of zeros; return the archive size.

    Built without compressing anything big: deflate turns each MiB of zeros, after a
    full flush, into the same ~1 KB block, so the stream is that block repeated.
    """
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressor.compress(zeros)
    first = compressor.flush(zlib.Z_FULL_FLUSH)
    compressor.compress(zeros)
    unit = compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    check = zlib.decompressobj(-15)
    assert check.decompress(first + unit * 2 + tail) == bytes(3 << 20) and check.eof
    size = mebibytes << 20
    entry = {"path": member, "size": size, "sha256": "0" * 64, "role": "database"}
    metadata["members"] = [
        m
        for m in metadata["members"]  # type: ignore[attr-defined]
        if m["path"] != member
    ] + [entry]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100600 << 16
        with zf.open(info, "w", force_zip64=True) as handle:
            handle._compressor = _Passthrough()  # type: ignore[attr-defined]
            handle.write(first)
            block = unit * 1024
            left = mebibytes - 1
            while left >= 1024:
                handle.write(block)
                left -= 1024
            handle.write(unit * left + tail)
            handle._file_size = size  # type: ignore[attr-defined]
            handle._crc = 0  # not computed (10s of GB); the size check must come first  # type: ignore[attr-defined]
        zf.writestr("metadata.json", json.dumps(metadata))
    return target.stat().st_size


def _declare_size(archive: Path, member: str, declared: int, metadata: dict[str, object]) -> None:
    """Rewrite an archive so its central directory declares `declared` bytes for `member`."""
    _, members = _read_archive(archive)
    for entry in metadata["members"]:  # type: ignore[attr-defined]
        if entry["path"] == member:
            entry["size"] = declared
    archive.unlink()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.getinfo(member).file_size = declared  # what close() writes to the directory
        zf.writestr("metadata.json", json.dumps(metadata))


# --- 1. without --confirm --------------------------------------------------------------


def test_without_confirm_shows_counts_now_and_in_backup_and_changes_nothing(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    backed_up = _rows_of(sample_db)
    _lose_some_rows(sample_db)
    before_bytes = sample_db.read_bytes()
    before_rows = _rows_of(sample_db)
    with closing(sqlite3.connect(sample_db)) as conn:
        now = {name: len(rows) for name, rows in table_rows(conn).items()}
    _checkpoint(sample_db)
    tree = _tree(tmp_path, sample_db)

    for reference in ("latest", str(archive)):
        result = run_cli("restore", reference, db=sample_db)
        assert result.returncode == 8, result.stdout + result.stderr
        assert "--confirm" in result.stderr
        assert "Nothing was changed" in result.stderr
        assert archive.name in result.stdout
        # one line per table: rows now, rows in the backup
        shown = {
            m["name"]: (m["now"], m["then"])
            for m in re.finditer(
                r"^\s+(?P<name>\w+)\s+(?P<now>\d+|-)\s+(?P<then>\d+|-)\s*$",
                result.stdout,
                re.MULTILINE,
            )
        }
        for name in ("checkins", "journal_entries", "user_badges", "reminders", "users"):
            assert shown[name] == (str(now[name]), str(len(backed_up[name]))), (name, shown)
        assert int(shown["checkins"][0]) < int(shown["checkins"][1])

    assert sample_db.read_bytes() == before_bytes
    assert _rows_of(sample_db) == before_rows
    assert _tree(tmp_path, sample_db) == tree
    assert _safety_copies(tmp_path) == []
    assert _reports(tmp_path) == []
    # the validation's work folder is gone too
    assert [p.name for p in (tmp_path / "recovery").iterdir()] == []


# --- 2. restore latest --confirm -------------------------------------------------------


def test_restore_latest_brings_back_every_row_and_its_safety_backup_undoes_it(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    backed_up = _rows_of(sample_db)
    backed_up_fts = _fts_matches(sample_db)
    _lose_some_rows(sample_db)
    damaged = _rows_of(sample_db)
    assert damaged != backed_up

    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Restored from {archive.name} (database copy)" in result.stdout
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == backed_up
    assert _fts_matches(sample_db) == backed_up_fts
    _fts_integrity_ok(sample_db)

    # the safety copy taken first holds the state just before the restore
    (safety,) = _safety_copies(tmp_path)
    assert str(safety) in result.stdout
    (report,) = _reports(tmp_path)
    assert report["counts_match"] is True
    assert report["integrity_check"] == "ok"
    assert report["source_used"] == "database"
    assert report["archive"] == str(archive)
    assert report["safety_backup"] == str(safety)
    assert report["moved_aside"] == []
    assert report["row_counts"] == report["row_counts_in_backup"]

    # ... and restoring it undoes the restore exactly
    undo = run_cli("restore", str(safety), "--confirm", db=sample_db)
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == damaged


# --- 3. hostile archives ---------------------------------------------------------------


def _traversal(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    members[f"../../evil_{token}.txt"] = b"planted"
    return [_write_archive(target, metadata, members)]


def _absolute(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    members[f"/tmp/evil_abs_{token}.txt"] = b"planted"
    return [_write_archive(target, metadata, members)]


def _symlink(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    name = f"files/data/evil_link_{token}"
    members[name] = f"/tmp/evil_link_target_{token}".encode()
    return [_write_archive(target, metadata, members, attrs={name: stat.S_IFLNK | 0o777})]


def _declared_bomb(base: Path, target: Path, token: str) -> list[Path]:
    """The central directory declares a petabyte for the database (and metadata agrees)."""
    metadata, _ = _read_archive(base)
    shutil.copyfile(base, target)
    _declare_size(target, _member_of(metadata, "database"), 1 << 50, metadata)
    return [target]


def _bad_checksum(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    name = _member_of(metadata, "sql")
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0x20  # same size, other bytes
    members[name] = bytes(data)
    return [_write_archive(target, metadata, members, fix_hashes=False)]


def _no_metadata(base: Path, target: Path, token: str) -> list[Path]:
    _, members = _read_archive(base)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return [target]


def _unknown_version(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    metadata["format_version"] = 99
    return [_write_archive(target, metadata, members)]


def _not_a_zip(base: Path, target: Path, token: str) -> list[Path]:
    target.write_bytes(random.Random(SEED).randbytes(200_000))
    return [target]


def _truncated_zip(base: Path, target: Path, token: str) -> list[Path]:
    data = base.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    return [target]


def _member_not_listed(base: Path, target: Path, token: str) -> list[Path]:
    metadata, members = _read_archive(base)
    members[f"database/extra_{token}.db"] = b"x" * 100
    return [_write_archive(target, metadata, members, fix_hashes=False)]


def _wrong_counts(base: Path, target: Path, token: str) -> list[Path]:
    """Every copy intact and hashed, but metadata's row counts are not the database's."""
    metadata, members = _read_archive(base)
    metadata["database"]["tables"]["users"] += 1  # type: ignore[index]
    return [_write_archive(target, metadata, members)]


HOSTILE = {
    "path traversal": (_traversal, "not a safe relative path"),
    "absolute path": (_absolute, "is an absolute path"),
    "symbolic link": (_symlink, "is a symbolic link"),
    "declared zip bomb": (_declared_bomb, "ZIP bomb"),
    "bad checksum": (_bad_checksum, "SHA-256 differs from metadata.json"),
    "no metadata": (_no_metadata, "has no metadata.json"),
    "unknown format version": (_unknown_version, "unknown metadata format version 99"),
    "not a zip": (_not_a_zip, "is not a ZIP archive"),
    "truncated zip": (_truncated_zip, "is not a ZIP archive"),
    "member not listed": (_member_not_listed, "not listed in metadata.json"),
    "wrong row counts": (_wrong_counts, "no copy of the database in it can be trusted"),
}


def _planted(token: str, tmp_path: Path) -> list[Path]:
    """Every place a hostile member could have landed."""
    recovery = tmp_path / "recovery"
    bases = [tmp_path, recovery, recovery / "a" / "b", ROOT, ROOT / "backups", Path.cwd()]
    names = [f"evil_{token}.txt", f"../evil_{token}.txt", f"../../evil_{token}.txt"]
    found = [p for b in bases for n in names if (p := (b / n).resolve()).exists()]
    found += list(Path("/tmp").glob(f"evil*{token}*"))
    found += [p for p in tmp_path.rglob(f"*{token}*") if not p.name.endswith(".zip")]
    return found


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_written(
    case: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    build, message = HOSTILE[case]
    base = _backup(run_cli, sample_db)
    _lose_some_rows(sample_db)  # so a restore, had it happened, would show
    token = uuid.uuid4().hex
    (archive,) = build(base, tmp_path / f"hostile_{token}.zip", token)
    before_bytes = sample_db.read_bytes()
    before_rows = _rows_of(sample_db)
    _checkpoint(sample_db)
    tree = _tree(tmp_path, sample_db)

    for confirm in ((), ("--confirm",)):
        result = run_cli("restore", str(archive), *confirm, db=sample_db)
        assert result.returncode == 5, (case, result.returncode, result.stdout, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert archive.name in result.stderr  # says which archive

    assert sample_db.read_bytes() == before_bytes
    assert _rows_of(sample_db) == before_rows
    assert _tree(tmp_path, sample_db) == tree
    assert _planted(token, tmp_path) == []
    assert _safety_copies(tmp_path) == []
    assert list((tmp_path / "recovery").iterdir()) == []  # work folders removed, no report


@POSIX_ONLY
@pytest.mark.slow
def test_real_zip_bomb_bigger_than_the_free_space_is_refused_before_inflating(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    """A member that really inflates to more than half the free disk (honest sizes)."""
    base = _backup(run_cli, sample_db)
    metadata, _ = _read_archive(base)
    free = shutil.disk_usage(tmp_path).free
    mebibytes = (free // 2 + (4 << 30)) >> 20
    if mebibytes > 200_000:
        pytest.skip(f"{free >> 30} GB free: a bomb bigger than half of it takes > 200 MB here")
    bomb = tmp_path / "bomb.zip"
    packed = _write_zero_bomb(bomb, _member_of(metadata, "database"), mebibytes, metadata)
    assert packed < mebibytes * 1100  # about 1 KB per MiB
    _checkpoint(sample_db)
    before_bytes = sample_db.read_bytes()
    tree = _tree(tmp_path, sample_db)

    started = time.monotonic()
    result = run_cli("restore", str(bomb), "--confirm", db=sample_db)
    elapsed = time.monotonic() - started
    assert result.returncode == 5, result.stdout + result.stderr
    assert "ZIP bomb" in result.stderr
    assert elapsed < 10, f"took {elapsed:.1f} s: it inflated the bomb before refusing"
    assert sample_db.read_bytes() == before_bytes
    assert _tree(tmp_path, sample_db) == tree
    assert list((tmp_path / "recovery").iterdir()) == []


def test_database_of_another_application_is_refused(
    tmp_path: Path, sample_db: Path, chinook: Path, run_cli: RunCli
) -> None:
    """A valid archive of Chinook over the bot's database: RestoreAborted, exit 1."""
    foreign = _backup(run_cli, chinook)
    before_bytes = sample_db.read_bytes()
    before_rows = _rows_of(sample_db)
    tree = _tree(tmp_path, sample_db)

    for confirm in ((), ("--confirm",)):
        result = run_cli("restore", str(foreign), *confirm, db=sample_db)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "another application" in result.stderr
        assert "Nothing was restored" in result.stderr
        assert "DATABASE_PATH" in result.stderr  # how to restore it elsewhere

    assert sample_db.read_bytes() == before_bytes
    assert _rows_of(sample_db) == before_rows
    assert _tree(tmp_path, sample_db) == tree
    assert _safety_copies(tmp_path) == []
    assert list((tmp_path / "recovery").iterdir()) == []


def test_archive_that_does_not_exist_is_reported(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    result = run_cli("restore", str(tmp_path / "nowhere.zip"), "--confirm", db=sample_db)
    # no archive is an operation that failed (1), like `verify` of a missing one, not a bad one
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No archive at" in result.stderr
    # `latest` with no backup at all
    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No verified backup" in result.stderr


# --- 4. double safety: the SQL copy, then the JSON copy --------------------------------


def _damaged_copies(base: Path, target: Path, *, sql: bool) -> Path:
    """The archive with its .db pages overwritten (and the SQL dump cut short when `sql`),
    metadata recomputed so every checksum matches: only the database checks can tell."""
    metadata, members = _read_archive(base)
    db_member = _member_of(metadata, "database")
    members[db_member] = _damage_pages(members[db_member], 0.15)
    if sql:
        name = _member_of(metadata, "sql")
        members[name] = members[name][: len(members[name]) // 2]
    return _write_archive(target, metadata, members)


@pytest.mark.parametrize(("damage_sql", "source"), [(False, "sql"), (True, "json")])
def test_damaged_database_copy_is_rebuilt_from_the_sql_then_the_json_copy(
    damage_sql: bool, source: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    original = _rows_of(sample_db)
    original_fts = _fts_matches(sample_db)
    assert original["journal_fts"] and original["reminders"]  # FTS5, WITHOUT ROWID
    assert any(isinstance(v, bytes) for row in original["journal_entries"] for v in row)
    _lose_some_rows(sample_db)
    archive = _damaged_copies(base, tmp_path / f"damaged_{source}.zip", sql=damage_sql)

    shown = run_cli("restore", str(archive), db=sample_db)
    assert shown.returncode == 8, shown.stdout + shown.stderr
    assert f"Restores from the archived {source} copy" in shown.stdout
    assert "the database copy fails integrity_check" in shown.stdout

    result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"({source} copy)" in result.stdout
    assert "the database copy fails integrity_check" in result.stdout
    if damage_sql:
        assert "the sql copy" in result.stdout
    (report,) = _reports(tmp_path)
    assert report["source_used"] == source
    assert report["counts_match"] is True

    assert _integrity(sample_db) == "ok"
    restored = _rows_of(sample_db)
    if source == "sql":  # the dump copies FTS5's shadow tables verbatim
        assert restored == original
    else:  # JSON rebuilds the FTS index from the content rows
        assert _without_fts_internals(restored) == _without_fts_internals(original)
    assert restored["journal_fts"] == original["journal_fts"]
    assert _fts_matches(sample_db) == original_fts
    assert all(original_fts.values())
    _fts_integrity_ok(sample_db)
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone() == (0x504D4F52,)
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_every_copy_damaged_is_refused_and_changes_nothing(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    _lose_some_rows(sample_db)
    archive = _damaged_copies(base, tmp_path / "all_damaged.zip", sql=True)
    metadata, members = _read_archive(archive)
    name = _member_of(metadata, "json")
    members[name] = members[name][: len(members[name]) // 2]
    _write_archive(archive, metadata, members)
    before_bytes = sample_db.read_bytes()
    tree = _tree(tmp_path, sample_db)

    result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "no copy of the database in it can be trusted" in result.stderr
    for copy in ("database", "sql", "json"):
        assert f"the {copy} copy" in result.stderr
    assert sample_db.read_bytes() == before_bytes
    assert _tree(tmp_path, sample_db) == tree
    assert list((tmp_path / "recovery").iterdir()) == []


def test_sql_copy_restores_into_a_wal_database_with_another_page_size(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    with closing(sqlite3.connect(sample_db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA page_size=1024")  # databases made before SQLite 3.12 have these
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    base = _backup(run_cli, sample_db)
    original = _rows_of(sample_db)
    _lose_some_rows(sample_db)
    archive = _damaged_copies(base, tmp_path / "damaged.zip", sql=False)

    result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows_of(sample_db) == original


# --- 5. a connection held open across the restore --------------------------------------

HOLDER = r"""
import hashlib, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from tests.conftest import table_rows

def state(conn):
    return hashlib.sha256(repr(table_rows(conn)).encode()).hexdigest()

conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
count = "SELECT count(*) FROM checkins"
print("before", conn.execute(count).fetchone()[0], state(conn), flush=True)
conn.execute("BEGIN")  # a read transaction kept open across the restore
print("snapshot", state(conn), flush=True)
sys.stdin.readline()
print("snapshot-after", state(conn), flush=True)
conn.execute("COMMIT")
print("after", conn.execute(count).fetchone()[0], state(conn), flush=True)
conn.execute(
    "INSERT INTO users (user_id, first_name, joined_at) VALUES (987654321, 'Bot', '2024-05-01')"
)
print("integrity", conn.execute("PRAGMA integrity_check").fetchone()[0], flush=True)
"""


def _state(rows: Rows) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@POSIX_ONLY
def test_a_connection_held_open_across_the_restore_sees_the_restored_rows(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    _lose_some_rows(sample_db)
    old = _rows_of(sample_db)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(sample_db), str(ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        label, count, before = holder.stdout.readline().split()
        assert (label, int(count), before) == ("before", len(old["checkins"]), _state(old))
        assert holder.stdout.readline().split() == ["snapshot", _state(old)]

        result = run_cli("restore", "latest", "--confirm", db=sample_db)
        assert result.returncode == 0, result.stdout + result.stderr

        holder.stdin.write("go\n")
        holder.stdin.flush()
        out, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()
    assert holder.returncode == 0, err
    lines = [line.split() for line in out.splitlines()]
    # inside its read transaction it still sees the old rows, all of them (never a mix);
    # the first read after it sees every restored row; then it writes, and all is intact
    assert lines == [
        ["snapshot-after", _state(old)],
        ["after", str(len(restored["checkins"])), _state(restored)],
        ["integrity", "ok"],
    ]
    assert _integrity(sample_db) == "ok"
    now = _rows_of(sample_db)
    assert [r for r in now["users"] if r[0] == 987654321]
    now["users"] = [r for r in now["users"] if r[0] != 987654321]
    assert now == restored


# --- 6. restores killed at random points -----------------------------------------------


def _reset(db: Path, state_file: Path) -> None:
    """Put the old state back: the database file alone, no side files."""
    for path in [db, *_side_files(db), db.with_name(f".{db.name}.restoring")]:
        path.unlink(missing_ok=True)
    shutil.copyfile(state_file, db)


def _holds_lock(tmp_path: Path, pid: int) -> bool:
    lock = tmp_path / "backups" / ".lock"
    try:
        note = lock.read_text("utf-8", errors="replace")
        return note.startswith("restore started at") and note.endswith(f" by pid {pid}")
    except FileNotFoundError:
        return False


@POSIX_ONLY
@pytest.mark.slow
@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_restore_killed_at_random_points_leaves_the_old_or_the_new_database(
    journal_mode: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    """In WAL mode a kill leaves an uncommitted WAL tail; in rollback-journal mode a hot
    journal, which the tool itself must roll back before anything reads the database (the
    next backup here runs before any other program opens it)."""
    grow_journal(
        sample_db, rows=6_000, blob_bytes=4096, blob_every=2, seed=SEED
    )  # ~20 MB: the write takes several steps
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone() == (journal_mode,)
    archive = _backup(run_cli, sample_db)
    new = _rows_of(sample_db)
    _lose_some_rows(sample_db)
    old = _rows_of(sample_db)
    old_file = tmp_path / "old_state.db"
    shutil.copyfile(sample_db, old_file)
    keep = {"RETENTION_EMERGENCY": "1000", "RETENTION_MANUAL": "1000"}

    # calibrate: the whole run, and the part that holds the lock (the write itself)
    started = time.monotonic()
    proc = popen_cli(tmp_path, sample_db, "restore", str(archive), "--confirm", **keep)
    locked_at = released_at = None
    while proc.poll() is None:
        holding = _holds_lock(tmp_path, proc.pid)
        if holding and locked_at is None:
            locked_at = time.monotonic() - started
        if not holding and locked_at is not None and released_at is None:
            released_at = time.monotonic() - started
        time.sleep(0.001)
    total = time.monotonic() - started
    out, err = proc.communicate()
    assert proc.returncode == 0, out + err
    assert _rows_of(sample_db) == new
    lock_start = locked_at if locked_at is not None else total * 0.6
    lock_span = (released_at or total) - lock_start

    rng = random.Random(SEED)
    outcomes: list[tuple[str, str, int]] = []
    for number in range(KILLS):
        _reset(sample_db, old_file)
        proc = popen_cli(tmp_path, sample_db, "restore", str(archive), "--confirm", **keep)
        started = time.monotonic()
        if number % 3 == 0:  # anywhere in the run: validation, safety backup, write, report
            delay = rng.uniform(0.05, total)
            while proc.poll() is None and time.monotonic() - started < delay:
                time.sleep(0.001)
        else:  # while the live file is written: from the moment the lock is taken
            delay = rng.uniform(0, max(lock_span, 0.02))
            while proc.poll() is None and not _holds_lock(tmp_path, proc.pid):
                time.sleep(0.0005)
            time.sleep(delay)
        in_write = _holds_lock(tmp_path, proc.pid)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        killed = proc.returncode == -signal.SIGKILL
        assert killed or proc.returncode == 0, (proc.returncode, out, err)
        wal = sample_db.with_name(DB_NAME + ("-wal" if journal_mode == "wal" else "-journal"))
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        if journal_mode == "delete":  # the tool meets the hot journal first, not SQLite here
            after = run_cli("backup", db=sample_db, **keep)
            assert after.returncode == 0, (number, after.stdout + after.stderr)
            # rolled back and gone; or never hot: its header not yet written (SQLite writes
            # it only once the journal is synced, before the first page of the database)
            assert not wal.exists() or wal.read_bytes()[:1] in (b"", b"\0"), number

        assert _integrity(sample_db) == "ok", f"kill {number} after {delay:.3f} s"
        rows = _rows_of(sample_db)
        assert rows in (old, new), f"kill {number} after {delay:.3f} s left a mix"
        phase = ("writing" if in_write else "elsewhere") if killed else "finished"
        outcomes.append((phase, "new" if rows == new else "old", wal_bytes))

    summary = f"run {total:.2f} s, lock {lock_start:.2f}+{lock_span:.2f} s: {outcomes}"
    print(summary)
    assert sum(phase != "finished" for phase, _, _ in outcomes) >= KILLS // 2, summary
    # at least one kill landed inside the write, before its commit, and left the old rows
    assert ("writing", "old") in [(phase, state) for phase, state, _ in outcomes], summary

    # and afterwards a restore runs normally (no stale lock, no leftover in its way)
    _reset(sample_db, old_file)
    result = run_cli("restore", str(archive), "--confirm", db=sample_db, **keep)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows_of(sample_db) == new
    # a safety copy cut short by a kill is never listed: every one listed is whole
    copies = _safety_copies(tmp_path)
    assert copies
    for copy in copies:
        checked = run_cli("verify", str(copy), db=sample_db)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not list((tmp_path / "backups" / "pre-restore").glob(".tmp-*/*.zip"))  # cleaned


@POSIX_ONLY
def test_a_killed_restore_leaves_no_work_folder_behind(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    proc = popen_cli(tmp_path, sample_db, "restore", str(archive), "--confirm")
    deadline = time.monotonic() + 60
    while not list((tmp_path / "recovery").glob(".restore-*/*/candidate_*.db")):
        assert proc.poll() is None and time.monotonic() < deadline, "no candidate appeared"
        time.sleep(0.001)
    proc.kill()
    proc.communicate(timeout=60)
    result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "recovery").glob(".restore-*")) == []


@pytest.mark.parametrize("command", ["restore", "backup"])
def test_a_staging_file_a_killed_restore_left_is_removed_by_the_next_restore_or_backup(
    command: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    staging = sample_db.with_name(f".{sample_db.name}.restoring")
    staging.write_bytes(b"half of a database" * 1000)  # as a SIGKILL mid-copy leaves it
    args = ("restore", str(archive), "--confirm") if command == "restore" else ("backup",)

    done = run_cli(*args, db=sample_db)  # a restore that writes into the live file

    assert done.returncode == 0, done.stdout + done.stderr
    assert not staging.exists()
    assert _integrity(sample_db) == "ok"
    assert staging.name in (tmp_path / "logs" / "pmo_bot.log").read_text("utf-8")


# --- 7. a live database too damaged to open --------------------------------------------


def _overwrite_header(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.write(random.Random(SEED).randbytes(4096))


def test_unopenable_live_database_is_moved_aside_and_replaced(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    _checkpoint(sample_db)
    for path in _side_files(sample_db):  # empty ones a read-only look left; nobody is connected
        assert path.stat().st_size == 0 or path.name.endswith("-shm")
        path.unlink()
    _overwrite_header(sample_db)
    damaged = sample_db.read_bytes()

    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Restored from {archive.name}" in result.stdout
    assert (
        "none (no readable database to keep, or --no-safety-copy)" in result.stdout
    )  # no safety backup of an unreadable file
    assert _safety_copies(tmp_path) == []
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == restored

    (report,) = _reports(tmp_path)
    assert report["safety_backup"] is None
    assert report["counts_match"] is True
    (moved,) = [Path(p) for p in report["moved_aside"]]  # type: ignore[union-attr]
    assert moved.parent == tmp_path / "recovery"
    assert moved.name.startswith("damaged_") and moved.name.endswith(f"_{DB_NAME}")
    assert str(moved) in result.stdout
    assert moved.read_bytes() == damaged  # the damaged original, untouched


@POSIX_ONLY
def test_unopenable_live_database_is_moved_aside_with_its_wal_untouched(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    # the bot crashed with a committed change in its WAL, then the header was overwritten
    # (one small UPDATE: the WAL holds that leaf page only; were page 1 in the WAL, SQLite
    # would read it from there and the file would open)
    _crash_after_writing(
        sample_db,
        "UPDATE users SET first_name = 'In WAL' WHERE user_id = (SELECT min(user_id) FROM users)",
    )
    _overwrite_header(sample_db)
    damaged = {p.name: p.read_bytes() for p in [sample_db, *_side_files(sample_db)]}
    assert set(damaged) == {DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"}

    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows_of(sample_db) == restored
    (report,) = _reports(tmp_path)
    moved = {Path(p).name.split("_", 3)[-1]: Path(p) for p in report["moved_aside"]}  # type: ignore[union-attr]
    assert sorted(moved) == sorted(damaged)
    assert moved[DB_NAME].read_bytes() == damaged[DB_NAME]
    assert moved[DB_NAME + "-wal"].read_bytes() == damaged[DB_NAME + "-wal"]


@POSIX_ONLY
def test_live_database_with_damaged_pages_is_restored(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    """Header intact, pages garbage: the file opens, so it is overwritten in place."""
    archive = _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    _checkpoint(sample_db)
    sample_db.write_bytes(_damage_pages(sample_db.read_bytes(), 0.1))
    assert _integrity(sample_db) != "ok"

    result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == restored
    (report,) = _reports(tmp_path)
    assert report["counts_match"] is True
    # what the code does: a degraded safety copy of the damaged file comes first
    (safety,) = _safety_copies(tmp_path)
    assert report["safety_backup"] == str(safety)
    metadata, _ = _read_archive(safety)
    assert metadata["degraded"] is True


# --- 8. the live database is gone ------------------------------------------------------


def test_missing_live_database_is_recreated(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    _checkpoint(sample_db)
    for path in [sample_db, *_side_files(sample_db)]:
        path.unlink()

    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sample_db.is_file()
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == restored
    assert _safety_copies(tmp_path) == []
    (report,) = _reports(tmp_path)
    assert report["safety_backup"] is None
    assert report["counts_match"] is True
    assert not sample_db.with_name(f".{DB_NAME}.restoring").exists()


@POSIX_ONLY
def test_missing_live_database_with_a_leftover_wal_is_restored_exactly(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, sample_db)
    restored = _rows_of(sample_db)
    # committed changes left in the WAL (only updates: row counts stay the same) ...
    _crash_after_writing(sample_db, "UPDATE users SET first_name = 'Stale WAL'")
    sample_db.unlink()  # ... and the database file itself lost

    result = run_cli("restore", "latest", "--confirm", db=sample_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _integrity(sample_db) == "ok"
    assert _rows_of(sample_db) == restored


# --- 9. --include-files, in a copy of the project --------------------------------------


def _project_copy(tmp_path: Path) -> Path:
    """A copy of the tool whose project root is in tmp_path (so files restore there)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "backup_manager.py", project / "backup_manager.py")
    return project


def _run_project(
    project: Path, tmp_path: Path, db: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path, db, **extra)
    return subprocess.run(
        [sys.executable, str(project / "backup_manager.py"), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )


def _repo_files_digest() -> dict[str, str]:
    """The repository's own data and config files, to prove no test wrote into them."""
    names = ["data/quotes.json", "data/tips.json", "requirements.txt", "backup_manager.py"]
    return {n: _sha((ROOT / n).read_bytes()) for n in names if (ROOT / n).is_file()}


def test_include_files_restores_data_and_config_files_and_keeps_the_current_ones(
    tmp_path: Path, sample_db: Path
) -> None:
    repo_before = _repo_files_digest()
    project = _project_copy(tmp_path)
    files = {
        "data/quotes.json": '[{"text": "satu hari pada satu waktu 💪"}]',
        "data/tips.json": '[{"tip": "simpan HP di luar kamar"}]',
        "config/bot.ini": "[bot]\nname = pmo\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, "utf-8")
    external = tmp_path / "elsewhere" / "notes.txt"  # outside the project root
    external.parent.mkdir()
    external.write_text("archived, never restored", "utf-8")
    env = {
        "DATA_FILES": f"data/quotes.json,data/tips.json,{external}",
        "CONFIG_FILES": "config/bot.ini",
    }
    backup = _run_project(project, tmp_path, sample_db, "backup", **env)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    archive = Path(re.search(r"File: (\S+\.zip)", backup.stdout)[1])  # type: ignore[index]
    _, members = _read_archive(archive)
    assert "files/_external/notes.txt" in members

    restored = _rows_of(sample_db)
    _lose_some_rows(sample_db)
    for name in files:
        (project / name).write_text("changed since the backup", "utf-8")
    external.write_text("changed since the backup", "utf-8")

    plain = _run_project(project, tmp_path, sample_db, "restore", str(archive), "--confirm", **env)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert all((project / n).read_text("utf-8") == "changed since the backup" for n in files)

    result = _run_project(
        project, tmp_path, sample_db, "restore", str(archive), "--confirm", "--include-files", **env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows_of(sample_db) == restored
    for name, text in files.items():
        assert (project / name).read_text("utf-8") == text, name
    assert external.read_text("utf-8") == "changed since the backup"  # _external is skipped
    report = _reports(tmp_path)[-1]
    assert sorted(report["files_restored"]) == sorted(files)  # type: ignore[arg-type]
    aside = Path(str(report["files_kept_aside"]))
    assert aside.parent == tmp_path / "recovery"
    for name in files:
        assert (aside / name).read_text("utf-8") == "changed since the backup"
    assert _repo_files_digest() == repo_before


@pytest.mark.parametrize("planted", ["backup_manager.py", ".env"])
def test_include_files_writes_only_the_configured_files(
    planted: str, tmp_path: Path, sample_db: Path
) -> None:
    project = _project_copy(tmp_path)
    (project / "data").mkdir()
    (project / "data" / "quotes.json").write_text("[]", "utf-8")
    env = {"DATA_FILES": "data/quotes.json", "CONFIG_FILES": ""}
    backup = _run_project(project, tmp_path, sample_db, "backup", **env)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    archive = Path(re.search(r"File: (\S+\.zip)", backup.stdout)[1])  # type: ignore[index]
    metadata, members = _read_archive(archive)
    name = f"files/{planted}"
    members[name] = b"import os; os.system('echo pwned')\n"
    metadata["members"].append({"path": name, "role": "config"})  # type: ignore[union-attr]
    hostile = _write_archive(tmp_path / "hostile.zip", metadata, members)
    target = project / planted
    before = target.read_bytes() if target.exists() else None

    _run_project(
        project, tmp_path, sample_db, "restore", str(hostile), "--confirm", "--include-files", **env
    )
    after = target.read_bytes() if target.exists() else None
    assert after == before, f"the archive overwrote {planted} in the project root"
