"""Restore from a file sent to the bot: a real document upload and download through the fake."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pyrage

from src.services import catalog
from src.services.backup_service import create_backup
from tests.offsite_servers import make_age_keys
from tests.test_bot import ADMIN, SECOND_ADMIN, STRANGER, press, screen


def checkins(db) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM checkins").fetchone()[0])


def lose_checkins(db) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM checkins")


def test_a_backup_sent_to_the_bot_is_validated_and_restored_after_confirm(
    telegram, bot, bot_settings, sample_db
):
    archive = create_backup(bot_settings(), "manual", trigger="test").path
    before = checkins(sample_db)
    lose_checkins(sample_db)
    telegram.send_document(ADMIN, archive.name, archive.read_bytes())
    plan = screen(telegram, "check before you confirm")
    assert f"checkins: 0 → {before}" in plan["text"] and archive.name in plan["text"]
    assert checkins(sample_db) == 0  # sending changes nothing
    press(telegram, plan, "Confirm restore")
    done = telegram.now_shows(plan, "Restore finished")
    assert "Integrity: ok" in done["text"] and checkins(sample_db) == before


def test_an_age_copy_sent_to_the_bot_is_opened_with_the_identity(
    telegram, bot_settings, sample_db, tmp_path
):
    from tests.bot_harness import BotRunner

    keys = make_age_keys(tmp_path)
    settings = bot_settings(AGE_IDENTITY_FILE=str(keys.identity_file))
    archive = create_backup(settings, "manual", trigger="test").path
    recipient = pyrage.x25519.Recipient.from_str(keys.public)
    sealed = pyrage.encrypt(archive.read_bytes(), [recipient])
    lose_checkins(sample_db)
    runner = BotRunner(settings).start()
    try:
        telegram.send_document(ADMIN, f"{archive.name}.age", sealed)
        plan = screen(telegram, "check before you confirm")
        press(telegram, plan, "Confirm restore")
        telegram.now_shows(plan, "Restore finished")
    finally:
        runner.stop()
    assert checkins(sample_db) > 0


def test_files_from_strangers_other_files_damaged_and_too_large_ones_are_refused(
    telegram, bot, bot_settings, sample_db
):
    archive = create_backup(bot_settings(), "manual", trigger="test").path
    telegram.send_document(STRANGER, archive.name, archive.read_bytes())
    assert "Hanya admin bot" in screen(telegram, "⛔", STRANGER)["text"]  # an Indonesian app
    telegram.send_document(ADMIN, "notes.txt", b"hello")
    screen(telegram, "send a backup archive (.zip")
    damaged = bytearray(archive.read_bytes())
    damaged[len(damaged) // 3] ^= 0xFF
    telegram.send_document(ADMIN, "damaged.zip", bytes(damaged))
    failed = screen(telegram, "Validation failed")
    assert "Confirm" not in str(failed.get("reply_markup"))
    telegram.send_document(ADMIN, "huge.zip", b"\0" * (21 * 1024 * 1024))
    too_big = screen(telegram, "Receiving the file failed")
    assert "20 MB" in too_big["text"] and "self-hosted Bot API server" in too_big["text"]
    telegram.languages[SECOND_ADMIN] = "id"  # an Indonesian admin reads why in Indonesian
    telegram.send_document(SECOND_ADMIN, "huge.zip", b"\0" * (21 * 1024 * 1024))
    too_big = screen(telegram, "Menerima berkas gagal", SECOND_ADMIN)
    assert "lebih besar dari 20 MB yang boleh diunduh bot" in too_big["text"]
    assert checkins(sample_db) > 0
    assert catalog.list_backups(bot_settings(), "pre-restore") == []
