"""The bot's restore to a point in time, from a real Litestream file:// replica."""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import closing
from datetime import timedelta

import pytest

from tests.bot_harness import BotRunner
from tests.test_bot import ADMIN, SECOND_ADMIN, open_menu, press
from tests.test_replication import SYNC, caught_up, replicating, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Litestream has no Windows build")


def checkins(db) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM checkins").fetchone()[0])


def test_the_restore_menu_goes_back_to_a_typed_moment_through_two_steps(
    telegram, bot_settings, sample_db, tmp_path
):
    settings = bot_settings(
        REPLICA_URL=f"file://{tmp_path / 'replica'}", REPLICA_SYNC_INTERVAL="1s"
    )
    before = checkins(sample_db)
    assert before > 0
    with replicating(settings):
        wait_for(lambda: caught_up(settings), 30, "replicated")
        time.sleep(SYNC + 1)
        good = settings.now()  # the moment to go back to
        time.sleep(SYNC + 1)
        with closing(sqlite3.connect(sample_db)) as conn, conn:
            conn.execute("DELETE FROM checkins")  # the bad change of the afternoon
        wait_for(lambda: caught_up(settings), 30, "the deletion replicated")
        runner = BotRunner(settings).start()
        try:
            press(telegram, open_menu(telegram), "Backup Status")
            status = telegram.last_message(ADMIN, "Backup System Status")
            assert (
                "REPLICATION" in status["text"] and "🟢 Running (litestream pid" in status["text"]
            )
            assert "Oldest restorable moment: 20" in status["text"]

            menu = open_menu(telegram)
            press(telegram, menu, "Restore Menu")
            press(telegram, telegram.now_shows(menu, "Choose the type"), "To a point in time")
            choices = telegram.now_shows(menu, "Restore to a point in time")
            assert "Oldest restorable moment: after" in choices["text"]
            assert settings.timezone_name in choices["text"]

            # a preset before the oldest restorable moment: a clear answer, nothing restored
            press(telegram, choices, "5 minutes ago")
            early = telegram.now_shows(menu, "Point-in-time restore failed")
            assert "cannot go back to" in early["text"]
            assert "oldest restorable moment is after" in early["text"]

            press(telegram, early, "Back")
            press(telegram, telegram.now_shows(menu, "Backup Management"), "Restore Menu")
            press(telegram, telegram.now_shows(menu, "Choose the type"), "To a point in time")
            press(telegram, telegram.now_shows(menu, "Restore to a point in time"), "Type a time")
            telegram.now_shows(menu, "YYYY-MM-DD HH:MM")
            telegram.send_text(ADMIN, "after lunch")
            assert "is no point in time" in telegram.last_message(ADMIN, "after lunch")["text"]
            telegram.languages[ADMIN] = "id"  # asked again: the answer in Indonesian
            telegram.send_text(ADMIN, "nanti sore")
            again = telegram.last_message(ADMIN, "nanti sore")["text"]
            assert "'nanti sore' bukan titik waktu: tulis YYYY-MM-DD HH:MM[:SS]" in again
            assert again.endswith("Kirim lagi, atau /backup untuk menu.")
            telegram.languages[ADMIN] = "en"
            yesterday = (good - timedelta(days=1)).astimezone(settings.timezone)
            telegram.send_text(ADMIN, f"{yesterday:%Y-%m-%d %H:%M}")
            refused = telegram.last_message(ADMIN, "cannot go back to")
            assert f"{yesterday:%Y-%m-%d %H:%M}" in refused["text"]
            assert checkins(sample_db) == 0

            press(telegram, open_menu(telegram), "Restore Menu")
            press(telegram, telegram.last_message(ADMIN, "Choose the type"), "To a point in time")
            press(
                telegram, telegram.last_message(ADMIN, "Restore to a point in time"), "Type a time"
            )
            telegram.last_message(ADMIN, "YYYY-MM-DD HH:MM")
            typed = f"{good.astimezone(settings.timezone):%Y-%m-%d %H:%M:%S}"
            telegram.send_text(ADMIN, typed)
            plan = telegram.last_message(ADMIN, "check before you confirm", timeout=60)
            assert f"checkins: 0 → {before}" in plan["text"]
            assert checkins(sample_db) == 0  # one step: nothing changed yet
            other = press(telegram, plan, "Confirm restore", user=SECOND_ADMIN)
            assert "Only the admin who asked" in other["text"]
            press(telegram, plan, "Confirm restore")
            done = telegram.now_shows(plan, "Restore finished", timeout=120)
            assert "Safety copy: " in done["text"]
            assert checkins(sample_db) == before
            wait_for(lambda: caught_up(settings), 30, "the restore replicated")
        finally:
            runner.stop()
    assert telegram.errors == []


def test_without_a_replica_the_restore_menu_offers_no_point_in_time(telegram, bot):
    menu = open_menu(telegram)
    press(telegram, menu, "Restore Menu")
    types = telegram.now_shows(menu, "Choose the type")
    assert "point in time" not in str(types["reply_markup"])


def test_a_preset_goes_back_to_the_moment_it_names(
    telegram, bot_settings, sample_db, tmp_path, monkeypatch
):
    settings = bot_settings(
        REPLICA_URL=f"file://{tmp_path / 'replica'}", REPLICA_SYNC_INTERVAL="1s"
    )
    before = checkins(sample_db)
    with replicating(settings):
        wait_for(lambda: caught_up(settings), 30, "replicated")
        time.sleep(SYNC + 1)
        good = settings.now()
        time.sleep(SYNC + 1)
        with closing(sqlite3.connect(sample_db)) as conn, conn:
            conn.execute("DELETE FROM checkins")
        wait_for(lambda: caught_up(settings), 30, "the deletion replicated")
        # the clock stands 5 minutes after the good moment: "5 minutes ago" names it
        frozen = good + timedelta(minutes=5)
        monkeypatch.setattr(type(settings), "now", lambda _self: frozen)
        runner = BotRunner(settings).start()
        try:
            menu = open_menu(telegram)
            press(telegram, menu, "Restore Menu")
            press(telegram, telegram.now_shows(menu, "Choose the type"), "To a point in time")
            press(telegram, telegram.now_shows(menu, "Restore to a point in time"), "5 minutes ago")
            plan = telegram.now_shows(menu, "check before you confirm", timeout=60)
            assert f"checkins: 0 → {before}" in plan["text"]
            assert f"{good.astimezone(settings.timezone):%Y-%m-%dT%H:%M:%S}" in plan["text"]
            press(telegram, plan, "Confirm restore")
            telegram.now_shows(plan, "Restore finished", timeout=120)
            assert checkins(sample_db) == before
        finally:
            runner.stop()
