"""Progress of long jobs in the menu message, throttled, through the fake Bot API."""

from __future__ import annotations

import itertools
import time

import pytest

from src.bot.handlers import backup_handlers
from src.services import progress
from src.services.backup_service import create_backup
from tests.test_bot import open_menu, press

STEPS = 10


@pytest.fixture
def slow_backup(monkeypatch):
    """A backup whose first step reports 10 % every 0.7 s (7 s in all), then the real one."""

    def slow(settings, kind, trigger):
        progress.phase("compressing the database", STEPS)
        for _ in range(STEPS):
            time.sleep(0.7)
            progress.advance(1)
        return create_backup(settings, kind, trigger)

    monkeypatch.setattr(backup_handlers, "create_backup", slow)


@pytest.fixture
def edit_times(telegram, monkeypatch):
    """(time, text) of every edit the fake took."""
    seen: list[tuple[float, str]] = []
    real = telegram._m_editMessageText

    def edit(params, files):
        result = real(params, files)
        seen.append((time.monotonic(), result["text"]))
        return result

    monkeypatch.setattr(telegram, "_m_editMessageText", edit)
    return seen


def test_a_long_backup_shows_its_phase_and_percentage_at_most_every_3_seconds(
    telegram, bot, slow_backup, edit_times
):
    menu = open_menu(telegram)
    press(telegram, menu, "Manual")
    shown = telegram.now_shows(menu, "%")
    assert "Creating a manual backup" in shown["text"]
    assert "compressing the database" in shown["text"]
    telegram.now_shows(menu, "Manual backup created")
    progress_edits = [(at, text) for at, text in edit_times if "%" in text]
    assert 1 <= len(progress_edits) <= 3  # 7 s of reports, an edit every 3 s at most
    starts = [at for at, _ in progress_edits]
    assert all(b - a >= 2.9 for a, b in itertools.pairwise(starts))
    assert "created" in edit_times[-1][1]  # the outcome is the last edit, never a late "%"


def test_failing_progress_edits_never_fail_the_backup(
    telegram, bot, bot_settings, slow_backup, caplog
):
    telegram.fail(
        "editMessageText", code=400, description="Bad Request: message to edit not found",
        times=50, contains="%",
    )  # fmt: skip
    menu = open_menu(telegram)
    press(telegram, menu, "Manual")
    done = telegram.now_shows(menu, "Manual backup created")
    assert "%" not in done["text"]
    assert ("editMessageText", "400") in telegram.faults_served
    assert "the work goes on" in caplog.text


def test_a_restore_shows_its_step_and_the_safety_copy_beside_it(
    telegram, bot, bot_settings, monkeypatch, edit_times
):
    from src.services import restore_service
    from tests.test_bot import _restore_screen

    create_backup(bot_settings(), "manual", "test")
    real = restore_service.restore

    def slow(*args, **kwargs):
        progress.phase("checking and unpacking the archive", 4)
        with progress.lane("safety copy"):
            progress.phase("copying", 2)
            for _ in range(4):
                time.sleep(1)
                progress.advance(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_service, "restore", slow)
    plan = _restore_screen(telegram)
    press(telegram, plan, "Confirm restore")
    shown = telegram.now_shows(plan, "safety copy: copying")
    assert "Restoring" in shown["text"] and "checking and unpacking the archive 0%" in shown["text"]
    telegram.now_shows(plan, "Restore finished")
    assert "Restore finished" in edit_times[-1][1]
