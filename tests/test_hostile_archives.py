"""Hostile archives and faults (issue 9): the dry run touches nothing, nothing hangs or leaks.

Every case runs the real CLI (or the real bot against the fake Bot API) on real files
and hashes the whole tree before and after.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

import pytest

from src.services.archive import DeflatedFile
from tests.conftest import ROOT, cli_env
from tests.test_restore import (
    RunCli,
    _backup,
    _checkpoint,
    _damage_pages,
    _member_of,
    _overwrite_header,
    _planted,
    _project_copy,
    _read_archive,
    _rows_of,
    _run_project,
    _safety_copies,
    _tree,
    _without_fts_internals,
    _write_archive,
)

NOT_CONFIRMED = 8


def _with_sql_dump(base: Path, target: Path, dump: str) -> Path:
    """A copy of `base` whose database fails its checks and whose SQL dump is `dump`."""
    metadata, members = _read_archive(base)
    database = _member_of(metadata, "database")
    members[database] = _damage_pages(members[database], 0.5)
    members[_member_of(metadata, "sql")] = dump.encode("utf-8")
    return _write_archive(target, metadata, members)


def _attack_dumps(live: Path, tmp_path: Path, token: str) -> dict[str, str]:
    history = tmp_path / "backups" / "history.sqlite3"
    return {
        "attach_live": (
            f"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nATTACH DATABASE '{live}' AS live;\n"
            "DELETE FROM live.checkins;\nDELETE FROM live.users;\nCOMMIT;\n"
        ),
        "attach_new_file": (
            f"BEGIN TRANSACTION;\nATTACH DATABASE '{tmp_path}/evil_{token}.db' AS x;\n"
            "CREATE TABLE x.t(a);\nCOMMIT;\n"
        ),
        "vacuum_into": f"VACUUM INTO '{tmp_path}/evil_{token}.db';\n",
        "forged_history": (
            f"ATTACH DATABASE '{history}' AS h;\n"
            "INSERT OR REPLACE INTO h.verifications VALUES('forged', '2026-01-01', 1, NULL);\n"
        ),
        "hidden_in_insert": (
            "BEGIN TRANSACTION;\nCREATE TABLE t(a);\n"
            f"INSERT INTO t VALUES(1); ATTACH DATABASE '{live}' AS live; DELETE FROM live.users;\n"
            "COMMIT;\n"
        ),
        "load_extension": "SELECT load_extension('/tmp/evil');\n",
    }


@pytest.mark.parametrize(
    "case",
    [
        "attach_live",
        "attach_new_file",
        "vacuum_into",
        "forged_history",
        "hidden_in_insert",
        "load_extension",
    ],
)
def test_the_dry_run_of_a_hostile_sql_dump_changes_no_byte(
    case: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    token = uuid.uuid4().hex
    dump = _attack_dumps(sample_db, tmp_path, token)[case]
    archive = _with_sql_dump(base, tmp_path / f"hostile_{token}.zip", dump)
    _checkpoint(sample_db)
    rows, tree = _rows_of(sample_db), _tree(tmp_path, sample_db)
    project = _tree(ROOT, ROOT / "data" / "pmo_recovery.db")

    result = run_cli("restore", str(archive), db=sample_db)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (NOT_CONFIRMED, 5), (result.returncode, result.stderr)
    assert "Nothing was changed" in result.stderr or "refused" in result.stderr
    assert _rows_of(sample_db) == rows
    assert _tree(tmp_path, sample_db) == tree
    assert _tree(ROOT, ROOT / "data" / "pmo_recovery.db") == project
    assert _planted(token, tmp_path) == []
    assert _safety_copies(tmp_path) == []
    # the dump was refused, said so, and another copy (the JSON export) was used
    said = result.stdout + result.stderr
    assert "the sql copy in" in said and "could not be used" in said, said
    with closing(sqlite3.connect(tmp_path / "backups" / "history.sqlite3")) as conn:
        assert (
            conn.execute("SELECT count(*) FROM verifications WHERE archive='forged'").fetchone()[0]
            == 0
        )


def _with_database(base: Path, target: Path, change: str) -> Path:
    """A copy of `base` whose database (all three copies) has `change` applied."""
    metadata, members = _read_archive(base)
    work = target.with_suffix(".work.db")
    work.write_bytes(members[_member_of(metadata, "database")])
    with closing(sqlite3.connect(work)) as conn, conn:
        conn.executescript(change)
    members[_member_of(metadata, "database")] = work.read_bytes()
    # the other copies are made to agree, so only the schema check can stop it
    for role in ("sql", "json"):
        del members[_member_of(metadata, role)]
        metadata["members"] = [m for m in metadata["members"] if m["role"] != role]  # type: ignore[attr-defined,index]
    work.unlink()
    return _write_archive(target, metadata, members)


PLANTED_TRIGGER = (
    "CREATE TRIGGER wipe_on_start AFTER UPDATE ON users BEGIN "
    "DELETE FROM checkins; DELETE FROM journal_entries; END;"
)


def test_a_planted_trigger_is_shown_and_needs_allow_schema_change(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "planted.zip", PLANTED_TRIGGER)
    _checkpoint(sample_db)
    tree = _tree(tmp_path, sample_db)

    preview = run_cli("restore", str(archive), db=sample_db)
    assert preview.returncode == NOT_CONFIRMED
    assert "trigger wipe_on_start added" in preview.stdout
    assert "--confirm --allow-schema-change" in preview.stderr

    refused = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert refused.returncode == NOT_CONFIRMED, refused.stderr
    assert "would change the database's schema: trigger wipe_on_start added" in refused.stderr
    assert "--allow-schema-change" in refused.stderr
    assert _tree(tmp_path, sample_db) == tree  # not even a safety backup
    assert _safety_copies(tmp_path) == []

    done = run_cli("restore", str(archive), "--confirm", "--allow-schema-change", db=sample_db)
    assert done.returncode == 0, done.stderr
    assert "Schema change allowed: trigger wipe_on_start added" in done.stdout
    assert len(_safety_copies(tmp_path)) == 1  # the safety copy came first
    with closing(sqlite3.connect(sample_db)) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name='wipe_on_start'"
            ).fetchone()[0]
            == 1
        )


def test_a_foreign_application_id_is_a_schema_change(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "foreign.zip", "PRAGMA application_id=1234;")
    refused = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert refused.returncode == NOT_CONFIRMED, refused.stderr
    assert "application_id" in refused.stderr and "1234" in refused.stderr


def test_a_missing_live_database_needs_no_schema_consent(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "planted.zip", PLANTED_TRIGGER)
    for side in (sample_db, *sample_db.parent.glob(sample_db.name + "-*")):
        side.unlink()
    done = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr


# a trigger under a name SQLite keeps for itself, planted by writing the schema directly
SQLITE_NAMED_TRIGGER = (
    "CREATE TRIGGER planted_wipe AFTER UPDATE ON users BEGIN "
    "DELETE FROM checkins; DELETE FROM journal_entries; END;"
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_master SET name='sqlite_wipe', sql=replace(sql, 'planted_wipe', "
    "'sqlite_wipe') WHERE name='planted_wipe';"
    "PRAGMA writable_schema=OFF;"
)


def _assert_untouched(db: Path, rows: dict[str, list[tuple[object, ...]]]) -> None:
    """The live database keeps every row, has no planted trigger, and none fires.

    (FTS5's own tables are left out: a restore from the JSON copy rebuilds them.)
    """
    assert _without_fts_internals(_rows_of(db)) == _without_fts_internals(rows)
    with closing(sqlite3.connect(db)) as conn, conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "sqlite_wipe" not in names and "planted_wipe" not in names
        conn.execute("UPDATE users SET first_name = first_name")
    assert _rows_of(db)["checkins"] == rows["checkins"]


def test_a_trigger_planted_under_a_sqlite_name_is_refused(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "sqlite_named.zip", SQLITE_NAMED_TRIGGER)
    with closing(sqlite3.connect(tmp_path / "check.db")) as conn:  # it does pass the checks
        metadata, members = _read_archive(archive)
        (tmp_path / "check.db").write_bytes(members[_member_of(metadata, "database")])
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    _checkpoint(sample_db)
    rows = _rows_of(sample_db)

    for args in ((), ("--confirm",), ("--confirm", "--allow-schema-change")):
        result = run_cli("restore", str(archive), *args, db=sample_db)
        assert result.returncode == 5, (args, result.stdout, result.stderr)
        assert "trigger sqlite_wipe" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert _safety_copies(tmp_path) == []
    _assert_untouched(sample_db, rows)


def test_the_schema_comparison_leaves_out_only_what_sqlite_makes_itself(tmp_path: Path) -> None:
    from src.services.schema_diff import schema_changes

    live, archived = tmp_path / "live.db", tmp_path / "archived.db"
    for path in (live, archived):
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.executescript(
                "CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE);"
                "CREATE TABLE checkins(id INTEGER PRIMARY KEY); INSERT INTO users(name) "
                "VALUES('a'); ANALYZE;"
            )
    with closing(sqlite3.connect(archived)) as conn, conn:
        conn.executescript(SQLITE_NAMED_TRIGGER.replace("journal_entries", "checkins"))
    with closing(sqlite3.connect(live)) as now, closing(sqlite3.connect(archived)) as then:
        changes = [c.describe() for c in schema_changes(now, then)]
    assert changes == ["trigger sqlite_wipe added"]


PLANTING_DUMPS = {
    # writable_schema (which a dump of ours emits for virtual tables) lets CREATE use the name
    "created": (
        "PRAGMA writable_schema=ON;\n"
        "CREATE TRIGGER sqlite_wipe AFTER UPDATE ON users BEGIN DELETE FROM checkins; END;\n"
        "PRAGMA writable_schema=OFF;\n"
    ),
    # a row written into the schema table: only a virtual table's entry is let through
    "inserted": (
        "PRAGMA writable_schema=ON;\n"
        "INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql) VALUES('trigger',"
        "'sqlite_wipe','users',0,'CREATE TRIGGER sqlite_wipe AFTER UPDATE ON users "
        "BEGIN DELETE FROM checkins; END');\n"
        "PRAGMA writable_schema=OFF;\n"
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTING_DUMPS))
def test_a_sql_dump_that_plants_a_sqlite_named_trigger_is_refused(
    case: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    metadata, members = _read_archive(base)
    dump = members[_member_of(metadata, "sql")].decode("utf-8")
    head, _, tail = dump.rpartition("COMMIT;\n")
    archive = _with_sql_dump(
        base, tmp_path / f"{case}.zip", head + PLANTING_DUMPS[case] + "COMMIT;\n" + tail
    )
    _checkpoint(sample_db)
    rows = _rows_of(sample_db)

    result = run_cli("restore", str(archive), "--confirm", db=sample_db)

    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    if case == "created":  # the rebuilt copy holds it: the archive is refused outright
        assert result.returncode == 5, said
        assert "trigger sqlite_wipe" in result.stderr, said
    else:  # the dump could not be used (the JSON copy was, without the trigger)
        assert "the sql copy in" in said and "not authorized" in said, said
        assert result.returncode == 0, said
    _assert_untouched(sample_db, rows)


LOCK_HOLDER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_live_database_locked_by_another_program_is_not_restored_without_consent(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "planted.zip", PLANTED_TRIGGER)
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    rows = _rows_of(sample_db)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(sample_db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = run_cli("restore", str(archive), "--confirm", db=sample_db)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert result.returncode == 6, (result.returncode, result.stdout, result.stderr)
    assert "the bot or another program" in result.stderr and "Try again" in result.stderr
    assert "Traceback" not in result.stderr
    with closing(sqlite3.connect(sample_db)) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "wipe_on_start" not in names
    assert _rows_of(sample_db) == rows


def test_a_damaged_live_database_that_still_opens_needs_schema_consent(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    from tests.conftest import corrupt

    base = _backup(run_cli, sample_db)
    archive = _with_database(base, tmp_path / "planted.zip", PLANTED_TRIGGER)
    corrupt(sample_db)  # its rows cannot all be counted, but it opens: it is written into
    before = sample_db.read_bytes()

    refused = run_cli("restore", str(archive), "--confirm", db=sample_db)

    assert refused.returncode == NOT_CONFIRMED, refused.stdout + refused.stderr
    assert "trigger wipe_on_start added" in refused.stderr, refused.stderr
    assert sample_db.read_bytes() == before


def _many_members(target: Path, count: int, *, zip64: bool = False) -> Path:
    """A real ZIP of `count` empty members, written fast (no zipfile overhead per entry);
    with `zip64`, a ZIP64 end record gives the count the 16-bit field cannot hold."""
    local, central = bytearray(), bytearray()
    for n in range(count):
        name = f"logs/m{n:06d}.log".encode()
        offset = len(local)
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 33, 0, 0, 0, len(name), 0)
        local += name
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            0,
            0,
            33,
            0,
            0,
            0,
            len(name),
            0,
            0,
            0,
            0,
            0o100600 << 16,
            offset,
        )
        central += name
    end = struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        min(count, 0xFFFF),
        min(count, 0xFFFF),
        len(central),
        len(local),
        0,
    )
    records = b""
    if zip64:
        at = len(local) + len(central)
        records = struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), len(local)
        )
        records += struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    target.write_bytes(bytes(local + central + records + end))
    return target


@pytest.mark.parametrize(("zip64", "said"), [(False, "65,535 or more"), (True, "100,000")])
def test_an_archive_of_100000_members_is_refused_within_seconds(
    zip64: bool, said: str, tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _many_members(tmp_path / "absurd.zip", 100_000, zip64=zip64)
    with zipfile.ZipFile(archive) as zf:  # a real ZIP, not a broken one
        assert len(zf.infolist()) == 100_000
    for args in (("verify", str(archive)), ("restore", str(archive))):
        started = time.monotonic()
        result = run_cli(*args, db=sample_db, timeout=60)
        took = time.monotonic() - started
        assert result.returncode == 5, (args, result.stderr)
        assert f"it says it has {said} members, more than any backup has" in (
            result.stderr + result.stdout
        ), result.stderr
        assert "65535" not in result.stderr + result.stdout
        assert took < 20, took  # a generous bound for a slow CI machine; a second here


def test_a_log_file_with_a_colon_is_archived_so_that_it_can_be_restored(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pmo_bot-2026-12-03T03:00:00.log").write_text("a line\n", "utf-8")
    archive = _backup(run_cli, sample_db)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "logs/pmo_bot-2026-12-03T03_00_00.log" in names
    metadata, _members = _read_archive(archive)
    entry = next(m for m in metadata["members"] if m["path"].startswith("logs/pmo_bot"))  # type: ignore[attr-defined,index]
    assert entry["original"] == "pmo_bot-2026-12-03T03:00:00.log"
    assert run_cli("verify", str(archive), db=sample_db).returncode == 0
    done = run_cli("restore", str(archive), "--confirm", db=sample_db)
    assert done.returncode == 0, done.stderr
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True, check=False)
        assert tested.returncode == 0, tested.stdout


def test_verify_refuses_the_names_restore_refuses_and_latest_skips_such_an_archive(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    good = _backup(run_cli, sample_db)
    metadata, members = _read_archive(good)
    members["files/C:\\evil.txt"] = b"x"
    newer = good.with_name(good.name.replace(".zip", "_2.zip"))
    _write_archive(newer, metadata, members)
    # as an older version of the tool, whose verify passed it, would have recorded it
    from datetime import datetime

    from src.services.history import History

    History(tmp_path / "backups" / "history.sqlite3").record_verification(newer, datetime.now(), [])
    listed = run_cli("list", db=sample_db)  # the names are checked again: not ✅
    line = next(line for line in listed.stdout.splitlines() if line.endswith(newer.name))
    assert line.startswith("❌"), listed.stdout
    assert "not a safe relative path" in listed.stdout
    latest = run_cli("restore", "latest", db=sample_db)
    assert latest.returncode == NOT_CONFIRMED, latest.stderr
    assert good.name in latest.stdout
    assert newer.name in latest.stdout + latest.stderr  # said it was skipped
    verify = run_cli("verify", str(newer), db=sample_db)
    assert verify.returncode == 5 and "not a safe relative path" in verify.stdout + verify.stderr


def test_a_local_header_that_disagrees_with_the_directory_is_refused_like_unzip_does(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    archive = _backup(run_cli, sample_db)
    crafted = tmp_path / "crafted.zip"
    shutil.copyfile(archive, crafted)
    with zipfile.ZipFile(crafted) as zf:
        info = next(
            i
            for i in zf.infolist()
            if i.filename.startswith("logs/") or i.filename.endswith(".json")
        )
    with crafted.open("r+b") as raw:
        raw.seek(info.header_offset + 14)  # the local header's CRC
        raw.write(b"\x00\x00\x00\x00")
    result = run_cli("verify", str(crafted), db=sample_db)
    assert result.returncode == 5, result.stdout
    assert "local header" in result.stdout + result.stderr
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-tq", str(crafted)], capture_output=True, check=False)
        assert tested.returncode != 0


def _central_entry(archive: Path, name: str) -> int:
    """Where the central directory's entry for `name` starts."""
    with zipfile.ZipFile(archive) as zf:
        at = zf.start_dir
    data = archive.read_bytes()
    while data[at : at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + name_len] == name.encode():
            return at
        at += 46 + name_len + extra_len + comment_len
    raise KeyError(name)


def _patch(raw: BinaryIO, at: int, fmt: str, change: Callable[[int], int]) -> None:
    raw.seek(at)
    (value,) = struct.unpack(fmt, raw.read(struct.calcsize(fmt)))
    raw.seek(at)
    raw.write(struct.pack(fmt, change(value)))


# (field offset in the local header or the central entry, its format, the change)
_LOCAL_EDITS: dict[str, tuple[int, str, Callable[[int], int]]] = {
    "name": (30, "<B", lambda v: v ^ 1),
    "version": (4, "<H", lambda v: 63),
    "bit3": (6, "<H", lambda v: v | 0x08),
    "encrypted": (6, "<H", lambda v: v | 0x01),
    "utf8": (6, "<H", lambda v: v ^ 0x800),
    "level_hint": (6, "<H", lambda v: v ^ 0x02),
    "method": (8, "<H", lambda v: 0),
    "time": (10, "<H", lambda v: v ^ 1),
    "crc": (14, "<I", lambda v: 0),
    "packed": (18, "<I", lambda v: v + 1),
    "size": (22, "<I", lambda v: v + 1),
    "name_len": (26, "<H", lambda v: v + 1),
    "extra_len": (28, "<H", lambda v: v + 4),
}
_CENTRAL_EDITS: dict[str, tuple[int, str, Callable[[int], int]]] = {
    "bit3": (8, "<H", lambda v: v | 0x08),
    "packed_less": (20, "<I", lambda v: v - 1),
    "packed_more": (20, "<I", lambda v: v + 1),
    "offset": (42, "<I", lambda v: v + 1),
}


def _crafted_variants(base: Path, folder: Path) -> list[Path]:
    """Copies of `base` whose local headers or central entries disagree, one field each,
    on a member in the middle and on the last one (before the central directory)."""
    with zipfile.ZipFile(base) as zf:
        ordered = sorted(zf.infolist(), key=lambda i: i.header_offset)
    middle = next(i for i in ordered if i.filename.endswith(".json"))
    edits = [("local", n, e) for n, e in _LOCAL_EDITS.items()]
    edits += [("central", n, e) for n, e in _CENTRAL_EDITS.items()]
    edits.append(("both", "bit3", _LOCAL_EDITS["bit3"]))  # no descriptor follows the data
    variants = []
    for info, where in ((middle, "middle"), (ordered[-1], "last")):
        for side, name, (offset, fmt, change) in edits:
            target = folder / f"crafted_{where}_{side}_{name}.zip"
            shutil.copyfile(base, target)
            central = _central_entry(target, info.filename)
            with target.open("r+b") as raw:
                if side in ("local", "both"):
                    _patch(raw, info.header_offset + offset, fmt, change)
                if side in ("central", "both"):
                    field = offset if side == "central" else 8  # the central flags
                    _patch(raw, central + field, fmt, change)
            variants.append(target)
    return variants


def _with_data_descriptors(base: Path, target: Path) -> Path:
    """A sound copy of `base` written as a stream: every member's CRC and sizes follow its
    data (flag bit 3), as zip tools writing to a pipe do."""

    class Unseekable(io.RawIOBase):
        def __init__(self, raw: BinaryIO) -> None:
            self.raw = raw

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            return self.raw.write(data)

    with (
        target.open("wb") as raw,
        zipfile.ZipFile(base) as source,
        zipfile.ZipFile(Unseekable(raw), "w", zipfile.ZIP_DEFLATED) as written,
    ):
        for info in source.infolist():
            with written.open(info.filename, "w") as member:
                member.write(source.read(info))
    return target


@pytest.mark.skipif(not shutil.which("unzip"), reason="compares with Info-ZIP's unzip")
def test_every_crafted_header_disagreement_unzip_refuses_is_refused_by_verify(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    base = _backup(run_cli, sample_db)
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    verdicts = {}
    for archive in _crafted_variants(base, crafted):
        theirs = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True, check=False)
        ours = run_cli("verify", str(archive), db=sample_db)
        assert "Traceback" not in ours.stderr, ours.stderr
        verdicts[archive.stem] = (theirs.returncode, ours.returncode)
    missed = {name: v for name, v in verdicts.items() if v[0] != 0 and v[1] == 0}
    assert missed == {}, missed
    # the cases the audit found, and that the comparison above is not idle
    for name in ("middle_local_bit3", "last_local_bit3", "middle_both_bit3", "middle_local_utf8"):
        assert verdicts[f"crafted_{name}"][0] != 0, verdicts
    # a sound archive with data descriptors passes both
    streamed = _with_data_descriptors(base, tmp_path / "streamed.zip")
    unzipped = subprocess.run(["unzip", "-tq", str(streamed)], capture_output=True, check=False)
    assert unzipped.returncode == 0, unzipped.stdout
    passed = run_cli("verify", str(streamed), db=sample_db)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_a_failure_at_the_final_flush_of_a_compressed_member_does_not_hang(tmp_path: Path) -> None:
    class FullDisk:
        def compress(self, data: bytes) -> bytes:
            return b""

        def flush(self) -> bytes:
            raise OSError(28, "No space left on device")

    deflated = DeflatedFile(tmp_path / "x.part", 1)
    deflated._compressor = FullDisk()
    deflated.write(b"x" * 1000)
    outcome: list[BaseException | None] = []

    def finish() -> None:
        try:
            deflated.finish()
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    worker = threading.Thread(target=finish, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "finish() hung after the compressor failed"
    assert isinstance(outcome[0], OSError) and outcome[0].errno == 28


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_files_with_users_data_are_owner_only_under_umask_022(
    tmp_path: Path, sample_db: Path
) -> None:
    sample_db.chmod(0o640)
    env = cli_env(tmp_path, sample_db)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "backup_manager.py"), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            preexec_fn=lambda: os.umask(0o022),
            check=False,
            timeout=300,
        )

    assert run("backup", "--type", "manual").returncode == 0
    assert run("export").returncode == 0
    assert run("diagnose").returncode == 0
    assert run("repair").returncode == 0
    assert run("restore", "latest", "--confirm").returncode == 0
    written = [
        p
        for folder in ("backups", "recovery", "logs")
        for p in (tmp_path / folder).rglob("*")
        if p.is_file() and p.name != ".lock"
    ]
    assert written
    assert [p for p in written if not _private(p)] == []
    assert stat.S_IMODE(sample_db.stat().st_mode) == 0o640  # the replaced database kept its mode


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_a_folder_setting_that_is_a_file_is_named(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    (tmp_path / "afile").write_text("x")
    for name in ("BACKUP_DIR", "RECOVERY_DIR", "LOG_DIR"):
        result = run_cli("status", db=sample_db, **{name: str(tmp_path / "afile")})
        assert result.returncode == 3, result.stderr
        assert f"{name}=" in result.stderr and "is a file" in result.stderr


def test_a_env_file_that_is_not_utf8_names_the_line_and_never_prints_a_value(
    tmp_path: Path,
) -> None:
    from src.config.settings import read_env_file
    from src.errors import ConfigError, ExitStatus, exit_status_for

    secret = "123456:SECRET-token-value"
    (tmp_path / ".env").write_bytes(f"BOT_TOKEN={secret}\nNOTE=caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        read_env_file(tmp_path / ".env")
    message = str(raised.value)
    assert ".env:2" in message, message
    assert secret not in message and "caf" not in message
    assert exit_status_for(raised.value) == ExitStatus.CONFIG


def test_a_env_file_that_is_not_utf8_is_exit_3_through_the_cli_and_prints_no_value(
    tmp_path: Path, sample_db: Path
) -> None:
    project = _project_copy(tmp_path)
    secret = "123456789:AAF-not-a-real-token_but-shaped-like-one"
    (project / ".env").write_bytes(
        f"# settings\nBOT_TOKEN={secret}\nNOTE=caf\xe9 {secret}\n".encode("latin-1")
    )
    for args in (("status",), ("backup",), ("list",)):
        result = _run_project(project, tmp_path, sample_db, *args)
        said = result.stdout + result.stderr
        assert result.returncode == 3, (args, said)
        assert f"{project / '.env'}:3" in said or ".env:3" in said, said
        assert secret not in said and secret.split(":")[1] not in said, said
        assert "caf" not in said and "Traceback" not in said, said


def _can_mount_tmpfs(where: Path) -> bool:
    if os.name == "nt" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


@pytest.mark.slow
def test_disk_full_at_random_moments_never_hangs_and_frees_the_lock(
    tmp_path: Path, sample_db: Path
) -> None:
    backups = tmp_path / "backups"
    if not _can_mount_tmpfs(backups):
        pytest.skip("needs root and tmpfs to fill a real file system")
    with closing(sqlite3.connect(sample_db)) as conn, conn:  # a backup that takes a moment
        conn.execute("CREATE TABLE padding(b BLOB)")
        conn.executemany("INSERT INTO padding VALUES (randomblob(40000))", [()] * 300)
    env = {**cli_env(tmp_path, sample_db), "BACKUP_LOCK_TIMEOUT": "1"}
    command = [sys.executable, str(ROOT / "backup_manager.py"), "backup", "--type", "manual"]
    rng = __import__("random").Random(20261205)
    outcomes = []
    for attempt in range(6):
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=600m", "tmpfs", str(backups)], check=True
        )
        try:
            proc = subprocess.Popen(
                command,
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(rng.uniform(0, 0.8))
            try:  # fill the disk while the backup writes
                with (backups / "filler").open("wb") as filler:
                    while True:
                        filler.write(b"\0" * (1 << 20))
                        filler.flush()
            except OSError:
                pass
            try:
                _out, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"attempt {attempt}: the backup hung on a full disk")
            outcomes.append(proc.returncode)
            assert proc.returncode in (0, 7), (attempt, proc.returncode, err)
            assert "Traceback" not in err and "Unexpected error" not in err, err
            if proc.returncode == 7:
                assert str(backups) in err, err  # names the folder
            (backups / "filler").unlink()
            # the lock is free and nothing half-written is listed
            again = subprocess.run(
                command,
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert again.returncode == 0, again.stderr
            listed = subprocess.run(
                [sys.executable, str(ROOT / "backup_manager.py"), "verify", "--all"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert listed.returncode == 0, listed.stdout + listed.stderr
            assert not list(backups.rglob("*.partial"))
        finally:
            subprocess.run(["umount", "-l", str(backups)], check=False)
    assert 7 in outcomes, outcomes  # the disk did run full at least once
    errors = (tmp_path / "logs" / "errors.log").read_text("utf-8", "replace")
    assert "full" in errors


def _fill(folder: Path) -> None:
    """Write into `folder` until its file system is full."""
    try:
        with (folder / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * (1 << 16))
                filler.flush()
    except OSError:
        pass


@pytest.mark.skipif(os.name == "nt", reason="tmpfs")
def test_a_full_log_folder_is_said_once_and_the_command_goes_on(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    logs = tmp_path / "logs"
    if not _can_mount_tmpfs(logs):
        pytest.skip("needs root and tmpfs to fill a real file system")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(logs)], check=True)
    try:
        _fill(logs)
        result = run_cli("backup", "--type", "manual", db=sample_db)
    finally:
        subprocess.run(["umount", str(logs)], check=True)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "Logging error" not in said and "Traceback" not in said, said
    line = f"Cannot write to the log in {logs}: No space left on device"
    assert result.stderr.count(line) == 1, result.stderr
    assert "log lines are lost until there is room" in result.stderr


def test_a_log_file_that_cannot_be_written_is_said_once_not_per_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without root (no tmpfs): the log files' streams fail as a full disk does."""
    import logging

    from src.logging_setup import configure_logging

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    configure_logging(tmp_path / "logs")
    root = logging.getLogger()
    files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    try:
        assert len(files) == 2
        for handler in files:
            handler.stream.close()
            handler.stream = FullDisk()
        for n in range(5):
            logging.getLogger("test").error("line %d", n)
        first = capsys.readouterr().err
        for handler in files:  # room again: a later failure is said again
            handler.stream = io.StringIO()
        logging.getLogger("test").error("written")
        for handler in files:
            handler.stream = FullDisk()
        logging.getLogger("test").error("lost again")
        second = capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
    assert "Logging error" not in first and "Traceback" not in first, first
    line = f"⚠️ Cannot write to the log in {tmp_path / 'logs'}: No space left on device"
    assert first.count(line) == 1, first
    assert second.count(line) == 1, second


@pytest.mark.slow
def test_a_full_recovery_folder_is_named_and_no_good_backup_is_marked_failed(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    recovery = tmp_path / "recovery"
    if not _can_mount_tmpfs(recovery):
        pytest.skip("needs root and tmpfs to fill a real file system")
    _backup(run_cli, sample_db)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(recovery)], check=True)
    try:
        _fill(recovery)
        for args in (
            ("export",),
            ("diagnose",),
            ("repair",),
            ("verify", "--all"),
            ("restore", "latest", "--confirm"),
        ):
            result = run_cli(*args, db=sample_db)
            said = result.stdout + result.stderr
            assert result.returncode == 7, (args, said)
            assert f"{recovery} is full" in result.stderr or (
                f"on the disk holding {recovery}" in result.stderr
            ), (args, said)
            assert "Traceback" not in said and "Unexpected error" not in said, said
            assert "ZIP bomb" not in said and "skipped" not in said, said
        assert [p.name for p in recovery.iterdir()] == ["filler"]  # nothing half-written
    finally:
        subprocess.run(["umount", str(recovery)], check=True)
    # the good backup was not recorded as failed: it is still the one to restore
    listed = run_cli("list", db=sample_db)
    assert "❌" not in listed.stdout.split("✅ verified")[0], listed.stdout
    preview = run_cli("restore", "latest", db=sample_db)
    assert preview.returncode == NOT_CONFIRMED, preview.stdout + preview.stderr


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes and mounts")
def test_a_read_only_recovery_folder_is_named_by_repair(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    as_root = os.geteuid() == 0  # root ignores modes: a read-only mount it is
    if as_root:
        if not _can_mount_tmpfs(recovery):
            pytest.skip("as root, needs tmpfs to make a read-only folder")
        mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(recovery)]
        subprocess.run(mount, check=True)
    try:
        if as_root:
            subprocess.run(["mount", "-o", "remount,ro", str(recovery)], check=True)
        else:
            recovery.chmod(0o500)
        result = run_cli("repair", db=sample_db)
    finally:
        if as_root:
            subprocess.run(["umount", str(recovery)], check=True)
        else:
            recovery.chmod(0o700)
    said = result.stdout + result.stderr
    assert result.returncode == 7, said
    assert f"Cannot write in {recovery}" in result.stderr, said
    assert "Unexpected error" not in said and "Traceback" not in said, said


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes and mounts")
def test_a_read_only_backup_folder_can_be_looked_at_and_restored_from_but_not_written(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    backups = tmp_path / "backups"
    archive = _backup(run_cli, sample_db)
    as_root = os.geteuid() == 0  # root ignores modes: a read-only bind mount it is
    if as_root:
        bound = subprocess.run(["mount", "--bind", str(backups), str(backups)], check=False)
        if bound.returncode:
            pytest.skip("as root, needs a bind mount to make a read-only folder")
        subprocess.run(["mount", "-o", "remount,ro,bind", str(backups)], check=True)
    else:
        for folder in (backups, *[p for p in backups.rglob("*") if p.is_dir()]):
            folder.chmod(0o555)
    try:
        if os.access(backups, os.W_OK) and not as_root:
            pytest.skip("this user can write in a 0555 folder")
        _checkpoint(sample_db)
        before = sample_db.read_bytes()
        status = run_cli("status", db=sample_db)
        verify = run_cli("verify", "--all", db=sample_db)
        preview = run_cli("restore", "latest", db=sample_db)
        confirmed = run_cli("restore", "latest", "--confirm", db=sample_db)
    finally:
        if as_root:
            subprocess.run(["umount", str(backups)], check=True)
        else:
            for folder in (backups, *[p for p in backups.rglob("*") if p.is_dir()]):
                folder.chmod(0o700)
    for result in (status, verify, preview, confirmed):
        said = result.stdout + result.stderr
        assert "Traceback" not in said and "Unexpected error" not in said, said
    assert status.returncode == 0, status.stdout + status.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert preview.returncode == NOT_CONFIRMED, preview.stdout + preview.stderr
    assert archive.name in preview.stdout
    assert confirmed.returncode == 7, confirmed.stdout + confirmed.stderr
    assert f"Cannot write in {backups}" in confirmed.stderr, confirmed.stderr
    assert sample_db.read_bytes() == before  # no safety copy could be made: nothing changed


@pytest.mark.skipif(os.name == "nt", reason="tmpfs")
def test_restoring_over_an_unopenable_database_on_a_full_disk_changes_nothing(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    live = tmp_path / "live"
    if not _can_mount_tmpfs(live):
        pytest.skip("needs root and tmpfs to fill a real file system")
    archive = _backup(run_cli, sample_db)
    _checkpoint(sample_db)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(live)], check=True)
    try:
        db = live / sample_db.name
        shutil.copyfile(sample_db, db)
        _overwrite_header(db)  # it no longer opens: a restore replaces it as a file
        before = db.read_bytes()
        _fill(live)

        result = run_cli("restore", str(archive), "--confirm", db=db)

        said = result.stdout + result.stderr
        assert result.returncode == 7, said
        assert f"{db} is as it was" in result.stderr, said
        assert "Traceback" not in said and "Unexpected error" not in said, said
        assert db.read_bytes() == before
        assert sorted(p.name for p in live.iterdir()) == sorted([db.name, "filler"])
    finally:
        subprocess.run(["umount", str(live)], check=True)


HALF_WRITER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")  # changed pages spill into the database file at once
conn.execute("BEGIN")
conn.execute("UPDATE users SET first_name = 'half-written'")
conn.execute("DELETE FROM checkins")
print("written", flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_hot_journal_left_by_a_killed_writer_is_rolled_back_before_anything_reads(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    rows = _rows_of(sample_db)
    proc = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITER, str(sample_db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait(timeout=30)
    journal = sample_db.with_name(sample_db.name + "-journal")
    assert journal.exists() and journal.stat().st_size > 0

    diagnosis = run_cli("diagnose", db=sample_db)  # a read-only look, on a rolled-back copy
    assert "a hot journal" in diagnosis.stdout, diagnosis.stdout
    assert "quick_check: ok" in diagnosis.stdout and "CORRUPT" not in diagnosis.stdout
    backup = run_cli("backup", "--type", "manual", db=sample_db)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert not journal.exists()
    assert _rows_of(sample_db) == rows  # the half-done write is gone, every row is back
    preview = run_cli("restore", "latest", db=sample_db)
    assert preview.returncode == NOT_CONFIRMED, preview.stderr
    assert "damaged" not in preview.stdout + preview.stderr


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_status_and_export_read_past_a_hot_journal_without_changing_the_database(
    tmp_path: Path, sample_db: Path, run_cli: RunCli
) -> None:
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
        checkins = conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
    proc = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITER, str(sample_db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait(timeout=30)
    journal = sample_db.with_name(sample_db.name + "-journal")
    files = {p: p.read_bytes() for p in (sample_db, journal)}

    status = run_cli("status", db=sample_db)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "a hot journal" in status.stdout and "❌" not in status.stdout.split("BACKUPS")[0]
    exported = run_cli("export", db=sample_db)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    (folder,) = (tmp_path / "recovery").glob("data_export_*")
    summary = json.loads((folder / "summary.json").read_text("utf-8"))
    assert summary["database"] == str(sample_db)
    assert summary["tables"]["checkins"]["rows"] == checkins  # the half-done delete undone
    assert {p: p.read_bytes() for p in files} == files  # a read-only look: nothing changed
