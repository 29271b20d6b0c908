"""Off-machine copies against real servers on 127.0.0.1: rclone's S3 API and SFTP, a folder.

Every server a test starts, it stops. Encryption is checked with Debian's `age` both ways.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pyrage
import pytest

from src.config.settings import SETTING_NAMES
from src.errors import ExitStatus
from tests.conftest import corrupt, grow_journal, popen_cli, project_copy, table_rows
from tests.offsite_servers import (
    S3_SECRET,
    SFTP_PASSWORD,
    AgeKeys,
    RcloneServer,
    make_age_keys,
)

AGE = shutil.which("age")
needs_age = pytest.mark.skipif(AGE is None, reason="Debian's age is not installed")


@pytest.fixture
def keys(tmp_path: Path) -> AgeKeys:
    """An age key pair in tmp_path/keys."""
    folder = tmp_path / "keys"
    folder.mkdir()
    return make_age_keys(folder)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[RcloneServer]:
    """A real S3 API server (rclone serve s3) over tmp_path/s3root; bucket `bucket`."""
    server = RcloneServer("s3", tmp_path / "s3root", "s3test")
    (server.folder / "bucket").mkdir(parents=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[RcloneServer]:
    """A real SFTP server (rclone serve sftp) over tmp_path/sftproot."""
    server = RcloneServer("sftp", tmp_path / "sftproot", "sftptest")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def offsite(keys: AgeKeys | None, targets: str, *servers: RcloneServer, **extra: str) -> dict:
    """The settings of off-machine copies (and the rclone remotes of the servers)."""
    env = {"OFFSITE_TARGETS": targets, "RCLONE_CONFIG": os.devnull}
    if keys is not None:
        env |= {"OFFSITE_ENCRYPT_TO": keys.public, "AGE_IDENTITY_FILE": str(keys.identity_file)}
    for server in servers:
        env |= server.env()
    return env | extra


def age_decrypt(keys: AgeKeys, copy: Path) -> bytes:
    """Open a copy with Debian's age CLI."""
    assert AGE is not None
    done = subprocess.run(
        [AGE, "-d", "-i", str(keys.identity_file), str(copy)], capture_output=True, check=True
    )
    return done.stdout


def status_json(run_cli, db: Path, env: dict) -> dict:
    done = run_cli("status", "--json", db=db, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["offsite"]


def only_archive(tmp_path: Path, kind: str = "manual") -> Path:
    (archive,) = (tmp_path / "backups" / kind).glob("*.zip")
    return archive


def secrets_nowhere(tmp_path: Path, *secrets: str, outputs: tuple[str, ...] = ()) -> None:
    """No secret in what was printed, the logs, the history or any report."""
    for text in outputs:
        for secret in secrets:
            assert secret not in text
    for path in [
        *tmp_path.glob("logs/**/*"),
        *tmp_path.glob("backups/*.sqlite3*"),
        *tmp_path.glob("recovery/**/*.json"),
    ]:
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret[:4]}... leaked into {path}"


@needs_age
def test_every_backup_is_copied_encrypted_to_a_folder_s3_and_sftp(
    run_cli, sample_db, tmp_path, keys, s3, sftp
):
    env = offsite(
        keys, f"usb={tmp_path / 'usb'},cloud=s3test:bucket/pmo,box=sftptest:pmo", s3, sftp
    )
    (tmp_path / "usb").mkdir()
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert done.returncode == 0, done.stderr
    archive = only_archive(tmp_path)
    for target, how in (("usb", "sha256"), ("cloud", "md5"), ("box", "sha1")):
        assert f"Off-machine {target}: {archive.name} verified ({how}," in done.stdout
    copies = [
        tmp_path / "usb" / f"{archive.name}.age",
        s3.folder / "bucket" / "pmo" / f"{archive.name}.age",
        sftp.folder / "pmo" / f"{archive.name}.age",
    ]
    for copy in copies:
        assert copy.read_bytes().startswith(b"age-encryption.org/v1\n")
        assert age_decrypt(keys, copy) == archive.read_bytes()  # the very ZIP, by hand
    held = {t["name"]: t for t in status_json(run_cli, sample_db, env)["targets"]}
    assert {name: (t["copies"], t["pending"]) for name, t in held.items()} == {
        "usb": (1, 0),
        "cloud": (1, 0),
        "box": (1, 0),
    }
    assert all(t["encrypted"] and t["last_error"] is None for t in held.values())
    listed = run_cli("offsite", "list", "--json", db=sample_db, **env)
    assert listed.returncode == 0, listed.stderr
    for target in json.loads(listed.stdout):
        assert [(c["name"], c["verified"]) for c in target["copies"]] == [
            (f"{archive.name}.age", True)
        ]
    identity = keys.identity_file.read_text().splitlines()[-1]
    assert identity.startswith("AGE-SECRET-KEY-")
    verified = run_cli("offsite", "verify", "--all", db=sample_db, **env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    secrets_nowhere(
        tmp_path,
        S3_SECRET,
        SFTP_PASSWORD,
        identity,
        outputs=(done.stdout, done.stderr, verified.stdout, verified.stderr),
    )


@needs_age
def test_a_copy_age_made_by_hand_restores_on_a_brand_new_machine(
    run_cli, sample_db, tmp_path, keys
):
    made = run_cli("backup", "--type", "daily", db=sample_db)
    assert made.returncode == 0, made.stderr
    archive = only_archive(tmp_path, "daily")
    usb = tmp_path / "usb"
    usb.mkdir()
    subprocess.run(
        [AGE, "-r", keys.public, "-o", str(usb / f"{archive.name}.age"), str(archive)],
        check=True,
    )
    new = tmp_path / "new"
    env = offsite(keys, f"usb={usb}") | {
        "BACKUP_DIR": str(new / "backups"),
        "RECOVERY_DIR": str(new / "recovery"),
        "LOG_DIR": str(new / "logs"),
    }
    db = new / "data" / "pmo_recovery.db"
    preview = run_cli("restore", "latest", "--from", "usb", db=db, **env)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stderr
    assert not db.exists()
    done = run_cli("restore", "latest", "--from", "usb", "--confirm", db=db, **env)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(sample_db)) as old, closing(sqlite3.connect(db)) as restored:
        assert table_rows(restored) == table_rows(old)


def _run_in(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES} | env
    return subprocess.run(
        [sys.executable, str(project / "backup_manager.py"), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=clean,
        cwd=project,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_server_is_lost_and_a_fresh_clone_restores_every_row_from_s3(
    tmp_path, sample_template, keys, s3
):
    """The spec's Complete Data Loss: only the settings and the key survive the server."""
    server = project_copy(tmp_path / "server")
    db = server / "data" / "pmo_recovery.db"
    with closing(sqlite3.connect(sample_template)) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)
    env = offsite(keys, "cloud=s3test:bucket/bot1", s3) | {"MIN_FREE_MB": "0"}
    done = _run_in(server, env, "backup", "--type", "daily")
    assert done.returncode == 0, done.stderr
    assert "Off-machine cloud:" in done.stdout and "verified" in done.stdout
    with closing(sqlite3.connect(db)) as conn:
        before = table_rows(conn)
    shutil.rmtree(server)  # the server, its database and every local backup: gone

    fresh = project_copy(tmp_path / "fresh")
    assert not (fresh / "backups").exists() and not (fresh / "data" / "pmo_recovery.db").exists()
    done = _run_in(fresh, env, "restore", "latest", "--from", "cloud", "--confirm")
    assert done.returncode == 0, done.stdout + done.stderr
    with closing(sqlite3.connect(fresh / "data" / "pmo_recovery.db")) as conn:
        assert table_rows(conn) == before


def test_a_named_older_copy_restores_on_a_brand_new_machine(tmp_path, sample_template, keys, sftp):
    """`restore ARCHIVE_NAME --from NAME`: that copy, not the newest, into a fresh clone."""
    server = project_copy(tmp_path / "server")
    db = server / "data" / "pmo_recovery.db"
    with closing(sqlite3.connect(sample_template)) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)
    env = offsite(keys, "box=sftptest:bot1", sftp) | {"MIN_FREE_MB": "0"}
    assert _run_in(server, env, "backup", "--type", "daily").returncode == 0
    with closing(sqlite3.connect(db)) as conn:
        older_rows = table_rows(conn)
    (older,) = (server / "backups" / "daily").glob("*.zip")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM journal_entries WHERE rowid % 2 = 0")
    time.sleep(1.1)  # names carry the second
    assert _run_in(server, env, "backup", "--type", "daily").returncode == 0
    assert len(list((sftp.folder / "bot1").glob("*.zip.age"))) == 2
    shutil.rmtree(server)

    fresh = project_copy(tmp_path / "fresh")
    new_db = fresh / "data" / "pmo_recovery.db"
    preview = _run_in(fresh, env, "restore", older.name, "--from", "box")
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stdout + preview.stderr
    assert "No live database yet" in preview.stdout
    assert "yet: the restore creates it" in preview.stderr, preview.stderr
    assert "cannot be used" not in preview.stderr and "WARNING" not in preview.stderr
    done = _run_in(fresh, env, "restore", f"{older.name}.age", "--from", "box", "--confirm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"fetched {older.name}.age" in done.stdout
    with closing(sqlite3.connect(new_db)) as conn:
        assert table_rows(conn) == older_rows


def test_a_stopped_server_leaves_the_copy_pending_and_sync_catches_up(
    run_cli, sample_db, tmp_path, keys, s3
):
    env = offsite(keys, "cloud=s3test:bucket/pmo", s3)
    s3.stop()
    done = run_cli("backup", db=sample_db, **env)
    assert done.returncode == 0, done.stderr  # the local backup is made and verified
    assert "stays PENDING" in done.stdout and "cannot be reached" in done.stdout
    archive = only_archive(tmp_path)
    verified = run_cli("verify", str(archive), db=sample_db, **env)
    assert verified.returncode == 0, verified.stdout
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert (state["copies"], state["pending"]) == (0, 1)
    assert "cannot be reached" in state["last_error"]
    text = run_cli("status", db=sample_db, **env).stdout
    assert "pending: 1" in text and "Last error" in text
    failed = run_cli("offsite", "sync", db=sample_db, **env)
    assert failed.returncode == ExitStatus.OFFSITE, failed.stdout
    s3.start()
    caught_up = run_cli("offsite", "sync", db=sample_db, **env)
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert (state["copies"], state["pending"], state["last_error"]) == (1, 0, None)
    assert (s3.folder / "bucket" / "pmo" / f"{archive.name}.age").is_file()
    again = run_cli("offsite", "sync", db=sample_db, **env)
    assert again.returncode == 0 and "everything is copied already" in again.stdout


def test_the_next_backup_also_sends_the_copies_earlier_ones_left_pending(
    run_cli, sample_db, tmp_path, keys
):
    usb = tmp_path / "usb"  # not mounted yet
    env = offsite(keys, f"usb={usb}")
    first = run_cli("backup", db=sample_db, **env)
    assert first.returncode == 0 and "stays PENDING" in first.stdout, first.stdout
    assert status_json(run_cli, sample_db, env)["targets"][0]["pending"] == 1
    usb.mkdir()
    time.sleep(1.1)  # names carry the second
    second = run_cli("backup", db=sample_db, **env)
    assert second.returncode == 0, second.stderr
    archives = sorted((tmp_path / "backups" / "manual").glob("*.zip"))
    assert len(archives) == 2
    for archive in archives:
        assert f"Off-machine usb: {archive.name} verified" in second.stdout, second.stdout
    assert sorted(p.name for p in usb.iterdir()) == [f"{a.name}.age" for a in archives]
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert (state["copies"], state["pending"]) == (2, 0)


def test_a_backup_starts_older_pending_copies_only_within_its_time_budget(
    settings_for, sample_db, tmp_path, keys
):
    from src.services.backup_service import create_backup
    from src.services.offsite import copying

    usb = tmp_path / "usb"
    usb.mkdir()
    settings = settings_for(sample_db, OFFSITE_TARGETS=f"usb={usb}", OFFSITE_ENCRYPT_TO=keys.public)
    older = create_backup(settings, "manual", trigger="test", send_offsite=False).path
    time.sleep(1.1)
    newer = create_backup(settings, "manual", trigger="test", send_offsite=False).path
    run = copying.send_pending(settings, first={older.name}, catch_up_seconds=0)
    assert [(o.archive, o.ok) for o in run.outcomes] == [(older.name, True)]
    assert [p.name for p in usb.iterdir()] == [f"{older.name}.age"]  # newer: still pending
    assert 0 < copying.CATCH_UP_SECONDS <= 600
    run = copying.send_pending(settings, first={older.name}, catch_up_seconds=60)
    assert [(o.archive, o.ok) for o in run.outcomes] == [(newer.name, True)]


def test_wrong_credentials_are_said_and_never_shown(run_cli, sample_db, tmp_path, keys, s3):
    wrong = "wrong-secret-value-that-must-not-leak-0123"
    env = offsite(keys, "cloud=s3test:bucket/pmo") | s3.env(secret=wrong)
    done = run_cli("backup", db=sample_db, **env)
    assert done.returncode == 0, done.stderr
    assert "credentials were refused" in done.stdout
    listed = run_cli("offsite", "list", db=sample_db, **env)
    assert listed.returncode == ExitStatus.OFFSITE
    status = run_cli("status", "--json", db=sample_db, **env)
    secrets_nowhere(
        tmp_path,
        wrong,
        S3_SECRET,
        outputs=(done.stdout, done.stderr, listed.stdout, listed.stderr, status.stdout),
    )
    assert not list((s3.folder / "bucket").rglob("*.age"))
    fixed = offsite(keys, "cloud=s3test:bucket/pmo", s3)  # the right secret again
    caught_up = run_cli("offsite", "sync", db=sample_db, **fixed)
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    state = status_json(run_cli, sample_db, fixed)["targets"][0]
    assert (state["copies"], state["pending"], state["last_error"]) == (1, 0, None)
    assert (s3.folder / "bucket" / "pmo" / f"{only_archive(tmp_path).name}.age").is_file()


def test_a_server_killed_mid_upload_never_counts_and_the_copy_is_sent_again(
    run_cli, sample_db, tmp_path, keys, s3
):
    grow_journal(sample_db, rows=400, blob_bytes=40_000, blob_every=1, seed=7)  # ~16 MB
    env = offsite(keys, "cloud=s3test:bucket/pmo", s3) | {"RCLONE_BWLIMIT": "4M"}
    process = popen_cli(tmp_path, sample_db, "backup", **env)
    time.sleep(0.5)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "backups" / "manual").glob("*.zip")):  # the upload starts now
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(1.0)
    s3.kill()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "stays PENDING" in out
    archive = only_archive(tmp_path)
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert (state["copies"], state["pending"]) == (0, 1)
    s3.start()
    done = run_cli("offsite", "sync", db=sample_db, **(env | {"RCLONE_BWLIMIT": "0"}))
    assert done.returncode == 0, done.stdout + done.stderr
    copy = s3.folder / "bucket" / "pmo" / f"{archive.name}.age"
    assert copy.stat().st_size > archive.stat().st_size
    if AGE:
        assert age_decrypt(keys, copy) == archive.read_bytes()


def test_a_tampered_copy_fails_offsite_verify_and_is_sent_again(run_cli, sample_db, tmp_path, keys):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    good = run_cli("offsite", "verify", db=sample_db, **env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "every check" not in good.stderr
    (copy,) = usb.glob("*.age")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    bad = run_cli("offsite", "verify", db=sample_db, **env)
    assert bad.returncode == ExitStatus.INTEGRITY
    assert copy.name in bad.stdout and "does not decrypt" in bad.stdout
    assert status_json(run_cli, sample_db, env)["targets"][0]["pending"] == 1
    resent = run_cli("offsite", "sync", db=sample_db, **env)
    assert resent.returncode == 0, resent.stdout
    assert run_cli("offsite", "verify", db=sample_db, **env).returncode == 0


def test_a_missing_or_wrong_identity_is_a_clear_error(run_cli, sample_db, tmp_path, keys):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    before = sample_db.read_bytes()
    other = make_age_keys(tmp_path / "keys", "other.txt")
    wrong = run_cli(
        "restore",
        "latest",
        "--from",
        "usb",
        "--confirm",
        db=sample_db,
        **(env | {"AGE_IDENTITY_FILE": str(other.identity_file)}),
    )
    assert wrong.returncode == ExitStatus.CONFIG
    assert "does not open" in wrong.stderr and "AGE-SECRET-KEY" not in wrong.stderr
    missing = run_cli(
        "restore", "latest", "--from", "usb", db=sample_db, **(env | {"AGE_IDENTITY_FILE": ""})
    )
    assert missing.returncode == ExitStatus.CONFIG
    assert "AGE_IDENTITY_FILE is not set" in missing.stderr
    unknown = run_cli("restore", "latest", "--from", "nas", db=sample_db, **env)
    assert unknown.returncode == ExitStatus.CONFIG and "'nas'" in unknown.stderr
    assert sample_db.read_bytes() == before


def test_without_a_recipient_nothing_leaves_unless_plaintext_is_allowed(
    run_cli, sample_db, tmp_path
):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = {"OFFSITE_TARGETS": f"usb={usb}"}
    done = run_cli("backup", db=sample_db, **env)
    assert done.returncode == 0
    assert "OFFSITE_ENCRYPT_TO" in done.stdout and not list(usb.iterdir())
    status = run_cli("status", db=sample_db, **env)
    assert "OFFSITE_ENCRYPT_TO" in status.stdout
    sync = run_cli("offsite", "sync", db=sample_db, **env)
    assert sync.returncode == ExitStatus.OFFSITE and "OFFSITE_ENCRYPT_TO" in sync.stderr
    plain = run_cli("offsite", "sync", db=sample_db, **(env | {"OFFSITE_PLAINTEXT": "true"}))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    archive = only_archive(tmp_path)
    assert (usb / archive.name).read_bytes() == archive.read_bytes()
    text = run_cli("status", db=sample_db, **(env | {"OFFSITE_PLAINTEXT": "true"})).stdout
    assert "NOT encrypted" in text


def test_target_retention_keeps_the_newest_and_never_touches_other_files(
    run_cli, sample_db, tmp_path, keys
):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "notes.txt").write_text("mine")
    foreign = usb / "pmo_recovery_backup_manual_20200101_000000.zip.age"  # ours by name only
    foreign.write_bytes(b"from another machine")
    env = offsite(keys, f"usb={usb}", OFFSITE_RETENTION_MANUAL="2")
    for _ in range(4):
        assert run_cli("backup", db=sample_db, **env).returncode == 0
    newest = sorted(p.name for p in (tmp_path / "backups" / "manual").glob("*.zip"))[-2:]
    assert sorted(p.name for p in usb.iterdir()) == sorted(
        [*(f"{name}.age" for name in newest), "notes.txt", foreign.name]
    )


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("OFFSITE_ENCRYPT_TO", "age1notakey", "recipient 1 is not a valid public key"),
        ("OFFSITE_ENCRYPT_TO", "AGE-SECRET-KEY-1QQQ", "PRIVATE key"),
        ("OFFSITE_ENCRYPT_TO", "@missing-recipients.txt", "cannot read the recipients file"),
        ("OFFSITE_TARGETS", "9lives=/mnt/usb", "a target's name is a letter"),
        ("OFFSITE_TARGETS", "usb=/a,usb=/b", "used twice"),
        ("OFFSITE_TARGETS", "usb", "not NAME=DESTINATION"),
        ("OFFSITE_TYPES", "daily,hourly", "hourly is no backup type"),
        ("OFFSITE_RETENTION_DAILY", "0", "between 1 and"),
        ("OFFSITE_STALE_HOURS", "soon", "not a whole number"),
        ("OFFSITE_PLAINTEXT", "maybe", "true or false"),
    ],
)
def test_invalid_offsite_settings_stop_with_exit_3_naming_the_variable(
    run_cli, sample_db, variable, value, words
):
    done = run_cli("status", db=sample_db, **{variable: value})
    assert done.returncode == ExitStatus.CONFIG
    assert variable in done.stderr and words in done.stderr
    assert "AGE-SECRET-KEY-1QQQ" not in done.stderr


@needs_age
def test_recipients_from_a_file_and_an_ssh_key(run_cli, sample_db, tmp_path, keys):
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        pytest.skip("ssh-keygen is not installed")
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "keys" / "id")],
        check=True,
    )
    ssh_public = (tmp_path / "keys" / "id.pub").read_text().strip()
    (tmp_path / "keys" / "recipients.txt").write_text(f"# team\n{keys.public}\n{ssh_public}\n")
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}") | {
        "OFFSITE_ENCRYPT_TO": f"@{tmp_path / 'keys' / 'recipients.txt'}"
    }
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    (copy,) = usb.glob("*.age")
    archive = only_archive(tmp_path)
    assert age_decrypt(keys, copy) == archive.read_bytes()
    by_ssh = subprocess.run(
        [AGE, "-d", "-i", str(tmp_path / "keys" / "id"), str(copy)],
        capture_output=True,
        check=True,
    )
    assert by_ssh.stdout == archive.read_bytes()


def _mount_tmpfs(where: Path, size: str) -> bool:
    """Mount a small tmpfs (root only); False where that is not possible."""
    if os.name == "nt" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_full_remote_leaves_the_copy_pending_and_the_local_backup_intact(
    run_cli, sample_db, tmp_path, keys
):
    server = RcloneServer("s3", tmp_path / "s3root", "s3test")
    if not _mount_tmpfs(server.folder, "16m"):
        pytest.skip("needs root and tmpfs to fill a real file system behind the server")
    try:
        assert run_cli("backup", db=sample_db).returncode == 0  # no target yet: its size
        size = only_archive(tmp_path).stat().st_size
        (server.folder / "bucket").mkdir()
        filler = server.folder / "filler"
        free = shutil.disk_usage(server.folder).free
        # room for all but the last 64 KiB of a copy: the server fails to store it, and
        # (little being in flight then) answers so, rather than resetting the connection
        filler.write_bytes(b"\0" * (free - size + (64 << 10)))
        server.start()
        env = offsite(keys, "cloud=s3test:bucket/pmo", server)
        time.sleep(1.1)  # names carry the second
        done = run_cli("backup", db=sample_db, **env)
        assert done.returncode == 0, done.stderr
        assert "stays PENDING" in done.stdout, done.stdout
        assert "the server failed to store it (it may be full" in done.stdout, done.stdout
        assert "rclone said: " in done.stdout and "InternalError" in done.stdout
        archive = sorted((tmp_path / "backups" / "manual").glob("*.zip"))[-1]
        assert run_cli("verify", str(archive), db=sample_db, **env).returncode == 0
        state = status_json(run_cli, sample_db, env)["targets"][0]
        assert (state["copies"], state["pending"]) == (0, 1)
        assert "may be full" in state["last_error"]
        assert not any(p.name.endswith(".age") for p in server.folder.rglob("*") if p.is_file())
        filler.unlink()  # room again: the pending copy goes out, the server never restarted
        caught_up = run_cli("offsite", "sync", db=sample_db, **env)
        assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
        state = status_json(run_cli, sample_db, env)["targets"][0]
        assert (state["pending"], state["last_error"]) == (0, None)
        assert (server.folder / "bucket" / "pmo" / f"{archive.name}.age").is_file()
    finally:
        server.stop()
        subprocess.run(["umount", "-l", str(server.folder)], capture_output=True, check=False)


def test_an_upload_our_side_cannot_finish_never_completes_there(s3, monkeypatch):
    from src.services.offsite.targets.rclone import RcloneTarget

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RCLONE_CONFIG", os.devnull)
    target = RcloneTarget("cloud", "s3test:bucket/pmo")
    assert not target.partial_uploads()  # S3 stores an object whole or not: sent directly

    def half_then_fail(out) -> None:
        out.write(os.urandom(3 << 20))
        raise RuntimeError("the local disk failed mid-read")

    with pytest.raises(RuntimeError):
        target.upload("pmo_recovery_backup_manual_20261205_030000.zip.age", half_then_fail)
    time.sleep(0.5)
    assert target.stat("pmo_recovery_backup_manual_20261205_030000.zip.age") is None
    assert not list((s3.folder / "bucket").rglob("*.age"))
    target.upload("ok.age", lambda out: out.write(b"whole"))
    found = target.stat("ok.age")
    assert found is not None and found.size == 5 and found.hashes["md5"]


def test_secrets_inside_an_inline_destination_are_never_shown(
    run_cli, sample_db, tmp_path, keys, s3
):
    from tests.offsite_servers import S3_KEY

    inline = (
        f":s3,provider=Rclone,endpoint='http://127.0.0.1:{s3.port}',"
        f"access_key_id={S3_KEY},secret_access_key={S3_SECRET}:bucket/inline"
    )
    env = offsite(keys, f"cloud={inline}")
    outputs = []
    for args in (
        ("backup",),
        ("status",),
        ("status", "--json"),
        ("offsite", "list"),
        ("offsite", "verify"),
        ("restore", "latest", "--from", "cloud", "--confirm"),
    ):
        done = run_cli(*args, db=sample_db, **env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        outputs += [done.stdout, done.stderr]
    assert "rclone :s3,…:bucket/inline" in outputs[2]
    assert list((s3.folder / "bucket" / "inline").glob("*.zip.age"))
    s3.stop()  # a failure's words, too
    failed = run_cli("offsite", "list", db=sample_db, **env)
    assert failed.returncode == ExitStatus.OFFSITE
    secrets_nowhere(tmp_path, S3_SECRET, S3_KEY, outputs=(*outputs, failed.stdout, failed.stderr))


def test_rclone_settings_in_the_env_file_reach_rclone(settings_for, sample_db, tmp_path, keys, s3):
    from src.services.backup_service import create_backup

    lines = [f"{name}={value}" for name, value in s3.env().items()]
    (tmp_path / ".env").write_text("\n".join([*lines, "RCLONE_CONFIG=/dev/null", ""]))
    settings = settings_for(
        sample_db, OFFSITE_TARGETS="cloud=s3test:bucket/fromenv", OFFSITE_ENCRYPT_TO=keys.public
    )
    assert not any(name.startswith("RCLONE_CONFIG_S3TEST") for name in os.environ)
    result = create_backup(settings, "manual", trigger="test")
    assert result.offsite.ok, result.offsite
    assert (s3.folder / "bucket" / "fromenv" / f"{result.path.name}.age").is_file()


def test_a_copy_gone_from_the_target_is_reported_and_sent_again(run_cli, sample_db, tmp_path, keys):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    newest = sorted(usb.glob("*.age"))[-1]
    newest.rename(tmp_path / "elsewhere.age")  # deleted by hand, or a disk swapped
    verify = run_cli("offsite", "verify", db=sample_db, **env)
    assert verify.returncode == ExitStatus.INTEGRITY and newest.name in verify.stdout
    assert "gone" in verify.stdout
    assert status_json(run_cli, sample_db, env)["targets"][0]["pending"] == 1
    assert run_cli("offsite", "sync", db=sample_db, **env).returncode == 0
    assert newest.is_file()
    newest.unlink()  # and found by a sync alone
    synced = run_cli("offsite", "sync", db=sample_db, **env)
    assert synced.returncode == 0, synced.stdout
    assert newest.is_file() and "verified" in synced.stdout


@pytest.mark.parametrize("command", ["sync", "list", "verify"])
def test_a_target_that_cannot_be_reached_is_exit_10_for_every_offsite_command(
    run_cli, sample_db, tmp_path, keys, command
):
    env = offsite(keys, "cloud=nosuchremote:bucket")
    done = run_cli("offsite", command, db=sample_db, **env)
    assert done.returncode == ExitStatus.OFFSITE, (done.returncode, done.stdout, done.stderr)
    assert "no remote of that name" in done.stdout + done.stderr


def test_a_wrong_copy_outweighs_an_unreachable_target_in_offsite_verify(
    run_cli, sample_db, tmp_path, keys
):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb},cloud=nosuchremote:bucket")
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    (copy,) = usb.glob("*.age")
    copy.write_bytes(copy.read_bytes()[:-10])
    done = run_cli("offsite", "verify", db=sample_db, **env)
    assert done.returncode == ExitStatus.INTEGRITY, done.stdout + done.stderr
    assert copy.name in done.stdout and "no remote of that name" in done.stdout


def test_a_restores_safety_backup_is_queued_not_uploaded(settings_for, sample_db, tmp_path, keys):
    from src.services.backup_service import create_backup
    from src.services.offsite.ledger import Ledger

    usb = tmp_path / "usb"
    usb.mkdir()
    settings = settings_for(sample_db, OFFSITE_TARGETS=f"usb={usb}", OFFSITE_ENCRYPT_TO=keys.public)
    result = create_backup(settings, "emergency", trigger="restore", send_offsite=False)
    assert result.offsite.not_copied and result.offsite.not_copied.startswith("queued")
    assert not list(usb.iterdir())
    (record,) = Ledger(settings.history_path).records("usb")
    assert record.state == "pending" and record.archive == result.path.name


def test_latest_from_a_target_passes_by_degraded_archives_and_plain_copies(
    run_cli, sample_db, tmp_path, keys
):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", "--type", "daily", db=sample_db, **env).returncode == 0
    (daily,) = usb.glob("*.age")
    time.sleep(1.1)  # names carry the second: the later archives must be the newer ones
    done = run_cli("restore", "latest", "--confirm", db=sample_db, **env)  # a safety copy
    assert done.returncode == 0, done.stderr
    assert run_cli("offsite", "sync", db=sample_db, **env).returncode == 0
    assert len(list((tmp_path / "backups" / "pre-restore").glob("*.zip"))) == 1
    assert not list(usb.glob("*pre-restore*"))  # safety copies stay on this machine
    corrupt(sample_db)
    damaged = run_cli("backup", "--type", "emergency", db=sample_db, **env)
    assert damaged.returncode == 0, damaged.stderr
    (degraded,) = usb.glob("*emergency*.age")
    planted = usb / "pmo_recovery_backup_daily_20991231_000000.zip"  # plain: anyone's
    shutil.copyfile(only_archive(tmp_path, "daily"), planted)
    preview = run_cli("restore", "latest", "--from", "usb", db=sample_db, **env)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED, preview.stderr
    assert f"fetched {daily.name}" in preview.stdout
    assert f"skipped the copy {degraded.name} on usb: a degraded emergency archive" in (
        preview.stdout
    )
    assert f"ignored the plain copy {planted.name}" in preview.stdout


def test_a_killed_process_leaves_no_copy_under_our_name_and_the_next_sync_cleans_up(
    run_cli, sample_db, tmp_path, keys, s3
):
    import signal

    grow_journal(sample_db, rows=400, blob_bytes=40_000, blob_every=1, seed=9)
    env = offsite(keys, "cloud=s3test:bucket/pmo", s3) | {"RCLONE_BWLIMIT": "4M"}
    process = popen_cli(tmp_path, sample_db, "backup", **env)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "backups" / "manual").glob("*.zip")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(1.5)
    process.send_signal(signal.SIGKILL)  # rclone sees its input end as if it were complete
    process.wait(30)
    deadline = time.monotonic() + 60
    while _rclone_uploading("s3test:bucket/pmo"):  # the orphan finishes the cut stream
        assert time.monotonic() < deadline
        time.sleep(0.1)
    bucket = s3.folder / "bucket" / "pmo"
    assert not list(bucket.glob("*.zip.age")), "a cut upload must never carry our name"
    done = run_cli("offsite", "sync", db=sample_db, **(env | {"RCLONE_BWLIMIT": "0"}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in bucket.iterdir()] == [f"{only_archive(tmp_path).name}.age"]


def test_a_process_killed_mid_upload_over_sftp_leaves_no_cut_copy_under_our_name(
    run_cli, sample_db, tmp_path, keys, sftp
):
    """SFTP keeps what a cut upload wrote: it goes to a hidden partial name, never ours."""
    import signal

    grow_journal(sample_db, rows=400, blob_bytes=40_000, blob_every=1, seed=11)
    env = offsite(keys, "box=sftptest:pmo", sftp) | {"RCLONE_BWLIMIT": "2M"}
    process = popen_cli(tmp_path, sample_db, "backup", **env)
    folder = sftp.folder / "pmo"
    deadline = time.monotonic() + 60
    while not (folder.is_dir() and any(p.stat().st_size > 1 << 20 for p in folder.iterdir())):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # rclone sees its input end as if it were complete
    process.wait(30)
    deadline = time.monotonic() + 60
    while _rclone_uploading("sftptest:pmo"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    left = [p.name for p in folder.iterdir()]
    assert left and not [n for n in left if n.endswith(".zip.age")], left  # only a partial
    assert status_json(run_cli, sample_db, env)["targets"][0]["copies"] == 0
    done = run_cli("offsite", "sync", db=sample_db, **(env | {"RCLONE_BWLIMIT": "0"}))
    assert done.returncode == 0, done.stdout + done.stderr
    archive = only_archive(tmp_path)
    assert [p.name for p in folder.iterdir()] == [f"{archive.name}.age"]  # leftover cleaned
    if AGE:
        assert age_decrypt(keys, folder / f"{archive.name}.age") == archive.read_bytes()


def test_a_failed_upload_over_sftp_never_replaces_a_good_copy(sftp, monkeypatch):
    from src.errors import OffsiteCopyInvalid
    from src.services.offsite.targets.rclone import RcloneTarget

    for variable, value in sftp.env().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("RCLONE_CONFIG", os.devnull)
    target = RcloneTarget("box", "sftptest:pmo")
    name = "pmo_recovery_backup_manual_20261205_030000.zip.age"
    good = b"g" * (6 << 20)
    target.upload(name, lambda out: out.write(good))
    copy = sftp.folder / "pmo" / name

    def half_then_fail(out) -> None:
        out.write(os.urandom(5 << 20))  # past what is held back for the size: rclone runs
        raise RuntimeError("the local disk failed mid-read")

    with pytest.raises(RuntimeError):
        target.upload(name, half_then_fail)

    def refused(stored: str) -> None:
        raise OffsiteCopyInvalid(f"{stored} differs from what was sent")

    with pytest.raises(OffsiteCopyInvalid):
        target.upload(name, lambda out: out.write(b"x" * 1000), refused)
    time.sleep(0.5)
    assert copy.read_bytes() == good
    assert [p.name for p in copy.parent.iterdir()] == [name]  # no partial left either
    assert target.partial_uploads()  # rclone says SFTP can hold a cut file


def test_verify_with_the_wrong_key_does_not_mark_a_good_copy_for_sending_again(
    run_cli, sample_db, tmp_path, keys
):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    other = make_age_keys(tmp_path / "keys", "other.txt")
    wrong = run_cli(
        "offsite", "verify", db=sample_db, **(env | {"AGE_IDENTITY_FILE": str(other.identity_file)})
    )
    assert wrong.returncode == ExitStatus.CONFIG or wrong.returncode == ExitStatus.INTEGRITY
    assert "does not open" in wrong.stdout + wrong.stderr
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert (state["copies"], state["pending"]) == (1, 0)


def test_status_and_its_check_share_one_staleness_rule(run_cli, sample_db, tmp_path, keys):
    usb = tmp_path / "usb"
    usb.mkdir()
    env = offsite(keys, f"usb={usb}")
    assert run_cli("backup", "--type", "manual", db=sample_db, **env).returncode == 0
    text = run_cli("status", db=sample_db, **env).stdout
    assert "⚠️ usb" in text and "No verified daily copy there yet" in text, text
    assert "h ago, verified 0.0 h ago)" in text and "(made " in text
    check = run_cli("status", "--check", db=sample_db, **env)
    assert check.returncode == 1 and "no verified daily copy on usb yet" in check.stdout
    state = status_json(run_cli, sample_db, env)["targets"][0]
    assert state["stale"] is True and state["last_verified_age_hours"] is not None
    assert run_cli("backup", "--type", "daily", db=sample_db, **env).returncode == 0
    text = run_cli("status", db=sample_db, **env).stdout
    assert "✅ usb" in text and "No verified daily" not in text, text
    check = run_cli("status", "--check", db=sample_db, **env)
    assert "usb" not in check.stdout, check.stdout
    assert status_json(run_cli, sample_db, env)["targets"][0]["stale"] is False


def test_an_old_daily_backup_copied_late_is_still_stale(
    settings_for, sample_db, tmp_path, keys, monkeypatch
):
    from datetime import timedelta

    from src.cli.offsite_output import status_json as section_json
    from src.config.settings import Settings
    from src.services.backup_service import create_backup
    from src.services.offsite import copying
    from src.services.offsite.report import offsite_status, stale_targets

    usb = tmp_path / "usb"
    settings = settings_for(sample_db, OFFSITE_TARGETS=f"usb={usb}", OFFSITE_ENCRYPT_TO=keys.public)
    real_now = Settings.now
    monkeypatch.setattr(Settings, "now", lambda self: real_now(self) - timedelta(hours=30))
    old = create_backup(settings, "daily", trigger="test").path  # the disk was not mounted
    monkeypatch.setattr(Settings, "now", real_now)
    usb.mkdir()
    assert copying.sync(settings).ok  # copied and verified now, 30 h after it was made
    now = settings.now()
    assert stale_targets(settings, now) == {"usb": old.name}
    (target,) = offsite_status(settings, now).targets
    assert target.stale == old.name and target.last_made_age > timedelta(hours=29)
    assert target.last_verified_age < timedelta(minutes=5)
    (shown,) = section_json(offsite_status(settings, now))["targets"]
    assert shown["stale"] is True and shown["last_verified_made_age_hours"] > 29
    verified_at = datetime.fromisoformat(target.last_verified.verified_at)
    (shown,) = section_json(offsite_status(settings, verified_at))["targets"]
    assert shown["last_verified_age_hours"] == 0.0  # exactly 0 is an age, not "none"


def test_a_copy_longer_than_listed_is_refused_before_it_fills_the_disk():
    import io

    from src.errors import OffsiteCopyInvalid
    from src.services.offsite import crypto

    with pytest.raises(OffsiteCopyInvalid, match="longer than the 1000 bytes"):
        crypto.receive(io.BytesIO(b"x" * 5000), io.BytesIO(), None, "copy", limit=1000)
    identity = pyrage.x25519.Identity.generate()
    encrypted = io.BytesIO(pyrage.encrypt(b"y" * 200_000, [identity.to_public()]))
    with pytest.raises(OffsiteCopyInvalid, match="longer than"):
        crypto.receive(encrypted, io.BytesIO(), [identity], "copy.age", limit=100_000)


def _rclone_uploading(destination: str) -> bool:
    """Tell whether an `rclone rcat` into `destination` still runs (Linux /proc)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rcat" in words and any(w.startswith(destination.encode()) for w in words):
            return True
    return False
