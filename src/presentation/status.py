"""The status in the spec's layout, the same for every door (its hints aside)."""

from __future__ import annotations

from dataclasses import dataclass

from src.presentation import offsite, replication
from src.presentation.units import size, when, yes_no
from src.services.scheduler_state import SchedulerView
from src.services.status_service import SystemStatus


@dataclass(frozen=True)
class Hints:
    """A door's own words for what a person does next (its commands or its buttons)."""

    start_scheduler: str  # completes "Not running (...)"
    resume_scheduler: str  # completes "... resumes it"


def status_text(status: SystemStatus, hints: Hints) -> str:
    """Render the status in the spec's layout; `hints` are the door's own words."""
    db, stats = status.database, status.statistics
    integrity = "✅ OK" if db.integrity == "ok" else f"❌ {db.integrity}"
    if db.hot_journal:
        integrity = f"⚠️ {db.integrity}"
    lines = [
        "📊 Backup System Status",
        "",
        "🗄️ DATABASE:",
        f"  Path: {db.path}",
        f"  Exists: {yes_no(db.exists)}",
        f"  Size: {size(db.size_bytes)}",
        f"  Integrity: {integrity if db.exists else '-'}",
        "",
        "💾 BACKUPS:",
        f"  Total backups: {status.total_backups}",
        "  " + ", ".join(f"{kind}: {n}" for kind, n in status.backups_by_type.items()),
        f"  Storage used: {size(status.storage_bytes)}",
        f"  Free space: {size(status.free_bytes)}",
        "",
        "🕒 LATEST BACKUP:",
    ]
    latest = status.latest
    if latest:
        lines += [
            f"  Type: {latest.backup_type.capitalize()}",
            f"  Created: {when(latest.created_at)}",
            f"  Size: {size(latest.size_bytes)}",
        ]
    else:
        lines.append("  None yet")
    lines += ["", *scheduler_lines(status.scheduler, hints)]
    lines += ["", *offsite.status_lines(status.offsite)]
    replica = replication.status_lines(status.replication, hints.start_scheduler)
    lines += ["", *replica] if replica else []
    lines += [
        "",
        "📜 HISTORY (every backup, any trigger):",
        f"  Successful: {stats.successes}, failed: {stats.failures}"
        + (f", interrupted: {stats.interrupted}" if stats.interrupted else ""),
    ]
    if stats.last_failure:
        lines.append(
            f"  Last failure: {when(stats.last_failure.started_at)} "
            f"({stats.last_failure.backup_type}): {stats.last_failure.error}"
        )
    if status.unreachable_admins:
        lines += ["", *admin_lines(status)]
    return "\n".join(lines)


def admin_lines(status: SystemStatus) -> list[str]:
    """The admins the bot's messages do not reach, and why."""
    lines = ["📨 ADMINS THE BOT CANNOT REACH:"]
    for reach in status.unreachable_admins:
        lines.append(f"  ⚠️ {reach.admin}: {reach.reason} (since {when(reach.since)})")
    return lines


def scheduler_lines(view: SchedulerView, hints: Hints) -> list[str]:
    """The spec's SCHEDULER section: state, counts, next runs, drill, alarms."""
    start = hints.start_scheduler
    if view.hanging:
        state = (
            f"⚠️ Not responding (pid {view.pid}, last heartbeat {when(view.heartbeat_at)}): "
            "it may be stopped or stuck; end that process and start it again"
        )
    elif view.running and view.paused:
        state = f"⏸️ Paused (pid {view.pid}; {hints.resume_scheduler} resumes it)"
    elif view.running:
        state = f"🟢 Running (pid {view.pid}, since {when(view.started_at or '')})"
    elif view.ever_ran:
        state = f"🔴 Stopped ({start})"
    else:
        state = f"🔴 Not running ({start})"
    if view.paused and not view.running:
        state += f"; paused: scheduled backups are skipped until {hints.resume_scheduler}"
    zone = view.next_runs["daily"].tzname() or ""
    lines = [
        "⚙️ SCHEDULER:",
        f"  Status: {state}",
        f"  Successful backups: {view.successes}",
        f"  Failed backups: {view.failures}",
        f"  Next daily backup: {view.next_runs['daily']:%Y-%m-%d %H:%M:%S} {zone}".rstrip(),
        f"  Next weekly backup: {view.next_runs['weekly']:%Y-%m-%d %H:%M:%S} {zone}".rstrip(),
    ]
    for label, drill in (("restore", view.last_drill), ("replica", view.last_replica_drill)):
        if drill:  # the restore drill names its archive; the replica's has none
            archive = f" {drill.get('archive')}" if label == "restore" else ""
            lines.append(
                f"  Last {label} drill: {'✅' if drill.get('ok') else '❌'} "
                f"{when(str(drill.get('at')))}{archive}"
                + ("" if drill.get("ok") else f": {drill.get('detail')}")
            )
    lines += [f"  ⚠️ {warning}" for warning in view.stale]
    return lines
