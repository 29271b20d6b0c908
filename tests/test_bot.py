"""The Telegram door: the real Application against the fake Bot API server over real HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from src.errors import ExitStatus
from src.services import catalog, scheduler_state
from tests.bot_harness import TOKEN, BotRunner
from tests.conftest import ROOT, cli_env, corrupt, grow_journal
from tests.fake_telegram import ApiError, FakeTelegram, parse_html

ADMIN, SECOND_ADMIN, STRANGER = 1001, 1002, 2002


def open_menu(telegram: FakeTelegram, user: int = ADMIN) -> dict:
    telegram.send_text(user, "/backup")
    return telegram.last_message(user, "Backup Management")


def press(telegram: FakeTelegram, message: dict, label: str, user: int = ADMIN) -> dict:
    """Press a button and return the query's answer."""
    return telegram.answer_of(telegram.press(user, message, telegram.button(message, label)))


def screen(telegram: FakeTelegram, text: str, user: int = ADMIN, timeout: float = 60) -> dict:
    return telegram.last_message(user, text, timeout)


def test_start_records_the_user_and_help_shows_backup_only_to_admins(telegram, bot, sample_db):
    telegram.send_text(STRANGER, "/start")
    reply = screen(telegram, "Selamat datang", STRANGER)
    assert "kembali" not in reply["text"]
    with closing(sqlite3.connect(sample_db)) as conn:
        row = conn.execute(
            "SELECT telegram_chat_id, username, first_name FROM users WHERE user_id = ?",
            (STRANGER,),
        ).fetchone()
    assert row == (STRANGER, f"u{STRANGER}", "Admin")
    telegram.send_text(STRANGER, "/start")
    screen(telegram, "Selamat datang kembali", STRANGER)
    telegram.send_text(STRANGER, "/help")
    assert "/backup" not in screen(telegram, "/help", STRANGER)["text"]
    telegram.send_text(ADMIN, "/help")
    assert "/backup" in screen(telegram, "/help", ADMIN)["text"]


def test_non_admins_are_refused_for_commands_and_forged_buttons(
    telegram, bot, bot_settings, caplog
):
    telegram.send_text(STRANGER, "/backup")
    assert "hanya untuk admin" in screen(telegram, "⛔", STRANGER)["text"]  # Indonesian app
    menu = open_menu(telegram)
    for label in ("Create Manual Backup", "Create Emergency Backup", "Restore Menu"):
        answer = press(telegram, menu, label, user=STRANGER)  # in a group, anyone can press
        assert answer["show_alert"] == "true" and "Hanya untuk admin" in answer["text"]
    assert catalog.list_backups(bot_settings()) == []
    assert f"non-admin user {STRANGER}" in caplog.text


def test_manual_and_emergency_backups_from_the_menu(telegram, bot, bot_settings):
    menu = open_menu(telegram)
    assert [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row][:6] == [
        "📦 Create Manual Backup",
        "🔄 Create Emergency Backup",
        "📋 List Backups",
        "📊 Backup Status",
        "⚙️ Scheduler Settings",
        "🔧 Restore Menu",
    ]
    assert "Creating a manual backup" in press(telegram, menu, "Manual")["text"]
    done = screen(telegram, "Manual backup created")
    backups = catalog.list_backups(bot_settings())
    assert len(backups) == 1 and backups[0].name in done["text"]  # underscores survive HTML
    assert "Users: 600" in done["text"] and "Integrity: before ok" in done["text"]
    press(telegram, done, "Back")
    menu = screen(telegram, "Backup Management")
    press(telegram, menu, "Emergency")
    screen(telegram, "Emergency backup created")
    assert {b.backup_type for b in catalog.list_backups(bot_settings())} == {"manual", "emergency"}
    assert telegram.errors == []


def test_a_backup_does_not_hold_up_other_users(telegram, bot, sample_db):
    grow_journal(sample_db, rows=3000, blob_bytes=20_000, blob_every=1, seed=3)  # ~60 MB
    menu = open_menu(telegram)
    press(telegram, menu, "Manual")
    telegram.send_text(STRANGER, "/help")
    help_reply = screen(telegram, "/start", STRANGER)
    done = screen(telegram, "Manual backup created", timeout=120)
    assert help_reply["changed"] < done["changed"]


def test_list_pages_details_and_download(telegram, bot_settings, sample_db):
    settings = bot_settings(RETENTION_MANUAL="30")
    from src.services.backup_service import create_backup

    for _ in range(10):
        create_backup(settings, "manual", trigger="test")
    runner = BotRunner(settings).start()
    try:
        press(telegram, open_menu(telegram), "List Backups")
        types = screen(telegram, "Choose a type")
        assert "Manual (10)" in str(types["reply_markup"])
        press(telegram, types, "Manual (10)")
        first = screen(telegram, "Backups \u203a Manual \u203a 1/2")
        assert len(first["reply_markup"]["inline_keyboard"]) == 8 + 2
        press(telegram, first, "Older")
        second = screen(telegram, "Backups \u203a Manual \u203a 2/2")
        press(telegram, second, "✅")
        details = screen(telegram, "Created:")
        newest = catalog.list_backups(settings)[8]
        assert newest.name in details["text"] and "Users: 600" in details["text"]
        assert details["text"].startswith("Backups \u203a Manual \u203a page 2")
        press(telegram, details, "Back")  # to the same page
        back = telegram.now_shows(details, "Backups \u203a Manual \u203a 2/2")
        press(telegram, back, "✅")
        details = telegram.now_shows(back, "Created:")
        answer = press(telegram, details, "Download")
        assert "Sending" in answer["text"]
        telegram.wait_for(lambda: telegram.documents)
        sent = telegram.documents[0]
        assert sent["chat"] == ADMIN  # to the admin, whatever chat the menu is in
        assert sent["filename"] == newest.name and sent["content"] == newest.path.read_bytes()
        assert newest.name in sent["caption"]
        assert (ADMIN, "upload_document") in telegram.chat_actions  # "sending a file…" shown
    finally:
        runner.stop()


def test_a_backup_too_large_for_the_bot_api_is_not_offered(telegram, bot_settings, sample_db):
    grow_journal(sample_db, rows=200, blob_bytes=8_000, blob_every=1, seed=5)
    settings = bot_settings(BOT_UPLOAD_LIMIT_MB="1")
    from src.services.backup_service import create_backup

    item = create_backup(settings, "manual", trigger="test")
    assert item.size_bytes > 1024 * 1024
    runner = BotRunner(settings).start()
    try:
        press(telegram, open_menu(telegram), "List Backups")
        press(telegram, screen(telegram, "Choose a type"), "Manual (1)")
        page = screen(telegram, "Backups \u203a Manual \u203a 1/1")
        press(telegram, page, "MB")
        details = screen(telegram, "Created:")
        assert "Too large to send here" in details["text"] and "1 MB" in details["text"]
        assert "Download" not in str(details["reply_markup"])
    finally:
        runner.stop()


def _restore_screen(telegram: FakeTelegram, user: int = ADMIN) -> dict:
    menu = open_menu(telegram, user)
    press(telegram, menu, "Restore Menu", user)
    press(telegram, telegram.now_shows(menu, "Choose the type"), "Manual (1)", user)
    press(telegram, telegram.now_shows(menu, "Restore \u203a Manual \u203a 1/1"), "✅", user)
    return telegram.now_shows(menu, "check before you confirm")


def test_restore_needs_a_second_press_by_the_same_admin_before_it_expires(
    telegram, bot, bot_settings, sample_db
):
    from src.services.backup_service import create_backup

    settings = bot_settings()
    create_backup(settings, "manual", trigger="test")
    with closing(sqlite3.connect(sample_db)) as conn, conn:
        conn.execute("DELETE FROM checkins")
    plan = _restore_screen(telegram)
    assert "checkins: 0 → " in plan["text"] and "expires in 5 minutes" in plan["text"]
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0  # one tap: nothing

    other = press(telegram, plan, "Confirm restore", user=SECOND_ADMIN)
    assert "Only the admin who asked" in other["text"]
    for entry in bot.bot_data["restore_confirmations"].values():
        entry["expires"] = 0  # five minutes later
    expired = press(telegram, plan, "Confirm restore")
    assert "expired" in expired["text"]

    plan = _restore_screen(telegram)
    press(telegram, plan, "Confirm restore")
    done = telegram.now_shows(plan, "Restore finished")
    assert "Integrity: ok" in done["text"] and "Safety copy: " in done["text"]
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("SELECT count(*) FROM checkins").fetchone()[0] > 0
    again = press(telegram, plan, "Confirm restore")  # a used confirmation is gone
    assert "expired" in again["text"]


def test_status_scheduler_controls_and_unchanged_refresh(telegram, bot, bot_settings):
    settings = bot_settings()
    press(telegram, open_menu(telegram), "Backup Status")
    status = screen(telegram, "Backup System Status")
    assert "SCHEDULER" in status["text"]
    press(telegram, status, "Refresh")
    telegram.now_shows(status, "Backup System Status")
    menu = open_menu(telegram)
    press(telegram, menu, "List Backups")
    telegram.now_shows(menu, "Choose a type")
    press(telegram, menu, "List Backups")  # a second tap on the old button: the same screen
    telegram.wait_for(lambda: any("not modified" in e for _, e in telegram.errors))
    assert "Choose a type" in telegram.now_shows(menu, "Choose a type")["text"]
    press(telegram, status, "Back")
    press(telegram, telegram.now_shows(status, "Backup Management"), "Scheduler Settings")
    sched = telegram.now_shows(status, "Scheduler")
    assert "Daily backup: 03:00" in sched["text"] and "Next daily" in sched["text"]
    assert "Paused." in press(telegram, sched, "Pause")["text"]
    telegram.wait_for(lambda: scheduler_state.scheduler_view(settings).paused)
    telegram.wait_for(lambda: "Resume" in str(telegram.messages[key(status)].get("reply_markup")))
    press(telegram, telegram.now_shows(status, "Scheduler"), "Resume")
    telegram.wait_for(lambda: not scheduler_state.scheduler_view(settings).paused)
    telegram.wait_for(lambda: "Pause" in str(telegram.messages[key(status)].get("reply_markup")))
    press(telegram, telegram.now_shows(status, "Scheduler"), "Run daily backup now")
    made = telegram.now_shows(status, "Daily backup made")
    daily = catalog.list_backups(settings, "daily")
    assert len(daily) == 1 and daily[0].name in made["text"]
    press(telegram, made, "Close")
    telegram.now_shows(status, "Menu closed")


def key(message: dict) -> tuple[int, int]:
    return message["chat"]["id"], message["message_id"]


def test_old_menus_expire_after_a_restart(telegram, bot_settings):
    first = BotRunner(bot_settings()).start()
    menu = open_menu(telegram)
    first.stop()
    second = BotRunner(bot_settings()).start()
    try:
        answer = press(telegram, menu, "Manual")
        assert answer["show_alert"] == "true" and "expired" in answer["text"]
        forged = telegram.answer_of(telegram.press(ADMIN, menu, "bkzz|new|manual"))
        assert "expired" in forged["text"]
    finally:
        second.stop()
    assert catalog.list_backups(bot_settings()) == []


def test_scheduler_alarms_reach_every_admin_from_the_scheduler_thread(
    telegram, bot_settings, sample_db
):
    corrupt(sample_db)  # the catch-up backups fail at once
    settings = bot_settings(BOT_RUN_SCHEDULER="true", SCHEDULER_RETRIES="0")
    runner = BotRunner(settings).start()
    try:
        for admin in (ADMIN, SECOND_ADMIN):
            for kind in ("daily", "weekly"):
                alarm = screen(telegram, f"The {kind} backup failed once", admin)
                assert "Backup failed, no more retries" in alarm["text"]
                assert "fails quick_check" in alarm["text"]
            screen(telegram, "Backups are late", admin)
        assert scheduler_state.scheduler_view(settings).running
        sender = threading.Thread(
            target=runner.bot_data["scheduler"].notifier.notify,
            args=("drill_failed", "a <test> & check"),
        )
        sender.start()
        sender.join()
        assert "a <test> & check" in screen(telegram, "Restore drill failed")["text"]
    finally:
        runner.stop()
    view = scheduler_state.scheduler_view(settings)
    assert not view.running  # stopped with the bot
    assert telegram.errors == []


def test_the_fake_server_holds_the_bot_to_telegrams_rules():
    assert parse_html("<b>a</b> &lt;x&gt; <code>p_q</code>") == "a <x> p_q"
    for bad in ("<b>a", "a < b", "x & y", "<script>x</script>", "</b>"):
        with pytest.raises(ApiError):
            parse_html(bad)


def test_python_m_src_bot_runs_polls_and_stops_on_sigterm(telegram, tmp_path):
    db = tmp_path / "data" / "pmo_recovery.db"
    env = cli_env(
        tmp_path, db, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.url, ADMIN_USER_IDS=str(ADMIN)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "src.bot"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        telegram.send_text(STRANGER, "/start")
        screen(telegram, "Selamat datang", STRANGER)
        assert db.exists()  # created when missing
        settings_state = tmp_path / "backups" / "history.sqlite3"
        telegram.wait_for(settings_state.exists)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "scheduler stopped" in out and "bot stopped" in out
    state = json.loads(
        sqlite3.connect(settings_state).execute("SELECT state FROM scheduler_state").fetchone()[0]
    )
    assert state["stopped_at"]


def test_python_m_src_bot_without_a_token_says_what_to_do(tmp_path):
    env = cli_env(tmp_path, tmp_path / "pmo_recovery.db", BOT_TOKEN="")
    done = subprocess.run(
        [sys.executable, "-m", "src.bot"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitStatus.CONFIG
    assert "BOT_TOKEN is not set" in done.stderr and "@BotFather" in done.stderr
    assert not Path(tmp_path / "pmo_recovery.db").exists()


def test_an_unexpected_failure_is_answered_and_logged(telegram, bot, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise OSError("disk unplugged")

    monkeypatch.setattr(catalog, "list_backups", broken)
    menu = open_menu(telegram)
    press(telegram, menu, "List Backups")
    assert "Send /backup to try again" in telegram.now_shows(menu, "Something went wrong")["text"]
    telegram.wait_for(lambda: "disk unplugged" in caplog.text)
    monkeypatch.undo()
    press(telegram, open_menu(telegram), "List Backups")  # the bot still works
    screen(telegram, "Choose a type")


GROUP = -100500


def test_the_menu_and_its_buttons_stay_out_of_group_chats(telegram, bot, bot_settings):
    telegram.send_text(ADMIN, "/backup", chat_id=GROUP)
    assert "private chat" in screen(telegram, "🔒", GROUP)["text"]
    menu = open_menu(telegram)
    in_group = {**menu, "chat": {"id": GROUP, "type": "group"}}  # a press seen in a group
    answer = press(telegram, in_group, "Manual")
    assert answer["show_alert"] == "true" and "private chat" in answer["text"]
    assert catalog.list_backups(bot_settings()) == []


def test_forged_and_unknown_buttons_from_non_admins_are_refused_and_logged(
    telegram, bot, bot_settings, caplog
):
    from src.services.backup_service import create_backup

    create_backup(bot_settings(), "manual", trigger="test")
    plan = _restore_screen(telegram)
    token_data = telegram.button(plan, "Confirm restore")
    for data in (token_data, "not-ours", "bk|dl|x"):
        answer = telegram.answer_of(telegram.press(STRANGER, plan, data))
        assert "Hanya untuk admin" in answer["text"], data  # an Indonesian app
    assert "not-ours" in caplog.text and str(STRANGER) in caplog.text
    assert len(catalog.list_backups(bot_settings())) == 1  # no restore, no safety backup
    answer = telegram.answer_of(telegram.press(ADMIN, plan, "not-ours"))
    assert "no longer valid" in answer["text"]


def test_double_taps_do_one_thing(telegram, bot, bot_settings, sample_db):
    grow_journal(sample_db, rows=1500, blob_bytes=20_000, blob_every=1, seed=4)
    menu = open_menu(telegram)
    data = telegram.button(menu, "Manual")
    first = telegram.press(ADMIN, menu, data)
    second = telegram.press(ADMIN, menu, data)
    answers = [telegram.answer_of(first)["text"], telegram.answer_of(second)["text"]]
    assert any("Still working" in text for text in answers), answers
    telegram.now_shows(menu, "Manual backup created", timeout=120)
    assert len(catalog.list_backups(bot_settings())) == 1
    done = telegram.now_shows(menu, "Manual backup created")
    close = telegram.button(done, "Close")
    telegram.answer_of(telegram.press(ADMIN, done, close))
    telegram.answer_of(telegram.press(ADMIN, done, close))  # "not modified": no error shown
    assert "Menu closed" in telegram.now_shows(menu, "Menu closed")["text"]


def test_cancel_drops_the_restore_confirmation(telegram, bot, bot_settings):
    from src.services.backup_service import create_backup

    create_backup(bot_settings(), "manual", trigger="test")
    plan = _restore_screen(telegram)
    press(telegram, plan, "Cancel")
    telegram.now_shows(plan, "Restore \u203a Manual \u203a 1/1")  # the page it was chosen on
    assert bot.bot_data["restore_confirmations"] == {}
    assert "no longer valid" in press(telegram, plan, "Confirm restore")["text"]


def test_python_m_src_bot_with_a_refused_token_says_so_without_showing_it(telegram, tmp_path):
    wrong = "987654321:" + "B" * 35
    env = cli_env(tmp_path, tmp_path / "pmo_recovery.db", BOT_TOKEN=wrong,
                  TELEGRAM_API_URL=telegram.url)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "src.bot"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == ExitStatus.CONFIG, done.stderr
    assert "refused BOT_TOKEN" in done.stderr
    assert wrong.split(":")[1] not in done.stderr + done.stdout


def test_failures_in_the_menu_are_shown_with_their_reason(telegram, bot, bot_settings, sample_db):
    from src.services.backup_service import create_backup

    item = create_backup(bot_settings(), "manual", trigger="test")
    data = bytearray(item.path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # the archive no longer matches its checksums
    item.path.write_bytes(bytes(data))
    menu = open_menu(telegram)
    press(telegram, menu, "Restore Menu")
    press(telegram, telegram.now_shows(menu, "Choose the type"), "Manual (1)")
    press(telegram, telegram.now_shows(menu, "Restore \u203a Manual \u203a 1/1"), "MB")
    failed = telegram.now_shows(menu, "Validation failed")
    assert "Confirm" not in str(failed.get("reply_markup"))
    press(telegram, failed, "Back")  # to the page the backup was chosen on
    telegram.now_shows(menu, "Restore \u203a Manual \u203a 1/1")

    corrupt(sample_db)
    menu = open_menu(telegram)
    press(telegram, menu, "Create Manual Backup")
    shown = telegram.now_shows(menu, "The manual backup failed")
    assert "quick_check" in shown["text"] and "diagnose" in shown["text"]
    assert telegram.errors == [] or all("not modified" in e for _, e in telegram.errors)


def _replace_newest_manual(settings, build) -> None:
    """Swap the newest manual archive for a crafted one under the same name."""
    item = catalog.list_backups(settings, "manual")[0]
    crafted = item.path.with_name("crafted.tmp")
    build(item.path, crafted)
    crafted.replace(item.path)


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
def test_restore_button_on_a_hostile_sql_dump_changes_no_byte(
    case, telegram, bot, bot_settings, sample_db, tmp_path
):
    from src.services.backup_service import create_backup
    from tests.test_hostile_archives import _attack_dumps, _with_sql_dump
    from tests.test_restore import _checkpoint, _planted, _rows_of, _tree

    settings = bot_settings()
    create_backup(settings, "manual", trigger="test")
    dump = _attack_dumps(sample_db, tmp_path, "tok3n")[case]
    _replace_newest_manual(settings, lambda src, dst: _with_sql_dump(src, dst, dump))
    _checkpoint(sample_db)
    # an admin's first update records their language in the history (for the alarms): before
    # the bytes are taken, so only what the validation might change is compared
    telegram.send_text(ADMIN, "/help")
    screen(telegram, "/start -")
    rows, tree = _rows_of(sample_db), _tree(tmp_path, sample_db)
    project = _tree(ROOT, ROOT / "data" / "pmo_recovery.db")
    plan = _restore_screen(telegram)  # validation ran: the SQL copy was refused, JSON used
    assert "users: 600 → 600" in plan["text"]
    assert _rows_of(sample_db) == rows
    assert _tree(tmp_path, sample_db) == tree
    assert _tree(ROOT, ROOT / "data" / "pmo_recovery.db") == project
    assert _planted("tok3n", tmp_path) == []
    with closing(sqlite3.connect(settings.history_path)) as conn:
        forged = "SELECT count(*) FROM verifications WHERE archive='forged'"
        assert conn.execute(forged).fetchone()[0] == 0


def test_restore_button_asks_again_before_a_schema_change(
    telegram, bot, bot_settings, sample_db, tmp_path
):
    from src.services.backup_service import create_backup
    from tests.test_hostile_archives import PLANTED_TRIGGER, _with_database

    settings = bot_settings()
    create_backup(settings, "manual", trigger="test")
    _replace_newest_manual(settings, lambda src, dst: _with_database(src, dst, PLANTED_TRIGGER))
    plan = _restore_screen(telegram)
    assert "This backup changes the schema" in plan["text"]
    assert "trigger wipe_on_start added" in plan["text"]
    assert "Confirm restore" not in str(plan["reply_markup"])
    press(telegram, plan, "Review the schema changes")
    ask = telegram.now_shows(plan, "Restore and change the schema?")
    with closing(sqlite3.connect(sample_db)) as conn:  # two taps so far: nothing changed
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='wipe_on_start'").fetchone()
    press(telegram, ask, "Restore and change the schema")
    done = telegram.now_shows(plan, "Restore finished")
    assert "Integrity: ok" in done["text"]
    with closing(sqlite3.connect(sample_db)) as conn:
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name='wipe_on_start'").fetchone()


def test_a_backup_from_the_bot_is_copied_off_the_machine_and_status_shows_it(
    telegram, bot_settings, tmp_path
):
    from tests.offsite_servers import make_age_keys

    keys = make_age_keys(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    offsite = {
        "OFFSITE_TARGETS": f"usb={usb},gone={tmp_path / 'unmounted'}",
        "OFFSITE_ENCRYPT_TO": keys.public,
    }
    runner = BotRunner(bot_settings(**offsite)).start()
    try:
        press(telegram, open_menu(telegram), "Manual")
        done = screen(telegram, "Manual backup created")
        (archive,) = catalog.list_backups(bot_settings())
        assert f"Off-machine usb: {archive.name} verified" in done["text"]
        assert "Off-machine gone:" in done["text"] and "PENDING" in done["text"]
        assert (usb / f"{archive.name}.age").is_file()
        press(telegram, done, "Back")
        press(telegram, screen(telegram, "Backup Management"), "Backup Status")
        status = screen(telegram, "OFFSITE")
        assert "usb" in status["text"] and "Copies held: 1" in status["text"]
        assert "pending: 1" in status["text"]
        assert telegram.errors == []
    finally:
        runner.stop()
