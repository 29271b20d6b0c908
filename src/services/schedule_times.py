"""When the scheduled backups fall due, in the backup time zone, daylight saving included."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo

from src.config.settings import WEEKDAYS, Settings

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def local_moment(day: date, at: time, zone: tzinfo) -> datetime:
    """The moment the wall clock of `zone` shows `at` on `day`.

    A time skipped by a daylight-saving change (02:30 on a spring-forward night) is
    taken as the moment just after the gap (03:30 there); a time shown twice (autumn)
    is its first showing.
    """
    wall = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    return wall.astimezone(timezone.utc).astimezone(zone)


def next_daily(after: datetime, at: time, zone: tzinfo) -> datetime:
    """The first daily run strictly after `after`."""
    today = after.astimezone(zone).date()
    for offset in range(-1, 3):
        moment = local_moment(today + timedelta(days=offset), at, zone)
        if moment > after:
            return moment
    raise AssertionError("unreachable: a day has a run")


def next_weekly(after: datetime, weekday: int, at: time, zone: tzinfo) -> datetime:
    """The first weekly run (on `weekday`, 0 = Monday) strictly after `after`."""
    today = after.astimezone(zone).date()
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        if day.weekday() == weekday:
            moment = local_moment(day, at, zone)
            if moment > after:
                return moment
    raise AssertionError("unreachable: a week has a run")


def next_run(settings: Settings, backup_type: str, after: datetime) -> datetime:
    """The next run of a scheduled backup type (daily or weekly) after `after`."""
    zone = settings.timezone
    if backup_type == "daily":
        return next_daily(after, settings.daily_backup_time, zone)
    weekday = WEEKDAYS.index(settings.weekly_backup_day)
    return next_weekly(after, weekday, settings.weekly_backup_time, zone)


def stale_after(settings: Settings, backup_type: str) -> timedelta:
    """How old the newest backup of a type may be before the staleness alarm."""
    return PERIODS[backup_type] + timedelta(hours=settings.stale_grace_hours)
