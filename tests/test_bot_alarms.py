"""Alarms the bot could not deliver yet survive a restart: sent once after it, unless expired."""

from __future__ import annotations

import json
import stat
import time

from src.services.pending_alarms import FILE_NAME, PendingAlarm, PendingAlarms
from tests.bot_harness import BotRunner
from tests.test_bot import ADMIN, SECOND_ADMIN, screen


def alarms_to(telegram, admin: int, words: str) -> list[dict]:
    return [m for m in telegram.sent_to(admin) if words in m.get("text", "")]


def test_an_alarm_a_restart_cut_off_is_delivered_once_after_it(telegram, bot_settings):
    settings = bot_settings(ADMIN_USER_IDS=str(ADMIN))
    telegram.drop("sendMessage", times=1, contains="disk on fire")  # a dropped connection
    telegram.fail("sendMessage", retry_after=60, times=1, contains="disk on fire")  # then 429
    runner = BotRunner(settings).start()
    try:
        runner.bot_data["notifier"].notify("backup_failed", "disk on fire")
        telegram.wait_for(lambda: ("sendMessage", "429") in telegram.faults_served, timeout=30)
        (kept,) = PendingAlarms(settings).all()  # waiting out the flood wait when it stops
        assert kept.admin == ADMIN and "disk on fire" in kept.text
    finally:
        runner.stop()
    assert ("sendMessage", "before") in telegram.faults_served
    assert alarms_to(telegram, ADMIN, "disk on fire") == []
    path = settings.backup_dir / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    runner = BotRunner(settings).start()
    try:
        shown = screen(telegram, "disk on fire", ADMIN)
        assert "Backup failed" in shown["text"]
        telegram.wait_for(lambda: not path.exists(), timeout=10)  # delivered: forgotten
    finally:
        runner.stop()
    runner = BotRunner(settings).start()  # sent once, not at every start
    runner.stop()
    assert len(alarms_to(telegram, ADMIN, "disk on fire")) == 1
    assert telegram.pending_faults() == 0


def test_an_expired_alarm_or_one_to_a_former_admin_is_dropped_at_the_start(telegram, bot_settings):
    settings = bot_settings(ADMIN_USER_IDS=str(ADMIN))
    pending = PendingAlarms(settings)
    now = time.time()
    pending.add(PendingAlarm.new(ADMIN, "<b>old news</b>", now - 7 * 3600))
    pending.add(PendingAlarm.new(SECOND_ADMIN, "<b>not an admin now</b>", now - 60))
    pending.add(PendingAlarm.new(ADMIN, "<b>still news</b>", now - 60))
    runner = BotRunner(settings).start()
    try:
        screen(telegram, "still news", ADMIN)
        path = settings.backup_dir / FILE_NAME
        telegram.wait_for(lambda: not path.exists(), timeout=10)
    finally:
        runner.stop()
    assert alarms_to(telegram, ADMIN, "old news") == []
    assert telegram.sent_to(SECOND_ADMIN) == []


def test_the_pending_alarms_file_is_replaced_whole_and_a_damaged_one_is_no_crash(
    settings_for, sample_db
):
    settings = settings_for(sample_db)
    pending = PendingAlarms(settings)
    first, second = PendingAlarm.new(1, "a", 2.0), PendingAlarm.new(2, "b", 1.0)
    pending.add(first)
    pending.add(second)
    assert pending.all() == [second, first]  # oldest first
    data = json.loads(pending.path.read_text())
    assert {a["key"] for a in data["alarms"]} == {first.key, second.key}
    assert not list(pending.path.parent.glob(f"{FILE_NAME}*.tmp"))
    pending.remove(first.key)
    assert pending.all() == [second]
    pending.remove(second.key)
    assert not pending.path.exists()
    pending.path.write_text("{not json")
    assert pending.all() == []
    pending.add(first)
    assert pending.all() == [first]
