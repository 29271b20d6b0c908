"""Unit tests of the words of a failed scheduled backup's alarm (src/services/backup_scheduler.py):
a one-off run, a retry to come, and giving up."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from src.errors import BackupError
from src.services.backup_scheduler import failure_notice
from src.services.scheduled_run import ScheduledOutcome

AT = datetime(2026, 11, 28, 3, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


def failed(attempt: int, retry_at: datetime | None = None) -> ScheduledOutcome:
    return ScheduledOutcome(
        "daily",
        AT,
        AT + timedelta(seconds=3),
        reason="disk full.",
        error=BackupError("disk full."),
        attempt=attempt,
        retry_at=retry_at,
    )


def test_a_one_off_run_reports_the_failure_and_promises_no_retry():
    event, message = failure_notice(failed(1), retries=None, next_scheduled=None)
    assert (event, message) == ("backup_failed", "The daily backup failed: disk full.")


def test_a_failure_with_a_retry_to_come_says_which_and_when():
    retry = AT + timedelta(minutes=10)
    event, message = failure_notice(failed(2, retry), retries=3, next_scheduled=None)
    assert event == "backup_failed"
    assert message == "The daily backup failed: disk full. Retry 2 of 3 at 2026-11-28 03:10."


def test_after_the_last_retry_it_gives_up_until_the_next_scheduled_run():
    tomorrow = AT + timedelta(days=1)
    event, message = failure_notice(failed(4), retries=3, next_scheduled=tomorrow)
    assert event == "backup_gave_up"
    assert message.startswith("The daily backup failed 4 times, last: disk full. No more")
    assert "until the next scheduled run at 2026-11-29 03:00." in message
    event, message = failure_notice(failed(1), retries=0, next_scheduled=tomorrow)
    assert event == "backup_gave_up" and "failed once" in message
