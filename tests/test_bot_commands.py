"""Admins' direct commands (/status, /backups, /last, /logs) through the fake Bot API."""

from __future__ import annotations

from src.services import log_tail
from src.services.backup_service import create_backup
from tests.bot_harness import TOKEN
from tests.test_bot import ADMIN, SECOND_ADMIN, STRANGER, screen

ADMIN_COMMANDS = ["start", "help", "backup", "status", "backups", "last", "logs"]


def test_the_full_command_list_is_set_for_each_admin_only(telegram, bot):
    telegram.wait_for(lambda: len(telegram.commands) >= 3)
    assert telegram.commands_for(ADMIN) == ADMIN_COMMANDS
    assert telegram.commands_for(SECOND_ADMIN) == ADMIN_COMMANDS
    assert telegram.commands_for(STRANGER) == ["start", "help"]
    telegram.send_text(ADMIN, "/help")
    assert "/logs" in screen(telegram, "/help")["text"]


def test_status_backups_and_last_answer_admins(telegram, bot, bot_settings):
    telegram.send_text(ADMIN, "/last")
    assert "No backups yet" in screen(telegram, "📭")["text"]
    create_backup(bot_settings(), "manual", "test")
    newest = create_backup(bot_settings(), "emergency", "test")
    telegram.send_text(ADMIN, "/last")
    last = screen(telegram, newest.path.name)
    assert "Type: emergency" in last["text"]
    assert telegram.button(last, "Restore")
    telegram.send_text(ADMIN, "/backups")
    listing = screen(telegram, "Choose a type")
    assert "Manual (1)" in str(listing["reply_markup"]) and "Emergency (1)" in str(
        listing["reply_markup"]
    )
    telegram.send_text(ADMIN, "/status")
    assert telegram.button(screen(telegram, "Backup System Status"), "Refresh")


def test_non_admins_get_no_answer_to_the_admin_commands(telegram, bot, caplog):
    for command in ("/status", "/backups", "/last", "/logs"):
        telegram.send_text(STRANGER, command)
    telegram.send_text(STRANGER, "/help")
    screen(telegram, "/help", STRANGER)  # handled after the four, in order
    assert [m["text"] for m in telegram.sent_to(STRANGER)] == [
        screen(telegram, "/help", STRANGER)["text"]
    ]
    telegram.wait_for(lambda: caplog.text.count("ignored /") == 4)


def test_logs_show_the_tail_of_the_error_log_without_token_or_secrets(
    telegram, bot_settings, tmp_path
):
    from tests.bot_harness import BotRunner

    hook = "https://hc-ping.com/0f4e2c1a-secret-uuid"
    settings = bot_settings(HEALTHCHECK_URL=hook)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"2026-01-01 ERROR old line {n}" for n in range(500)]
    lines += [
        f"ERROR httpx POST https://api.telegram.org/bot{TOKEN}/sendMessage failed",
        f"ERROR ping {hook} failed",
        "ERROR replica sftp://backup:hunter2pass@example.org/db unreachable",
        "ERROR the newest line",
    ]
    (settings.log_dir / "errors.log").write_text("\n".join(lines) + "\n")
    runner = BotRunner(settings).start()
    try:
        telegram.send_text(ADMIN, "/logs")
        shown = screen(telegram, "errors.log")["text"]
    finally:
        runner.stop()
    assert shown.rstrip().endswith("ERROR the newest line")
    assert "old line 499" in shown and "old line 0\n" not in shown
    assert TOKEN not in shown and TOKEN.split(":")[1] not in shown
    assert "secret-uuid" not in shown and "hunter2pass" not in shown
    assert "<secret>" in shown and "<token>" in shown
    assert len(shown) <= 4096


def test_log_tail_is_empty_without_a_log_and_redacts_given_secrets(bot_settings):
    settings = bot_settings()
    assert log_tail.error_log_tail(settings) == []
    assert log_tail.redact("key=abcd1234 x", None, ["abcd1234"]) == "key=<secret> x"


def test_texts_follow_the_users_language_with_english_as_the_fallback(telegram, bot):
    telegram.languages[STRANGER] = "en"
    telegram.send_text(STRANGER, "/start")
    assert "Welcome, Admin!" in screen(telegram, "👋", STRANGER)["text"]
    telegram.send_text(STRANGER, "/help")
    assert "this list" in screen(telegram, "/start -", STRANGER)["text"]
    telegram.languages[STRANGER] = None  # an app that sends no language
    telegram.send_text(STRANGER, "/start")
    assert "Welcome back" in screen(telegram, "Welcome back", STRANGER)["text"]
    telegram.languages[ADMIN] = "id"
    telegram.send_text(ADMIN, "/help")
    assert "/logs - akhir log kesalahan" in screen(telegram, "/help")["text"]
    telegram.send_text(ADMIN, "/last")
    assert screen(telegram, "📭")["text"] == "📭 Belum ada cadangan."
    telegram.languages[SECOND_ADMIN] = "en-US"
    telegram.send_text(SECOND_ADMIN, "/last")
    assert screen(telegram, "📭", SECOND_ADMIN)["text"] == "📭 No backups yet."
