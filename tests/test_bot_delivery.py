"""The bot under a misbehaving Telegram: 429s, dropped connections, blocks, stale buttons,
two admins at once, restarts and signals, each met the way an admin would meet it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from src.errors import BackupError
from src.services import catalog, restore_service
from src.services.backup_service import create_backup
from src.services.history import History
from tests.bot_harness import TOKEN, BotRunner
from tests.conftest import ROOT, cli_env, corrupt, grow_journal
from tests.fake_telegram import TOO_OLD, FakeTelegram
from tests.test_bot import ADMIN, SECOND_ADMIN, STRANGER, _restore_screen, open_menu, press, screen


def rows(db) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM checkins").fetchone()[0])


def emptied(db) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM checkins")


@pytest.fixture
def held_restore(monkeypatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The real restore, held at its start until the test releases it."""
    real = restore_service.restore
    started, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        started.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_service, "restore", held)
    yield started, release
    release.set()


# --- 429s and dropped connections ---------------------------------------------------------


def test_one_flood_wait_on_restore_finished_is_waited_out_and_the_result_shown(
    telegram, bot, bot_settings, sample_db
):
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    plan = _restore_screen(telegram)
    telegram.fail("editMessageText", retry_after=1, contains="Restore finished")
    press(telegram, plan, "Confirm restore")
    done = telegram.now_shows(plan, "Restore finished")
    assert "Safety copy: " in done["text"] and rows(sample_db) > 0
    assert telegram.faults_served == [("editMessageText", "429")]
    assert not any("Something went wrong" in m.get("text", "") for m in telegram.sent_to(ADMIN))


def test_a_restore_result_whose_edit_fails_for_good_arrives_as_a_new_message(
    telegram, bot, bot_settings, sample_db
):
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    plan = _restore_screen(telegram)
    telegram.fail("editMessageText", retry_after=1, times=4, contains="Restore finished")
    press(telegram, plan, "Confirm restore")
    done = screen(telegram, "Restore finished")
    assert done["message_id"] != plan["message_id"]  # a new message, not the menu
    assert "Safety copy: " in done["text"] and rows(sample_db) > 0
    assert "Restoring" in telegram.messages[(ADMIN, plan["message_id"])]["text"]


def test_a_flood_wait_on_the_hourglass_does_not_cancel_the_backup(telegram, bot, bot_settings):
    menu = open_menu(telegram)
    telegram.fail("editMessageText", retry_after=1, times=4, contains="Creating a manual")
    press(telegram, menu, "Manual")
    telegram.now_shows(menu, "Manual backup created")
    assert len(catalog.list_backups(bot_settings())) == 1
    assert telegram.pending_faults() == 0


def test_a_flood_wait_on_the_hourglass_does_not_use_up_the_restore_confirmation(
    telegram, bot, bot_settings, sample_db
):
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    plan = _restore_screen(telegram)
    telegram.fail("editMessageText", retry_after=1, times=4, contains="Restoring")
    press(telegram, plan, "Confirm restore")
    assert "Integrity: ok" in telegram.now_shows(plan, "Restore finished")["text"]
    assert rows(sample_db) > 0 and telegram.pending_faults() == 0


def test_a_result_sent_but_its_answer_lost_is_shown_once(telegram, bot, bot_settings):
    menu = open_menu(telegram)
    telegram.drop("editMessageText", after=True, contains="backup created")
    press(telegram, menu, "Manual")
    telegram.now_shows(menu, "Manual backup created")
    telegram.wait_for(lambda: any("not modified" in e for _, e in telegram.errors))  # the retry
    shown = [m for m in telegram.sent_to(ADMIN) if "backup created" in m.get("text", "")]
    assert len(shown) == 1


def test_an_outcome_nobody_saw_is_shown_after_a_restart(telegram, bot_settings):
    runner = BotRunner(bot_settings()).start()
    try:
        menu = open_menu(telegram)
        telegram.drop("editMessageText", times=3, contains="backup created")
        telegram.drop("sendMessage", times=3, contains="backup created")
        press(telegram, menu, "Manual")
        telegram.wait_for(lambda: telegram.pending_faults() == 0, timeout=60)
    finally:
        runner.stop()
    (made,) = catalog.list_backups(bot_settings())  # recorded before it was shown
    assert not any("backup created" in m.get("text", "") for m in telegram.sent_to(ADMIN))
    runner = BotRunner(bot_settings()).start()
    try:
        late = screen(telegram, "From before the bot restarted")
        assert "Manual backup created" in late["text"] and made.name in late["text"]
    finally:
        runner.stop()
    runner = BotRunner(bot_settings()).start()  # told once, not at every start
    runner.stop()
    assert len([m for m in telegram.sent_to(ADMIN) if "From before" in m["text"]]) == 1


# --- one job at a time, visibly -----------------------------------------------------------


def test_two_admins_restoring_at_once_one_is_refused_with_what_runs(
    telegram, bot, bot_settings, sample_db, held_restore
):
    started, release = held_restore
    create_backup(bot_settings(), "manual", trigger="test")
    first, second = _restore_screen(telegram, ADMIN), _restore_screen(telegram, SECOND_ADMIN)
    press(telegram, first, "Confirm restore", ADMIN)
    assert started.wait(30)
    refused = press(telegram, second, "Confirm restore", SECOND_ADMIN)
    assert refused["show_alert"] == "true"
    assert "A restore from pmo_recovery_backup_manual_" in refused["text"]
    assert "is running since" in refused["text"] and f"admin {ADMIN} (Admin)" in refused["text"]
    menu = open_menu(telegram, SECOND_ADMIN)  # any admin's menu says what runs
    assert (
        "A restore from pmo_recovery_backup_manual_" in menu["text"]
        and "started by admin 1001" in menu["text"]
    )
    release.set()
    telegram.now_shows(first, "Restore finished")
    assert "Restore finished" not in telegram.messages[(SECOND_ADMIN, second["message_id"])]["text"]
    safety = catalog.list_backups(bot_settings(), "pre-restore")
    assert len(safety) == 1  # one restore happened
    press(telegram, second, "Confirm restore", SECOND_ADMIN)  # not used up by the refusal
    telegram.now_shows(second, "Restore finished")


def test_cancel_after_confirm_is_too_late_once_the_restore_runs(
    telegram, bot, bot_settings, sample_db, held_restore
):
    started, release = held_restore
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    plan = _restore_screen(telegram)
    press(telegram, plan, "Confirm restore")
    assert started.wait(30)
    answer = press(telegram, plan, "Cancel")
    assert "Too late to cancel" in answer["text"]
    release.set()
    telegram.now_shows(plan, "Restore finished")
    assert rows(sample_db) > 0


def test_cancel_after_confirm_cancels_while_the_work_has_not_started(
    telegram, bot, bot_settings, sample_db
):
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    plan = _restore_screen(telegram)
    telegram.fail("editMessageText", retry_after=2, contains="Restoring")  # a slow "⏳"
    press(telegram, plan, "Confirm restore")
    telegram.wait_for(lambda: telegram.faults_served)
    answer = press(telegram, plan, "Cancel")
    assert "Cancelled" in answer["text"]
    telegram.now_shows(plan, "Restore cancelled before it started")
    assert rows(sample_db) == 0
    assert catalog.list_backups(bot_settings(), "pre-restore") == []  # not even a safety copy


def test_a_button_of_a_shown_screen_works_while_telegram_s_answer_to_its_edit_is_slow(
    telegram, bot, bot_settings, sample_db
):
    """The admin sees the restore plan as soon as Telegram shows it: their Confirm counts
    even while the bot still waits for Telegram's answer to that edit (once it was refused
    as a double tap, "Still working on your last request", and the tap was lost)."""
    create_backup(bot_settings(), "manual", trigger="test")
    emptied(sample_db)
    menu = open_menu(telegram)
    press(telegram, menu, "Restore Menu")
    press(telegram, telegram.now_shows(menu, "Choose the type"), "Manual (1)")
    telegram.slow("editMessageText", 4, contains="check before you confirm")
    press(telegram, telegram.now_shows(menu, "Restore \u203a Manual \u203a 1/1"), "✅")
    plan = telegram.now_shows(menu, "check before you confirm")
    answer = press(telegram, plan, "Confirm restore")
    assert telegram.faults_served == [("editMessageText", "slow")]
    assert "Still working" not in answer.get("text", "")
    telegram.now_shows(plan, "Restore finished")
    assert rows(sample_db) > 0


def test_an_admin_queueing_8_backups_does_not_keep_another_user_waiting(
    telegram, bot, bot_settings, sample_db
):
    grow_journal(sample_db, rows=3000, blob_bytes=20_000, blob_every=1, seed=8)  # ~60 MB
    for _ in range(8):
        telegram.send_text(ADMIN, "/backup")
    menus = telegram.wait_for(
        lambda: (
            (found := [m for m in telegram.sent_to(ADMIN) if "Management" in m["text"]])[7:]
            and found
        )
    )
    queries = [telegram.press(ADMIN, m, telegram.button(m, "Manual")) for m in menus]
    telegram.send_text(STRANGER, "/start")
    answers = [telegram.answer_of(q)["text"] for q in queries]
    greeting = screen(telegram, "Selamat datang", STRANGER)
    done = screen(telegram, "Manual backup created", timeout=120)
    assert greeting["changed"] < done["changed"]
    refused = [a for a in answers if "is running since" in a]
    assert len(refused) == 7 and "A manual backup is running since" in refused[0]
    assert len(catalog.list_backups(bot_settings())) == 1


# --- stale buttons --------------------------------------------------------------------------


def test_buttons_pressed_while_the_bot_was_down_say_the_menu_expired(telegram, bot_settings):
    first = BotRunner(bot_settings()).start()
    menu = open_menu(telegram)
    first.stop()
    telegram.callback_deadline = 10
    telegram.press(ADMIN, menu, telegram.button(menu, "Manual"), age=120)
    second = BotRunner(bot_settings()).start()
    try:
        expired = telegram.now_shows(menu, "menu has expired")
        assert "Send /backup" in expired["text"]
        assert not any("Something went wrong" in m["text"] for m in telegram.sent_to(ADMIN))
        late = open_menu(telegram)  # a current menu pressed too late still works
        telegram.press(ADMIN, late, telegram.button(late, "List Backups"), age=60)
        telegram.now_shows(late, "Choose a type")
    finally:
        second.stop()
    assert catalog.list_backups(bot_settings()) == []
    assert ("answerCallbackQuery", TOO_OLD) in telegram.errors  # hence the edited menu


# --- alarms and who cannot be reached -------------------------------------------------------

THIRD_ADMIN = 1003


def test_alarms_get_through_flood_waits_and_dropped_connections_and_status_names_the_unreachable(
    telegram, bot_settings, sample_db, tmp_path
):
    corrupt(sample_db)  # the catch-up backups fail at once: alarms
    telegram.block(SECOND_ADMIN)
    telegram.never_started(THIRD_ADMIN)
    telegram.fail("sendMessage", retry_after=1, times=5, chat_id=ADMIN)  # past the limiter
    telegram.drop("sendMessage", times=2)
    admins = f"{ADMIN},{SECOND_ADMIN},{THIRD_ADMIN}"
    settings = bot_settings(BOT_RUN_SCHEDULER="true", SCHEDULER_RETRIES="0", ADMIN_USER_IDS=admins)
    runner = BotRunner(settings).start()
    try:
        for kind in ("daily", "weekly"):
            screen(telegram, f"The {kind} backup failed once", ADMIN, timeout=90)
        screen(telegram, "Backups are late", ADMIN, timeout=90)
        assert telegram.pending_faults() == 0
        press(telegram, open_menu(telegram), "Backup Status")
        status = screen(telegram, "Backup System Status")
    finally:
        runner.stop()
    assert telegram.sent_to(SECOND_ADMIN) == [] == telegram.sent_to(THIRD_ADMIN)
    assert f"{SECOND_ADMIN}: blocked the bot" in status["text"]
    assert f"{THIRD_ADMIN}: never started the bot" in status["text"]
    env = cli_env(tmp_path, sample_db, ADMIN_USER_IDS=admins)
    cli = subprocess.run(
        [sys.executable, "backup_manager.py", "status"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert f"{SECOND_ADMIN}: blocked the bot" in cli.stdout, cli.stdout + cli.stderr
    assert f"{THIRD_ADMIN}: never started the bot" in cli.stdout
    assert f"{ADMIN}:" not in cli.stdout.split("ADMINS")[-1]
    as_json = subprocess.run(
        [sys.executable, "backup_manager.py", "status", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    reach = {a["admin"]: a["state"] for a in json.loads(as_json.stdout)["unreachable_admins"]}
    assert reach == {SECOND_ADMIN: "blocked", THIRD_ADMIN: "not_started"}


# --- texts -----------------------------------------------------------------------------------


def test_a_long_failure_reason_keeps_its_beginning_and_end(telegram, bot, monkeypatch):
    from src.bot.handlers import backup_handlers

    reason = "BEGIN <x> & " + "detail <&> " * 320 + " END-OF-REASON"
    assert 3400 < len(reason) < 3700

    def failing(*_args, **_kwargs):
        raise BackupError(reason)

    monkeypatch.setattr(backup_handlers, "create_backup", failing)
    menu = open_menu(telegram)
    press(telegram, menu, "Manual")
    shown = telegram.now_shows(menu, "The manual backup failed")["text"]
    assert "BEGIN <x> &" in shown and "END-OF-REASON" in shown
    assert reason in shown  # it fits whole: the limit counts what is shown, not "&amp;"


# --- the real process: signals and restarts -------------------------------------------------


def start_bot(tmp_path, db, telegram: FakeTelegram) -> subprocess.Popen[str]:
    env = cli_env(
        tmp_path, db, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.url,
        ADMIN_USER_IDS=f"{ADMIN},{SECOND_ADMIN}", BOT_RUN_SCHEDULER="false",
    )  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "src.bot"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_sighup_leaves_the_bot_running(telegram, tmp_path, sample_db):
    proc = start_bot(tmp_path, sample_db, telegram)
    try:
        telegram.send_text(STRANGER, "/start")
        screen(telegram, "Selamat datang", STRANGER)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None
        telegram.send_text(STRANGER, "/help")
        screen(telegram, "/start - mulai", STRANGER)  # an Indonesian app
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "SIGHUP ignored" in out, out


def test_a_second_sigterm_during_a_backup_lets_it_finish_and_show_its_result(
    telegram, tmp_path, sample_db, settings_for
):
    grow_journal(sample_db, rows=3000, blob_bytes=20_000, blob_every=1, seed=9)
    proc = start_bot(tmp_path, sample_db, telegram)
    try:
        menu = open_menu(telegram)
        press(telegram, menu, "Manual")
        telegram.now_shows(menu, "Creating a manual backup")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "still finishing" in out, out
    assert "Manual backup created" in telegram.messages[(ADMIN, menu["message_id"])]["text"]
    stats = History(tmp_path / "backups" / "history.sqlite3").statistics()
    assert (stats.successes, stats.failures, stats.interrupted) == (1, 0, 0)


def test_admins_hear_of_a_backup_a_restart_cut_short(telegram, tmp_path, sample_db):
    grow_journal(sample_db, rows=3000, blob_bytes=20_000, blob_every=1, seed=10)
    proc = start_bot(tmp_path, sample_db, telegram)
    try:
        menu = open_menu(telegram)
        press(telegram, menu, "Manual")
        telegram.now_shows(menu, "Creating a manual backup")
        proc.kill()  # a power cut, an OOM kill
        proc.communicate(timeout=60)
        proc = start_bot(tmp_path, sample_db, telegram)
        for admin in (ADMIN, SECOND_ADMIN):
            told = screen(telegram, "The bot restarted during a manual backup", admin)
            assert f"by admin {ADMIN} (Admin); it did not finish" in told["text"]
        menu = open_menu(telegram)  # nothing is left "running"
        assert "is running since" not in menu["text"]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
