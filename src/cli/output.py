"""Render service results as text (spec layout, emoji with a plain fallback) or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from src.cli import offsite_output
from src.presentation import offsite as offsite_words
from src.presentation import replication as replication_words
from src.presentation import status as status_words
from src.presentation.marks import mark
from src.presentation.units import size, when, yes_no
from src.services import progress
from src.services.backup_service import BackupResult
from src.services.catalog import BackupInfo, VerifyReport
from src.services.demo_service import DemoResult
from src.services.diagnose_service import Diagnosis
from src.services.export_service import ExportResult
from src.services.keep_service import KeepResult
from src.services.prune_service import PrunePlan, PruneResult
from src.services.repair_service import RepairResult
from src.services.restore_service import CopyResult, RestorePlan, RestoreResult
from src.services.scheduled_run import ScheduledOutcome
from src.services.scheduler_state import SchedulerView
from src.services.status_service import SystemStatus

# What a console that cannot show emoji (a Windows console in cp1252) prints instead.
PLAIN = {
    "📊": "",
    "🗄️": "",
    "💾": "",
    "🕒": "",
    "⚙️": "",
    "📦": "",
    "📋": "",
    "🔄": "",
    "✅": "[OK]",
    "❌": "[X]",
    "⚠️": "[!]",
    "🟢": "[on]",
    "🔴": "[off]",
    "⏳": "...",
    "🚨": "[!]",
    "🔍": "",
    "🌍": "",
    "💡": "[i]",
    "📌": "",
    "🛟": "",
    "🔓": "",
    "📜": "",
    "⏸️": "[paused]",
    "▶️": "[on]",
    "❓": "[?]",
    "🔁": "",
    "📨": "",
}


def emit(text: str, stream: TextIO | None = None) -> None:
    """Print text, replacing emoji when the console's encoding cannot show them."""
    stream = stream or sys.stdout
    progress.clear()  # a progress line on the terminal goes; the next phase draws it again
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        for emoji, plain in PLAIN.items():
            text = text.replace(emoji + " ", plain + " " if plain else "").replace(emoji, plain)
        text = text.replace("\ufe0f", "").encode(encoding, "replace").decode(encoding)
    stream.write(text + "\n")
    stream.flush()


def backup_created(result: BackupResult) -> str:
    """Describe a finished backup."""
    facts = result.facts
    lines = [
        f"{mark(result.state)} {result.backup_type.capitalize()} backup created and verified",
        f"  File: {result.path}",
        f"  Size: {size(result.size_bytes)}",
        f"  Duration: {result.duration_seconds:.2f} s",
        f"  Tables: {len(facts.tables)}, rows: {facts.total_rows}",
        f"  Users: {facts.user_count if facts.user_count is not None else 'no users table'}",
        f"  Integrity before: {result.integrity_before}; archived copy: {result.integrity_after}",
    ]
    if result.degraded:
        lines.insert(1, "⚠️ DEGRADED: the database failed its checks; archived what could be read")
    if result.salvaged is not None:
        lines.append(
            f"  Salvaged page by page (as `repair` reads it): {sum(result.salvaged.values())} "
            f"rows in {len(result.salvaged)} tables, kept in the archive as its salvaged copy "
            "(a restore of this archive uses it when the damaged copy fails)"
        )
    lines += [f"  ⚠️ {problem}" for problem in result.problems]
    if result.missing_files:
        lines.append(f"  Not found (skipped): {', '.join(result.missing_files)}")
    if result.deleted:
        lines.append(f"  Retention removed: {', '.join(p.name for p in result.deleted)}")
    if result.recovery_deleted:
        names = ", ".join(p.name for p in result.recovery_deleted)
        lines.append(f"  Old reports and exports removed from the recovery folder: {names}")
    lines += offsite_words.run_lines(result.offsite)
    return "\n".join(lines)


def demo_text(db: Path, result: DemoResult) -> str:
    """Describe what the demo did."""
    sample = result.sample
    if sample is None:
        lines = [f"🗄️ A database already exists at {db}; the demo leaves it untouched."]
    else:
        lines = [
            f"🗄️ Created a sample database at {db}: {sample.users} users, "
            f"{sample.total_rows} rows in {len(sample.counts())} tables"
        ]
    lines += [f"  Wrote sample data file {path}" for path in result.data_files]
    lines.append(backup_created(result.backup))
    return "\n".join(lines)


def backup_list(backups: list[BackupInfo]) -> str:
    """List backups per type, newest first."""
    if not backups:
        return "📋 No backups yet. Make one with: python backup_manager.py backup --type manual"
    lines = [f"📋 {len(backups)} backup(s), newest first", ""]
    for item in backups:
        users = item.user_count if item.user_count is not None else "-"
        lines.append(
            f"{mark(item.state)} {item.backup_type:<11} {when(item.created_at)}  "
            f"{size(item.size_bytes):>10}"
            f"  users: {users}  {_KEPT[item.kept]}{item.path}"
        )
        if item.error:
            lines.append(f"    ❌ {item.error}")
    lines += ["", "✅ verified  ⚠️ not verified yet or degraded  ❌ failed verification"]
    if any(item.kept for item in backups):
        lines.append("📌 kept: retention never deletes or counts it (`backup unkeep NAME`)")
    return "\n".join(lines)


_KEPT = {True: "📌 kept  ", False: "", None: "(kept?)  "}  # None: the history is unreadable


def keep_text(result: KeepResult) -> str:
    """Say what `backup keep` or `backup unkeep` did."""
    if result.kept:
        if not result.changed:
            return f"📌 {result.name} was kept already; nothing changed."
        return (
            f"📌 Kept {result.name} ({result.backup_type}): retention never deletes it, here "
            f"or on an off-machine target, and does not count it.\n"
            f"  Undo with: python backup_manager.py backup unkeep {result.name}"
        )
    if not result.changed:
        return f"✅ {result.name} was not kept; nothing changed."
    return (
        f"✅ {result.name} is no longer kept: retention counts it again (the next "
        f"{result.backup_type} backup, or `prune`, may delete it)."
    )


def prune_plan_text(plan: PrunePlan, *, dry_run: bool) -> str:
    """Show what `prune` deletes (or would), and what it passes by."""
    verb = "Would delete" if dry_run else "Deleting"
    if plan.expired:
        lines = [f"{verb} {len(plan.expired)} backup(s):"]
        lines += [f"  {b.backup_type:<9} {b.path}" for b in plan.expired]
    else:
        lines = ["✅ Retention keeps every backup there is."]
    if plan.kept:
        lines.append(f"📌 Kept with `backup keep` (never deleted, not counted): {len(plan.kept)}")
        lines += [f"  {b.backup_type:<9} {b.path}" for b in plan.kept]
    recovery = plan.recovery
    if recovery is None or recovery.days == 0:
        return "\n".join(lines)
    old = f"older than {recovery.days} days (RECOVERY_RETENTION_DAYS)"
    if recovery.expired:
        lines.append(f"{verb} {len(recovery.expired)} report(s) and export(s) {old}:")
        lines += [f"  {item.kind:<9} {item.path}" for item in recovery.expired]
    if recovery.left:
        lines.append(
            f"⚠️ Left in the recovery folder, {old} but possibly the only copy of their data "
            "(delete them by hand once they are no longer needed):"
        )
        lines += [f"  {item.path}" for item in recovery.left]
    return "\n".join(lines)


def prune_done_text(result: PruneResult) -> str:
    """Say what `prune` deleted."""
    text = f"✅ Deleted {len(result.deleted)} backup(s)"
    if result.recovery_deleted:
        text += f" and {len(result.recovery_deleted)} old report(s) and export(s)"
    return text + "."


CLI_HINTS = status_words.Hints(
    start_scheduler="start it with `python backup_manager.py scheduler`",
    resume_scheduler="`python backup_manager.py scheduler resume`",
)


def status_text(status: SystemStatus) -> str:
    """Render the status in the spec's layout, with the CLI's commands as hints."""
    return status_words.status_text(status, CLI_HINTS)


def scheduled_lines(outcome: ScheduledOutcome) -> list[str]:
    """Say what `scheduler run-now` made: the archive, and a weekly one's restore drill."""
    name = outcome.archive.name if outcome.archive else ""
    lines = [f"✅ {outcome.backup_type.capitalize()} backup made: {name}"]
    if outcome.drill is not None:
        mark = "✅" if outcome.drill.ok else "❌"
        lines.append(f"{mark} Restore drill: {outcome.drill.detail}")
    if outcome.replica_drill is not None:
        mark = "✅" if outcome.replica_drill.ok else "❌"
        lines.append(f"{mark} Replica drill: {outcome.replica_drill.detail}")
    return lines


def verify_text(report: VerifyReport) -> str:
    """Describe the verification of one archive."""
    if report.ok:
        meta = report.metadata or {}
        rows = meta.get("database", {}).get("total_rows", "?")
        return f"✅ {report.path.name}: all checks passed ({rows} rows)"
    return "\n".join([f"❌ {report.path.name}:"] + [f"    {p}" for p in report.problems])


def _count_rows(names: list[str], now: dict[str, int] | None, then: dict[str, int]) -> list[str]:
    """Render row counts now against those in the backup, a table a line."""
    lines = [f"  {'table':<28} {'now':>10} {'in backup':>10}"]
    for name in names:
        current = "-" if now is None else str(now.get(name, "-"))
        lines.append(f"  {name:<28} {current:>10} {then.get(name, '-')!s:>10}")
    return lines


def restore_plan_text(plan: RestorePlan) -> str:
    """Describe what a restore would do."""
    check = plan.validation
    meta, db = check.metadata, check.metadata.get("database", {})
    lines = [
        f"🔍 {check.archive.name}: every check passed",
        f"  Type: {meta.get('backup_type')}, created {when(meta.get('created_at'))} "
        f"on {meta.get('hostname')}",
        f"  From: {db.get('source_path')}",
        f"  Restores from the archived {check.source} copy",
    ]
    lines += [_note(note) for note in check.notes]
    if plan.live_problem and not plan.live_exists:
        lines.append("  No live database yet (a new machine?): the backup becomes it.")
    elif plan.live_problem:
        lines.append(f"  The live database cannot be read: {plan.live_problem}")
    if plan.tables:
        lines.append(
            f"  Restores only the tables {', '.join(plan.tables)}; the others stay as they are."
        )
        live = {n: c for n, c in (plan.live_counts or {}).items() if n in plan.tables}
        lines += ["", *_count_rows(plan.tables, live, check.counts)]
        return "\n".join(lines)
    if plan.schema_changes:
        lines.append(
            f"  ⚠️ The archive changes the live schema ({len(plan.schema_changes)} change(s)); "
            "restoring it needs --allow-schema-change:"
        )
        lines += [f"    - {change.describe()}" for change in plan.schema_changes]
    names = sorted(set(check.counts) | set(plan.live_counts or {}))
    lines += ["", *_count_rows(names, plan.live_counts, check.counts)]
    return "\n".join(lines)


_NO_SAFETY = "none (no readable database to keep, or --no-safety-copy)"


def _note(note: str) -> str:
    """A note of a restore: where the archive came from is news, anything else a warning."""
    return f"  {'🌍' if note.startswith('fetched ') else '⚠️'} {note}"


def restore_result_text(result: RestoreResult) -> str:
    """Describe a finished restore."""
    what = f" tables {', '.join(result.tables)}" if result.tables else ""
    lines = [
        f"{mark(result.state)} Restored{what} from {result.archive.name} ({result.source} copy)",
        f"  Integrity: {result.integrity}",
        f"  Row counts match the backup: {yes_no(result.counts == result.expected)}",
        f"  Safety copy of the previous database: {result.safety_backup or _NO_SAFETY}",
    ]
    lines += [f"  Moved aside (damaged): {path}" for path in result.moved_aside]
    lines += [f"  Schema change allowed: {c.describe()}" for c in result.schema_changes]
    if result.files_restored:
        lines.append(f"  Files restored: {', '.join(result.files_restored)}")
        lines.append(f"  Previous files kept in: {result.files_kept_aside}")
    lines += [_note(note) for note in result.notes]
    lines.append(f"  Report: {result.report}")
    return "\n".join(lines)


def copy_text(copy: CopyResult) -> str:
    """Describe what `restore --to` wrote."""
    lines = [
        f"{mark(copy.state)} Wrote the database of {copy.archive.name} "
        f"({copy.source} copy) to {copy.path}",
        f"  Integrity: {copy.integrity}",
        f"  Row counts match the backup: {yes_no(copy.counts == copy.expected)}",
        "  The live database was not touched.",
    ]
    lines += [_note(note) for note in copy.notes]
    return "\n".join(lines)


def diagnosis_text(result: Diagnosis) -> str:
    """Render a diagnosis: each check, the verdict, the next commands."""
    mark = {"HEALTHY": "✅", "WARNING": "⚠️", "CORRUPT": "🚨", "MISSING": "🚨"}[result.verdict]
    lines = [f"🔍 Database diagnosis: {result.database}", ""]
    for check in result.checks:
        lines.append(f"  {'✅' if check.ok else '❌'} {check.name}: {check.detail}")
    lines += ["", f"{mark} Verdict: {result.verdict}"]
    if result.recommendations:
        lines += ["", "Next steps:"] + [
            f"  {n}. {r}" for n, r in enumerate(result.recommendations, 1)
        ]
    if result.export:
        lines.append(f"\nReadable rows exported to: {result.export}")
    lines.append(f"Report: {result.report}")
    return "\n".join(lines)


def repair_text(result: RepairResult) -> str:
    """Describe a repair: rows recovered per table against the newest backup, and what next."""
    fewer = result.fewer_than_backup()
    good = (
        result.integrity == "ok"
        and not fewer
        and not result.lost_and_found
        and not result.unexpected_errors
        and not any(count.from_backup for count in result.counts.values())
    )
    mark = "✅" if good else "⚠️" if result.integrity == "ok" else "❌"
    lines = [
        f"{mark} Recovered database: {result.recovered} (integrity: {result.integrity})",
        f"  {'table':<28} {'recovered':>10} {'in backup':>10}",
    ]
    for name, rows in result.rows.items():
        backup = "-" if result.expected is None else str(result.expected.get(name, "-"))
        count = result.counts.get(name)
        found = ""
        if count and (count.from_unlinked_pages or count.from_backup):
            where = [f"{count.from_unlinked_pages} from unlinked pages"] * bool(
                count.from_unlinked_pages
            ) + [f"{count.from_backup} from the backup"] * bool(count.from_backup)
            found = f"  ({', '.join(where)})"
        lines.append(f"  {name:<28} {rows:>10} {backup:>10}{found}")
    if result.rebuilt:
        lines.append(f"  (rebuilt from the rows: {', '.join(result.rebuilt)})")
    if result.healthy:
        lines.append("  ✅ The live database passes integrity_check: it needs no repair.")
    if result.damaged_pages:
        pages = ", ".join(map(str, result.unreadable[:10]))
        more = " ..." if result.damaged_pages > 10 else ""
        lines.append(
            f"  ⚠️ Unreadable table pages: {result.damaged_pages} (page {pages}{more}; all in "
            "the report). Index, overflow and free pages are not counted here."
        )
    if result.lost_and_found:
        lines.append(
            f"  ⚠️ Rows kept in the lost_and_found table: {result.lost_and_found} (each with "
            "its page, table guess, rowid and the reason it could not go back into its table)"
        )
    lines += [f"  ⚠️ {note}" for note in result.notes]
    lines += [f"  ⚠️ not recreated: {item}" for item in result.failed_objects]
    if result.foreign_key_violations:
        lines.append(
            f"  ⚠️ Rows that refer to a lost row (foreign_key_check): "
            f"{result.foreign_key_violations}; kept, their parent rows were on damaged pages"
        )
    if fewer:
        listed = ", ".join(f"{name} ({got} of {had})" for name, (got, had) in fewer.items())
        lines += [
            f"  ⚠️ Fewer rows than the newest backup in: {listed}.",
            "     If those rows matter more than the changes made since that backup, restore "
            "it instead: python backup_manager.py restore latest --confirm",
        ]
    lines.append(f"Report: {result.report}")
    if result.applied:
        kept = result.kept_damaged[0].parent if result.kept_damaged else "-"
        lines.append(f"✅ The live database now holds the recovered data. Damaged files: {kept}")
        if result.safety_backup:
            lines.append(
                f"🛟 Safety copy of the database as it was (pre-restore): {result.safety_backup}"
            )
    elif not result.healthy:
        lines.append(
            "The live database was not changed. Check the recovered copy; to use it, stop the "
            "bot and run: python backup_manager.py repair --apply"
        )
    return "\n".join(lines)


def export_text(result: ExportResult) -> str:
    """Describe a finished export."""
    mark = "✅" if result.complete else "⚠️"
    lines = [f"{mark} Exported {sum(result.rows.values())} rows to {result.folder}"]
    for name, rows in result.rows.items():
        stop = f"  ❌ {result.errors[name]}" if name in result.errors else ""
        lines.append(f"  {result.files[name]:<32} {rows:>10} rows{stop}")
    return "\n".join(lines)


def info_json(item: BackupInfo) -> dict[str, Any]:
    """Describe a backup for --json."""
    return {
        "path": str(item.path),
        "name": item.name,
        "type": item.backup_type,
        "created_at": item.created_at,
        "size_bytes": item.size_bytes,
        "verified": item.verified,
        "degraded": item.degraded,
        "state": item.state,
        "user_count": item.user_count,
        "error": item.error,
        "kept": item.kept,
    }


def status_json(status: SystemStatus) -> dict[str, Any]:
    """Describe the status for --json."""
    db, stats = status.database, status.statistics
    return {
        "database": {
            "path": str(db.path),
            "exists": db.exists,
            "size_bytes": db.size_bytes,
            "integrity": db.integrity,
            "hot_journal": db.hot_journal,
        },
        "backups": {
            "total": status.total_backups,
            "by_type": status.backups_by_type,
            "storage_bytes": status.storage_bytes,
            "free_bytes": status.free_bytes,
        },
        "latest": info_json(status.latest) if status.latest else None,
        "history": {
            "successes": stats.successes,
            "failures": stats.failures,
            "interrupted": stats.interrupted,
            "last_success": stats.last_success.started_at if stats.last_success else None,
            "last_failure": stats.last_failure.error if stats.last_failure else None,
        },
        "scheduler": scheduler_json(status.scheduler),
        "offsite": offsite_output.status_json(status.offsite),
        "replication": replication_words.status_json(status.replication),
        "unreachable_admins": [
            {"admin": r.admin, "state": r.state, "reason": r.reason, "since": r.since}
            for r in status.unreachable_admins
        ],
    }


def scheduler_json(view: SchedulerView) -> dict[str, Any]:
    """Describe the scheduler for --json."""
    return {
        "running": view.running,
        "not_responding": view.hanging,
        "pid": view.pid if view.running or view.hanging else None,
        "heartbeat_at": view.heartbeat_at,
        "started_at": view.started_at,
        "paused": view.paused,
        "successes": view.successes,
        "failures": view.failures,
        "next_runs": {kind: moment.isoformat() for kind, moment in view.next_runs.items()},
        "last_success": view.last_success,
        "last_failure": view.last_failure,
        "last_drill": view.last_drill,
        "last_replica_drill": view.last_replica_drill,
        "stale": view.stale,
    }


def scheduled_json(outcome: ScheduledOutcome) -> dict[str, Any]:
    """Describe what `scheduler run-now` made for --json."""
    return {
        "ok": outcome.ok,
        "backup_type": outcome.backup_type,
        "archive": outcome.archive.name if outcome.archive else None,
        "drill": outcome.drill_summary,
        "replica_drill": outcome.replica_drill_summary,
    }


def to_json(data: Any) -> str:
    """Serialise for --json output."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: paths, sets, and anything else as text."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def result_json(result: Any, **extra: Any) -> str:
    """A service's result (a dataclass, or a list of them) as one JSON document: its fields,
    and `extra` (the verdicts that are properties, such as ok)."""
    data = orjson.loads(orjson.dumps(result, default=_plain))
    if isinstance(data, dict):
        data.update(extra)
    return to_json(data)
