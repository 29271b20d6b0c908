"""The scheduler's decisions as plain functions of `now`: when the scheduled backups fall
due (in the backup time zone, daylight saving included), what a beat makes, when a failed
backup is retried, and when a backup is late. No clock, no files: tests call them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from src.config.settings import WEEKDAYS, Settings

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


@dataclass(frozen=True)
class Retry:
    """The next try of a scheduled backup that failed."""

    attempt: int  # failed attempts in a row so far
    at: datetime  # when it is tried again


@dataclass(frozen=True)
class BeatPlan:
    """What one beat does: the backups to make, in order and once each, and the next runs."""

    run: list[str]
    skipped: list[str]  # fell due while the scheduler is paused
    next_runs: dict[str, datetime]


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


def plan_beat(
    settings: Settings,
    now: datetime,
    next_runs: Mapping[str, datetime],
    retries: Mapping[str, Retry],
    *,
    pending: Iterable[str] = (),
    requested: Iterable[str] = (),
    paused: bool = False,
) -> BeatPlan:
    """Decide what a beat at `now` makes: the runs that fell due, the retries whose time has
    come, the catch-up (`pending`), then what was asked for by hand (`requested`).

    A run that fell due gets its next run planned, paused or not; a paused scheduler skips
    it, its retries and its catch-up, but still makes what was asked for by hand.
    """
    fell_due = [kind for kind, moment in next_runs.items() if now >= moment]
    planned = {
        kind: next_run(settings, kind, now) if kind in fell_due else moment
        for kind, moment in next_runs.items()
    }
    if paused:
        return BeatPlan(list(dict.fromkeys(requested)), fell_due, planned)
    retrying = [kind for kind, retry in retries.items() if now >= retry.at]
    run = [*fell_due, *retrying, *pending, *requested]
    return BeatPlan(list(dict.fromkeys(run)), [], planned)


def next_due(next_runs: Mapping[str, datetime], retries: Mapping[str, Retry]) -> datetime | None:
    """The earliest moment a run or a retry falls due (None: nothing is planned)."""
    return min([*next_runs.values(), *(retry.at for retry in retries.values())], default=None)


def retry_at(settings: Settings, attempt: int, failed_at: datetime) -> datetime | None:
    """When to try again after the `attempt`-th failure in a row: SCHEDULER_RETRY_MINUTES,
    doubled for each next try; None once SCHEDULER_RETRIES retries have been made."""
    if attempt > settings.scheduler_retries:
        return None
    return failed_at + timedelta(minutes=settings.scheduler_retry_minutes * 2 ** (attempt - 1))


def overdue(backup_type: str, age: timedelta | None) -> bool:
    """Tell whether the newest backup of a type is older than its period, or missing (the
    catch-up at start makes it at once)."""
    return age is None or age > PERIODS[backup_type]


def stale_after(settings: Settings, backup_type: str) -> timedelta:
    """How old the newest backup of a type may be before the staleness alarm."""
    return PERIODS[backup_type] + timedelta(hours=settings.stale_grace_hours)


def is_stale(settings: Settings, backup_type: str, age: timedelta | None) -> bool:
    """Tell whether the newest backup of a type (`age` old; None: there is none) is late."""
    return age is None or age > stale_after(settings, backup_type)


def to_announce(incidents: Mapping[str, str], announced: Mapping[str, str]) -> list[str]:
    """Which incidents to alarm about: those not announced yet. An incident is keyed by what
    is late and named by the newest thing there is, so it is announced once, and anew after
    a success ends it."""
    return [key for key, name in incidents.items() if announced.get(key) != name]
