"""A Telegram chat or channel as an off-machine target, against the fake Bot API (real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pyrage
import pytest

from src.errors import ExitStatus
from tests.bot_harness import TOKEN
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


def test_an_archive_over_bot_upload_limit_mb_is_not_sent_and_status_says_so(
    telegram, run_cli, sample_db, tmp_path, keys
):
    env = to_telegram(telegram, keys, BOT_UPLOAD_LIMIT_MB="1")  # the archive is ~4 MB
    done = run_cli("backup", "--type", "manual", db=sample_db, **env)
    assert done.returncode == 0, done.stderr  # the backup itself is made
    assert "BOT_UPLOAD_LIMIT_MB (1 MB;" in done.stdout and "not sent" in done.stdout
    assert telegram.documents == []
    target = status_json(run_cli, sample_db, env)["targets"][0]
    assert "BOT_UPLOAD_LIMIT_MB" in target["last_error"]
    assert target["pending"] == 0  # not tried again and again
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
