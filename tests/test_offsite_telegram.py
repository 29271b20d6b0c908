"""A Telegram chat or channel as an off-machine target, against the fake Bot API (real HTTP)."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import pyrage
import pytest

from src.errors import ExitStatus
from src.services.archive import read_metadata
from src.services.catalog import verify_archive
from tests.bot_harness import TOKEN
from tests.conftest import table_rows
from tests.offsite_servers import AgeKeys, make_age_keys
from tests.test_offsite import only_archive, secrets_nowhere, status_json

CHANNEL = -1001234567890


@pytest.fixture
def keys(tmp_path: Path) -> AgeKeys:
    folder = tmp_path / "keys"
    folder.mkdir()
    return make_age_keys(folder)


def to_telegram(telegram, keys: AgeKeys, chat: int = CHANNEL, **extra: str) -> dict:
    telegram.channels.add(chat)
    return {
        "OFFSITE_TARGETS": f"chan=telegram:{chat}",
        "OFFSITE_ENCRYPT_TO": keys.public,
        "AGE_IDENTITY_FILE": str(keys.identity_file),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.url,
    } | extra


def decrypt(keys: AgeKeys, data: bytes) -> bytes:
    identity = pyrage.x25519.Identity.from_str(keys.identity_file.read_text().split()[-1])
    return pyrage.decrypt(data, [identity])


def test_a_backup_is_sent_encrypted_to_a_channel_and_proven_by_a_download(
    telegram, run_cli, sample_db, tmp_path, keys
):
    env = to_telegram(telegram, keys)
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert done.returncode == 0, done.stderr
    archive = only_archive(tmp_path)
    assert f"Off-machine chan: {archive.name} verified (sha256 of a download" in done.stdout
    (sent,) = telegram.documents
    assert sent["chat"] == CHANNEL and sent["filename"] == f"{archive.name}.age"
    assert decrypt(keys, sent["content"]) == archive.read_bytes()
    assert any(method == "getFile" for method, _ in telegram.calls)  # proven by a download
    listed = run_cli("offsite", "list", db=sample_db, **env)
    assert listed.returncode == 0, listed.stderr
    message_id = sent["message"][1]
    assert f"message {message_id}, file_id {sent['file_id']}" in listed.stdout
    assert "✅" in listed.stdout and "Telegram chat -1001234567890" in listed.stdout
    as_json = json.loads(run_cli("offsite", "list", "--json", db=sample_db, **env).stdout)
    assert as_json[0]["copies"][0]["location"].startswith(f"message {message_id}")
    verified = run_cli("offsite", "verify", db=sample_db, **env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    secrets_nowhere(tmp_path, TOKEN, outputs=(done.stdout, done.stderr, listed.stdout))


def test_a_tampered_telegram_copy_fails_verify(telegram, run_cli, sample_db, tmp_path, keys):
    env = to_telegram(telegram, keys)
    assert run_cli("backup", db=sample_db, **env).returncode == 0
    (sent,) = telegram.documents
    data = bytearray(sent["content"])
    data[len(data) // 2] ^= 0x01
    telegram.tamper(sent["file_id"], bytes(data))
    bad = run_cli("offsite", "verify", db=sample_db, **env)
    assert bad.returncode == ExitStatus.INTEGRITY, bad.stdout + bad.stderr
    assert f"{sent['filename']}" in bad.stdout


def small_database(tmp_path: Path) -> Path:
    """A database whose archive is about 2 MB and its database alone under 1 MB."""
    from src.database.sample import create_sample_database

    path = tmp_path / "small" / "pmo_recovery.db"
    path.parent.mkdir()
    create_sample_database(path, users=300)
    return path


def rows_of(db: Path) -> dict:
    with closing(sqlite3.connect(db)) as conn:
        return table_rows(conn)


def test_an_archive_too_large_for_the_chat_goes_as_its_verified_database_only_variant(
    telegram, run_cli, tmp_path, keys
):
    db = small_database(tmp_path)
    env = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")
    done = run_cli("backup", "--type", "manual", db=db, **env)
    assert done.returncode == 0, done.stderr
    archive = only_archive(tmp_path)
    assert archive.stat().st_size > 1024 * 1024  # the whole archive does not fit
    assert "verified (sha256 of a download" in done.stdout, done.stdout
    assert "database only" in done.stdout and "BOT_UPLOAD_LIMIT_MB (1 MB" in done.stdout
    (sent,) = telegram.documents
    assert sent["filename"] == archive.name.removesuffix(".zip") + ".dbonly.zip.age"
    assert len(sent["content"]) <= 1024 * 1024
    variant = tmp_path / "variant.zip"
    variant.write_bytes(decrypt(keys, sent["content"]))
    with zipfile.ZipFile(variant) as zf:
        names = sorted(zf.namelist())
        metadata = json.loads(zf.read("metadata.json"))
    assert names == ["database/pmo_recovery.db", "metadata.json"]
    assert metadata["variant"]["kind"] == "database only"
    assert metadata["variant"]["of"] == archive.name
    assert "database/pmo_recovery.sql" in metadata["variant"]["left_out"]
    assert metadata["database"] == read_metadata(archive)["database"]
    assert verify_archive(variant, tmp_path / "work").ok
    assert not list((tmp_path / "backups").glob(".dbonly-*"))  # the work folder is gone

    listed = run_cli("offsite", "list", db=db, **env)
    assert "database only" in listed.stdout and sent["filename"] in listed.stdout
    as_json = json.loads(run_cli("offsite", "list", "--json", db=db, **env).stdout)
    assert as_json[0]["copies"][0]["database_only"] is True
    target = status_json(run_cli, db, env)["targets"][0]
    assert target["last_verified_database_only"] is True and target["pending"] == 0
    assert target["last_verified_copy"] == sent["filename"] and target["last_error"] is None
    shown = run_cli("status", db=db, **env)
    assert f"{archive.name} (" in shown.stdout and "database only" in shown.stdout
    checked = run_cli("offsite", "verify", db=db, **env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # a new database and recovery folder: the chat's copy is all there is (its index is in
    # BACKUP_DIR: Telegram cannot list a chat)
    fresh = tmp_path / "fresh"
    new_db = fresh / "data" / "pmo_recovery.db"
    restored = run_cli(
        "restore", "latest", "--from", "chan", "--confirm", db=new_db,
        **env | {"RECOVERY_DIR": str(fresh / "recovery")},
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"fetched {sent['filename']}" in restored.stdout
    assert f"a database only copy of {archive.name}" in restored.stdout  # what it lacks
    assert rows_of(new_db) == rows_of(db)


def test_once_the_upload_limit_is_raised_the_whole_archive_replaces_its_database_only_copy(
    telegram, run_cli, tmp_path, keys
):
    db = small_database(tmp_path)
    small = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")
    assert run_cli("backup", "--type", "manual", db=db, **small).returncode == 0
    archive = only_archive(tmp_path)
    (variant,) = telegram.documents
    assert variant["filename"].endswith(".dbonly.zip.age")
    again = run_cli("offsite", "sync", db=db, **small)  # the limit unchanged: nothing to do
    assert again.returncode == 0 and "everything is copied already" in again.stdout
    assert len(telegram.documents) == 1

    raised = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="20")
    synced = run_cli("offsite", "sync", db=db, **raised)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "whole, in place of its database-only copy" in synced.stdout, synced.stdout
    (whole,) = telegram.documents  # the variant's message is deleted
    assert whole["filename"] == f"{archive.name}.age"
    assert decrypt(keys, whole["content"]) == archive.read_bytes()
    as_json = json.loads(run_cli("offsite", "list", "--json", db=db, **raised).stdout)
    copy = as_json[0]["copies"][0]
    assert copy["database_only"] is False and copy["name"] == whole["filename"]
    checked = run_cli("offsite", "verify", db=db, **raised)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "everything is copied already" in run_cli("offsite", "sync", db=db, **raised).stdout


def test_an_archive_not_sent_for_its_size_is_sent_once_the_limit_is_raised(
    telegram, run_cli, sample_db, tmp_path, keys
):
    small = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")
    done = run_cli("backup", "--type", "manual", db=sample_db, **small)
    assert done.returncode == 0, done.stderr
    assert "and so is its database-only variant" in done.stdout, done.stdout
    assert telegram.documents == []
    archive = only_archive(tmp_path)
    raised = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="20")
    synced = run_cli("offsite", "sync", db=sample_db, **raised)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "whole, now that it fits" in synced.stdout, synced.stdout
    (whole,) = telegram.documents
    assert decrypt(keys, whole["content"]) == archive.read_bytes()
    assert run_cli("offsite", "verify", db=sample_db, **raised).returncode == 0


def test_a_whole_copy_that_fails_leaves_the_database_only_copy_in_place(
    telegram, run_cli, tmp_path, keys
):
    db = small_database(tmp_path)
    small = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")
    assert run_cli("backup", "--type", "manual", db=db, **small).returncode == 0
    (variant,) = telegram.documents
    telegram.fail("sendDocument", code=500, times=10, description="Internal Server Error")
    raised = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="20")
    synced = run_cli("offsite", "sync", db=db, **raised)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "still database only" in synced.stdout, synced.stdout
    assert telegram.documents == [variant]
    copy = json.loads(run_cli("offsite", "list", "--json", db=db, **raised).stdout)[0]["copies"][0]
    assert copy["database_only"] is True and copy["name"] == variant["filename"]
    assert run_cli("offsite", "verify", db=db, **raised).returncode == 0


def test_a_database_only_copy_sent_to_the_bot_restores_every_row(
    telegram, bot_settings, tmp_path, keys
):
    from src.services.backup_service import create_backup
    from tests.bot_harness import BotRunner
    from tests.test_bot import ADMIN, press, screen

    db = small_database(tmp_path)
    env = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1", DATABASE_PATH=str(db))
    settings = bot_settings(**env)
    created = create_backup(settings, "manual", trigger="test")
    assert "database only" in created.offsite.outcomes[0].detail
    (sent,) = telegram.documents
    before = rows_of(db)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM checkins")
    runner = BotRunner(settings).start()
    try:
        telegram.send_document(ADMIN, sent["filename"], sent["content"])
        plan = screen(telegram, "check before you confirm")
        assert sent["filename"].removesuffix(".age") in plan["text"]
        press(telegram, plan, "Confirm restore")
        telegram.now_shows(plan, "Restore finished")
    finally:
        runner.stop()
    assert rows_of(db) == before


def test_an_archive_whose_database_alone_is_over_bot_upload_limit_mb_is_not_sent(
    telegram, run_cli, sample_db, tmp_path, keys
):
    # the archive is ~4 MB, its database alone ~1.5 MB
    env = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert done.returncode == 0, done.stderr  # the backup itself is made
    assert "BOT_UPLOAD_LIMIT_MB (1 MB;" in done.stdout and "not sent" in done.stdout
    assert "and so is its database-only variant" in done.stdout
    assert telegram.documents == []
    assert not list((tmp_path / "backups").glob(".dbonly-*"))
    target = status_json(run_cli, sample_db, env)["targets"][0]
    assert "BOT_UPLOAD_LIMIT_MB" in target["last_error"]
    assert "database-only variant" in target["last_error"]
    assert target["pending"] == 0  # not tried again and again
    shown = run_cli("status", db=sample_db, **env)
    assert "database-only variant" in shown.stdout and "not sent" in shown.stdout
    again = run_cli("offsite", "sync", db=sample_db, **env)
    assert telegram.documents == [] and "BOT_UPLOAD_LIMIT_MB" not in again.stderr


def test_a_chat_the_bot_is_not_in_keeps_the_copy_pending_with_what_to_do(
    telegram, run_cli, sample_db, tmp_path, keys
):
    telegram.unknown_chats.add(CHANNEL)
    env = to_telegram(telegram, keys)
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert done.returncode == 0, done.stderr
    assert "chat not found" in done.stdout and "add the bot to the chat" in done.stdout
    assert status_json(run_cli, sample_db, env)["targets"][0]["pending"] == 1
    telegram.unknown_chats.clear()
    synced = run_cli("offsite", "sync", db=sample_db, **env)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert len(telegram.documents) == 1


def test_a_429_from_the_bot_api_is_waited_out(telegram, run_cli, sample_db, tmp_path, keys):
    telegram.fail("sendDocument", retry_after=1)
    env = to_telegram(telegram, keys)
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert "verified (sha256 of a download" in done.stdout, done.stdout + done.stderr
    assert ("sendDocument", "429") in telegram.faults_served and len(telegram.documents) == 1


def test_a_backup_from_the_bot_menu_is_delivered_to_the_channel(telegram, bot_settings, keys):
    from src.services import catalog
    from tests.bot_harness import BotRunner
    from tests.test_bot import open_menu, press, screen

    env = to_telegram(telegram, keys)
    env.pop("BOT_TOKEN"), env.pop("TELEGRAM_API_URL")  # the bot's own
    runner = BotRunner(bot_settings(**env)).start()
    try:
        press(telegram, open_menu(telegram), "Manual")
        done = screen(telegram, "Manual backup created")
        (archive,) = catalog.list_backups(bot_settings())
        assert f"Off-machine chan: {archive.name} verified" in done["text"]
        (sent,) = telegram.documents
        assert (
            sent["chat"] == CHANNEL and decrypt(keys, sent["content"]) == archive.path.read_bytes()
        )
        assert telegram.errors == []
    finally:
        runner.stop()
