"""The scheduler's alarms about what is late or failing, each raised once per incident.

An incident is remembered in the scheduler's state under the name of the newest thing there
is (a backup, a copy), so it is announced once and anew only after a success ends it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from src.config.settings import Settings
from src.services import catalog
from src.services.notifiers import Notifier
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.report import stale_targets
from src.services.schedule_times import is_stale, stale_after, to_announce
from src.services.scheduler_state import SCHEDULED, SchedulerState, backup_age


def check_stale(settings: Settings, notifier: Notifier, now: datetime) -> None:
    """Alarm about scheduled backups (and off-machine copies) that have not succeeded for
    too long at `now`, once per incident."""
    state = SchedulerState(settings)
    ages: dict[str, timedelta | None] = {}
    incidents: dict[str, str] = {}  # type: the newest backup's name (or "none")
    for kind in SCHEDULED:
        ages[kind] = backup_age(settings, kind, now)
        if is_stale(settings, kind, ages[kind]):
            newest = catalog.latest(settings, kind)
            incidents[kind] = newest.name if newest else "none"
    for kind in to_announce(incidents, state.read().get("stale_notified", {})):
        notifier.notify("stale", stale_message(settings, kind, ages[kind]))
    state.update(lambda saved: saved.update(stale_notified=incidents))
    check_offsite_stale(settings, notifier, now)


def stale_message(settings: Settings, backup_type: str, age: timedelta | None) -> str:
    """Say that no backup of a type has succeeded for `age` (None: ever)."""
    since = f"for {age.total_seconds() / 3600:.0f} h" if age else "yet"
    limit = stale_after(settings, backup_type).total_seconds() / 3600
    return (
        f"No {backup_type} backup has succeeded {since} (the alarm is at {limit:.0f} h). "
        "Is the scheduler running? `python backup_manager.py status` shows it."
    )


def check_offsite_stale(settings: Settings, notifier: Notifier, now: datetime) -> None:
    """A stale target (report.stale_since: no daily backup made within OFFSITE_STALE_HOURS
    verified there): alarm once per incident."""
    state = SchedulerState(settings)
    incidents = stale_targets(settings, now)
    notified = state.read().get("offsite_stale_notified", {})
    for target in to_announce(incidents, notified):
        newest = incidents[target]
        newest_there = "none yet" if newest == "none" else newest
        notifier.notify(
            "offsite_stale",
            f"No daily backup made in the last {settings.offsite.stale_hours} h is verified on "
            f"off-machine target {target} (the newest there: {newest_there}). If the server "
            "is lost now, "
            "these backups are lost with it. `python backup_manager.py status` shows the last "
            "error; `offsite sync` retries.",
        )
    if incidents != notified:
        state.update(lambda saved: saved.update(offsite_stale_notified=incidents))


def alert_offsite(settings: Settings, notifier: Notifier, run: OffsiteRun) -> None:
    """Alarm once per failing target (an incident ends with a verified copy there)."""
    state = SchedulerState(settings)
    failing = {o.target: o.detail for o in run.outcomes if not o.ok and not o.busy}
    healed = {o.target for o in run.outcomes if o.ok} - set(failing)
    known: dict[str, Any] = dict(state.read().get("offsite_failing", {}))
    for target, detail in failing.items():
        if target not in known:
            notifier.notify(
                "offsite_failed",
                f"The copy to off-machine target {target} failed: {detail.rstrip('.')}. "
                "The local backup is fine; the copy stays pending and is retried.",
            )
    new = {t: d for t, d in {**known, **failing}.items() if t not in healed}
    if new != known:
        state.update(lambda saved: saved.update(offsite_failing=new))
