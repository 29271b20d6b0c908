"""The status in the spec's layout, the same for every door (its hints aside), in English
(the CLI) or Indonesian (the bot, for an admin who reads it): one layout, two languages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from src.presentation import offsite, replication
from src.presentation.units import size, when, yes_no
from src.presentation.words import ENGLISH, WORDS, word
from src.services.admin_reach import AdminReach
from src.services.scheduler_state import SchedulerView
from src.services.status_service import SystemStatus


@dataclass(frozen=True)
class Hints:
    """A door's own words for what a person does next (its commands or its buttons).

    They are in the language the status is rendered in (the door chooses both).
    """

    start_scheduler: str  # completes "Not running (...)"
    resume_scheduler: str  # completes "... resumes it"


def kind_word(kind: str, language: str = ENGLISH) -> str:
    """A backup type ("daily") in `language` (an unknown type as it is)."""
    key = f"kind_{kind}"
    return word(key, language) if key in WORDS else kind


def reason(reach: AdminReach, language: str = ENGLISH) -> str:
    """Why an admin cannot be reached, in `language`."""
    key = f"reason_{reach.state}"
    return word(key, language) if key in WORDS else reach.reason


def status_text(status: SystemStatus, hints: Hints, language: str = ENGLISH) -> str:
    """Render the status in the spec's layout; `hints` are the door's own words.

    language: "en" (the default: the CLI's text) or "id".
    """
    lang = language

    def w(key: str, **values: object) -> str:
        return word(key, lang, **values)

    db, stats = status.database, status.statistics
    integrity = "✅ OK" if db.integrity == "ok" else f"❌ {db.integrity}"
    if db.hot_journal:
        integrity = f"⚠️ {db.integrity}"
    lines = [
        w("title"),
        "",
        w("database"),
        w("path", path=db.path),
        w("exists", flag=yes_no(db.exists, lang)),
        w("size", size=size(db.size_bytes)),
        w("integrity", integrity=integrity if db.exists else "-"),
        "",
        w("backups"),
        w("total_backups", count=status.total_backups),
        "  "
        + ", ".join(f"{kind_word(kind, lang)}: {n}" for kind, n in status.backups_by_type.items()),
        w("storage_used", size=size(status.storage_bytes)),
        w("free_space", size=size(status.free_bytes)),
        "",
        w("latest"),
    ]
    latest = status.latest
    if latest:
        lines += [
            w("type", kind=kind_word(latest.backup_type, lang).capitalize()),
            w("created", at=when(latest.created_at, lang)),
            w("size", size=size(latest.size_bytes)),
        ]
    else:
        lines.append(w("none_yet"))
    lines += ["", *scheduler_lines(status.scheduler, hints, lang)]
    lines += ["", *offsite.status_lines(status.offsite, lang)]
    replica = replication.status_lines(status.replication, hints.start_scheduler, lang)
    lines += ["", *replica] if replica else []
    lines += [
        "",
        w("history"),
        w("history_counts", ok=stats.successes, failed=stats.failures)
        + (w("history_interrupted", count=stats.interrupted) if stats.interrupted else ""),
    ]
    if stats.last_failure:
        lines.append(
            w(
                "last_failure",
                at=when(stats.last_failure.started_at, lang),
                kind=kind_word(stats.last_failure.backup_type, lang),
                error=stats.last_failure.error,
            )
        )
    if status.unreachable_admins:
        lines += ["", *admin_lines(status, lang)]
    return "\n".join(lines)


def admin_lines(status: SystemStatus, language: str = ENGLISH) -> list[str]:
    """The admins the bot's messages do not reach, and why."""
    lines = [word("admins", language)]
    for reach in status.unreachable_admins:
        lines.append(
            word(
                "admin_line",
                language,
                admin=reach.admin,
                reason=reason(reach, language),
                since=when(reach.since, language),
            )
        )
    return lines


def scheduler_lines(view: SchedulerView, hints: Hints, language: str = ENGLISH) -> list[str]:
    """The spec's SCHEDULER section: state, counts, next runs, drill, alarms."""
    lang = language

    def w(key: str, **values: object) -> str:
        return word(key, lang, **values)

    start, resume = hints.start_scheduler, hints.resume_scheduler
    if view.hanging:
        state = w("sched_hanging", pid=view.pid, at=when(view.heartbeat_at, lang))
    elif view.running and view.paused:
        state = w("sched_paused", pid=view.pid, resume=resume)
    elif view.running:
        state = w("sched_running", pid=view.pid, at=when(view.started_at or "", lang))
    elif view.ever_ran:
        state = w("sched_stopped", start=start)
    else:
        state = w("sched_not_running", start=start)
    if view.paused and not view.running:
        state += w("sched_paused_stopped", resume=resume)
    zone = view.next_runs["daily"].tzname() or ""
    lines = [
        w("scheduler"),
        w("status", state=state),
        w("successful_backups", count=view.successes),
        w("failed_backups", count=view.failures),
        w("next_daily", at=f"{view.next_runs['daily']:%Y-%m-%d %H:%M:%S} {zone}").rstrip(),
        w("next_weekly", at=f"{view.next_runs['weekly']:%Y-%m-%d %H:%M:%S} {zone}").rstrip(),
    ]
    for label, drill in (("restore", view.last_drill), ("replica", view.last_replica_drill)):
        if drill:  # the restore drill names its archive; the replica's has none
            archive = f" {drill.get('archive')}" if label == "restore" else ""
            result = (
                f"{'✅' if drill.get('ok') else '❌'} {when(str(drill.get('at')), lang)}{archive}"
                + ("" if drill.get("ok") else f": {drill.get('detail')}")
            )
            lines.append(w(f"last_{label}_drill", result=result))
    lines += [f"  ⚠️ {stale_warning(warning, lang)}" for warning in view.stale]
    return lines


_STALE = {
    "stale_yet": re.compile(r"No (?P<kind>\S+) backup has succeeded yet"),
    "stale_for": re.compile(
        r"No (?P<kind>\S+) backup has succeeded for (?P<hours>\d+) h "
        r"\(the alarm is at (?P<limit>\d+) h\)"
    ),
}


def stale_warning(warning: str, language: str = ENGLISH) -> str:
    """A warning of the scheduler's state (written in English by the core) in `language`;
    one it does not know (such as an unreadable state) as it is."""
    if language == ENGLISH:
        return warning
    for key, pattern in _STALE.items():
        found = pattern.fullmatch(warning)
        if found:
            values = found.groupdict()
            return word(key, language, **(values | {"kind": kind_word(values["kind"], language)}))
    return warning
