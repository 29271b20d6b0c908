"""What the bot shows: HTML texts (every dynamic value escaped) and inline keyboards."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from html import escape, unescape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from src.config.settings import ARCHIVE_TYPES, Settings
from src.presentation import offsite as offsite_words
from src.presentation.marks import mark
from src.presentation.status import Hints, status_text
from src.presentation.units import size, when
from src.services.backup_service import BackupResult
from src.services.catalog import BackupInfo
from src.services.jobs import Job
from src.services.replication.positions import ReplicaPositions
from src.services.replication.restore import MORNING_HOUR
from src.services.restore_service import RestorePlan, RestoreResult
from src.services.scheduled_run import ScheduledOutcome
from src.services.scheduler_state import SchedulerView
from src.services.status_service import SystemStatus

MESSAGE_LIMIT = 4096
PAGE_SIZE = 8
TYPE_ICONS = {"daily": "📅", "weekly": "🗓️", "manual": "📦", "emergency": "🔄", "pre-restore": "🛟"}


class Menu:
    """Builds callback_data: `bk<generation>|<action>|<argument>`, at most 64 bytes."""

    def __init__(self, generation: str) -> None:
        self.generation = generation

    def data(self, action: str, argument: str = "") -> str:
        value = f"bk{self.generation}|{action}|{argument}"
        if len(value.encode()) > 64:
            raise ValueError(f"callback_data too long: {value!r}")
        return value

    def button(self, text: str, action: str, argument: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=self.data(action, argument))

    def nav(self, back: str = "menu", argument: str = "") -> list[InlineKeyboardButton]:
        """The back and close buttons every screen has."""
        return [self.button("⬅️ Back", back, argument), self.button("✖️ Close", "close")]


def parse(data: str) -> tuple[str, str, str] | None:
    """Split callback_data into (generation, action, argument); None when it is not ours."""
    if not data.startswith("bk"):
        return None
    parts = data[2:].split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def backup_id(item: BackupInfo) -> str:
    """A short id for a backup, stable across restarts (callback_data cannot hold names)."""
    return hashlib.sha1(item.name.encode(), usedforsecurity=False).hexdigest()[:12]


CUT_MARK = "\n… (cut to fit one message)"
_HTML_TOKEN = re.compile(r"<[^<>]*>|&[#\w]+;|[^<&]+|[<&]")


def visible_length(text: str) -> int:
    """The length Telegram counts: the text shown, without tags, entities as one character."""
    return len(unescape(re.sub(r"<[^<>]*>", "", text)))


def fit(text: str) -> str:
    """Keep an HTML message within Telegram's 4096 visible characters (cut, marked).

    The cut is measured on the text shown (not the escaped HTML), never falls inside a tag
    or an entity, and closes the tags left open.
    """
    if visible_length(text) <= MESSAGE_LIMIT:
        return text
    budget, used = MESSAGE_LIMIT - len(CUT_MARK), 0
    kept: list[str] = []
    open_tags: list[str] = []
    for token in _HTML_TOKEN.findall(text):
        if len(token) > 1 and token[0] == "<":
            name = re.sub(r"[\s>].*", "", token[1:].lstrip("/"))
            if token.startswith("</"):
                open_tags = open_tags[:-1]
            else:
                open_tags.append(name)
            kept.append(token)
            continue
        width = 1 if token.startswith("&") else len(token)
        if used + width > budget:
            kept.append("" if token.startswith("&") else token[: budget - used])
            break
        kept.append(token)
        used += width
    return "".join(kept) + "".join(f"</{name}>" for name in reversed(open_tags)) + CUT_MARK


def fit_plain(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Keep a plain text within `limit` characters (cut at the end, marked)."""
    if len(text) <= limit:
        return text
    return text[: limit - len(CUT_MARK)] + CUT_MARK


def middle_cut(text: str, limit: int) -> str:
    """Shorten a plain text to `limit` characters, keeping its beginning and its end."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(f" [… {len(text)} characters cut …] "), 2)
    head, tail = keep - keep // 3, keep // 3
    cut = len(text) - head - tail
    return f"{text[:head]} [… {cut} characters cut …] {text[len(text) - tail :]}"


def job_line(job: Job) -> str:
    """The line every admin's menu shows while a job runs."""
    return f"⏳ {escape(job.sentence())}"


def interrupted(job: Job) -> str:
    """Tell the admins about a job a restart cut short."""
    if "restore" in job.what:
        hint = (
            "📊 Backup Status shows whether the database is sound; the safety copy made "
            "before the restore is among the pre-restore backups."
        )
    else:
        hint = "Nothing half-written is listed as a backup: make it again from /backup."
    since = datetime.fromisoformat(job.started_at).strftime("%Y-%m-%d %H:%M")
    return (
        f"⚠️ <b>The bot restarted during {escape(job.what)}</b>\n"
        f"Started {since} by {escape(job.started_by)}; it did not finish.\n{hint}"
    )


def main_menu(menu: Menu, running: Job | None = None) -> tuple[str, InlineKeyboardMarkup]:
    text = "🛡️ <b>Backup Management</b>\nChoose an action:"
    if running is not None:
        text += f"\n\n{job_line(running)}"
    keyboard = [
        [menu.button("📦 Create Manual Backup", "new", "manual")],
        [menu.button("🔄 Create Emergency Backup", "new", "emergency")],
        [menu.button("📋 List Backups", "types")],
        [menu.button("📊 Backup Status", "status")],
        [menu.button("⚙️ Scheduler Settings", "sched")],
        [menu.button("🔧 Restore Menu", "restore")],
        [menu.button("✖️ Close", "close")],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def backup_done(menu: Menu, result: BackupResult) -> tuple[str, InlineKeyboardMarkup]:
    facts = result.facts
    verdict = "⚠️ degraded (the database failed its checks)" if result.degraded else "✅ ok"
    text = (
        f"{mark(result.state)} <b>{escape(result.backup_type.capitalize())} backup created</b>\n"
        f"File: <code>{escape(result.path.name)}</code>\n"
        f"Size: {escape(size(result.size_bytes))}\n"
        f"Duration: {result.duration_seconds:.1f} s\n"
        f"Users: {facts.user_count if facts.user_count is not None else '-'}\n"
        f"Integrity: before {escape(result.integrity_before)}, "
        f"archive {escape(result.integrity_after)} — {verdict}"
    )
    offsite = [line.strip() for line in offsite_words.run_lines(result.offsite)]
    if offsite:
        text += "\n" + "\n".join(escape(line[:300]) for line in offsite)
    return fit(text), InlineKeyboardMarkup([menu.nav()])


def failure(menu: Menu, what: str, error: str) -> tuple[str, InlineKeyboardMarkup]:
    title = f"❌ <b>{escape(what)} failed</b>\n"
    reason = middle_cut(error, MESSAGE_LIMIT - visible_length(title) - 10)
    text = title + escape(reason)
    return fit(text), InlineKeyboardMarkup([menu.nav()])


def type_picker(
    menu: Menu, backups: list[BackupInfo], action: str = "list", replica: bool = False
) -> tuple[str, InlineKeyboardMarkup]:
    """The backups by type (to list or to restore; `replica`: also to a point in time)."""
    counts = {kind: sum(1 for b in backups if b.backup_type == kind) for kind in ARCHIVE_TYPES}
    text = (
        "📋 <b>Backups</b>\nChoose a type:"
        if action == "list"
        else ("🔧 <b>Restore</b>\nChoose the type of the backup to restore:")
    )
    rows = [
        [menu.button(f"{TYPE_ICONS[kind]} {kind.capitalize()} ({n})", action, f"{kind}:0")]
        for kind, n in counts.items()
    ]
    if replica:
        rows.append([menu.button("🕰️ To a point in time (replica)", "pit")])
    rows.append(menu.nav())
    return text, InlineKeyboardMarkup(rows)


def backup_page(
    menu: Menu, backups: list[BackupInfo], kind: str, page: int, action: str = "list"
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of a type's backups, newest first; each opens its details (or restore)."""
    chosen = [b for b in backups if b.backup_type == kind]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = chosen[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    if action == "list":
        where = breadcrumbs("Backups", kind.capitalize(), f"{page + 1}/{pages}")
        text = f"{TYPE_ICONS[kind]} <b>{escape(where)}</b>"
    else:
        text = (
            f"{TYPE_ICONS[kind]} <b>Restore from: {escape(kind)}</b> (page {page + 1} of {pages})"
        )
    if not shown:
        text += "\nNone yet."
    rows = []
    target = "item" if action == "list" else "plan"
    for item in shown:
        label = f"{mark(item.state)} {when(item.created_at)[:16]} · {size(item.size_bytes)}"
        label += " · degraded" if item.degraded else ""
        label += " · 📌 kept" if item.kept else ""
        ident = f"{backup_id(item)}:{page}" if action == "list" else backup_id(item)
        rows.append([menu.button(label, target, ident)])
    turn = []
    if page > 0:
        turn.append(menu.button("◀️ Newer", action, f"{kind}:{page - 1}"))
    if page + 1 < pages:
        turn.append(menu.button("Older ▶️", action, f"{kind}:{page + 1}"))
    if turn:
        rows.append(turn)
    rows.append(menu.nav("types" if action == "list" else "restore"))
    return text, InlineKeyboardMarkup(rows)


CRUMB = " \u203a "  # a single right-pointing angle quote between the steps


def breadcrumbs(*steps: str) -> str:
    """Where a screen is in the menu: "Backups, Manual, 2/4" joined by a single angle quote."""
    return CRUMB.join(steps)


def backup_details(
    menu: Menu, item: BackupInfo, limit_mb: int, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """One backup's facts and what can be done with it; Back returns to its list's `page`."""
    meta: dict[str, Any] = item.metadata or {}
    database = meta.get("database", {})
    tables = database.get("tables", {})
    verified = {True: "✅ verified", False: "❌ failed verification", None: "⚠️ not verified"}
    crumbs = breadcrumbs("Backups", item.backup_type.capitalize(), f"page {page + 1}")
    lines = [
        f"<i>{escape(crumbs)}</i>",
        f"{TYPE_ICONS.get(item.backup_type, '📦')} <b>{escape(item.name)}</b>",
        f"Type: {escape(item.backup_type)}",
        f"Created: {escape(when(item.created_at))}",
        f"Size: {escape(size(item.size_bytes))}",
        f"State: {verified[item.verified]}"
        + (" (degraded)" if item.degraded else "")
        + (", 📌 kept (retention never deletes it)" if item.kept else ""),
        f"Users: {item.user_count if item.user_count is not None else '-'}",
        f"Tables: {len(tables)}, rows: {sum(tables.values()) if tables else '-'}",
        f"SQLite: {escape(str(database.get('sqlite_version', '-')))}, "
        f"trigger: {escape(str(meta.get('trigger', '-')))}",
    ]
    rows = []
    if item.size_bytes <= limit_mb * 1024 * 1024:
        rows.append([menu.button("⬇️ Download", "dl", backup_id(item))])
    else:
        lines.append(
            f"⬇️ Too large to send here ({escape(size(item.size_bytes))}; the Bot API takes "
            f"{limit_mb} MB). Copy it from the server, or use a self-hosted Bot API server "
            "(TELEGRAM_API_URL)."
        )
    rows.append([menu.button("🔧 Restore", "plan", backup_id(item))])
    rows.append(menu.nav("list", f"{item.backup_type}:{page}"))
    return fit("\n".join(lines)), InlineKeyboardMarkup(rows)


def restore_plan(
    menu: Menu, plan: RestorePlan, token: str, minutes: int
) -> tuple[str, InlineKeyboardMarkup]:
    validation = plan.validation
    lines = [
        "🔧 <b>Restore — check before you confirm</b>",
        f"Archive: <code>{escape(validation.archive.name)}</code>",
        f"Validation: ✅ passed (copy used: {escape(validation.source)})",
        "",
        "<b>Rows now → in the backup</b>",
    ]
    now = plan.live_counts or {}
    for table, rows in sorted(validation.counts.items()):
        if table.startswith("sqlite_"):
            continue
        current = now.get(table, "-") if plan.live_counts is not None else "?"
        lines.append(f"{escape(table)}: {current} → {rows}")
    if plan.live_problem:
        lines.append(f"⚠️ The live database cannot be read: {escape(plan.live_problem)}")
    if plan.schema_changes:
        lines += ["", f"⚠️ <b>This backup changes the schema</b> ({len(plan.schema_changes)}):"]
        lines += [f"• {escape(change.describe())}" for change in plan.schema_changes[:15]]
        if len(plan.schema_changes) > 15:
            lines.append(f"• … and {len(plan.schema_changes) - 15} more")
    lines += [
        "",
        "A safety copy of the current database is made first.",
        f"⏳ This confirmation expires in {minutes} minutes and only works for you.",
    ]
    first = (
        menu.button("⚠️ Review the schema changes", "schema", token)
        if plan.schema_changes
        else menu.button("✅ Confirm restore", "confirm", token)
    )
    keyboard = [
        [first],
        [menu.button("❌ Cancel", "cancel", token), menu.button("✖️ Close", "close")],
    ]
    return fit("\n".join(lines)), InlineKeyboardMarkup(keyboard)


def schema_consent(
    menu: Menu, archive: str, changes: list[str], token: str
) -> tuple[str, InlineKeyboardMarkup]:
    """The second, explicit question before a restore that changes the schema."""
    lines = [
        "⚠️ <b>Restore and change the schema?</b>",
        f"Archive: <code>{escape(archive)}</code>",
        "Restoring it replaces the bot's schema with the backup's. A trigger or table the "
        "bot does not expect can lose or leak data; only go on if you know why it differs "
        "(for example, undoing a migration).",
        "",
        *[f"• {escape(change)}" for change in changes[:15]],
    ]
    if len(changes) > 15:
        lines.append(f"• … and {len(changes) - 15} more")
    keyboard = [
        [menu.button("⚠️ Restore and change the schema", "confirm", token)],
        [menu.button("❌ Cancel", "cancel", token), menu.button("✖️ Close", "close")],
    ]
    return fit("\n".join(lines)), InlineKeyboardMarkup(keyboard)


def moment(settings: Settings, at: datetime) -> str:
    """A moment as the admin reads it: in BACKUP_TIMEZONE, to the second (escaped)."""
    return escape(f"{at.astimezone(settings.timezone):%Y-%m-%d %H:%M:%S} {settings.timezone_name}")


def point_in_time(
    menu: Menu, settings: Settings, held: ReplicaPositions, now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    """The presets and the typed time of a restore from the replica, with what it holds."""
    lines = [
        "🕰️ <b>Restore to a point in time</b>",
        f"Replica: <code>{escape(settings.replica.describe())}</code>",
    ]
    if held.newest_at is None:
        lines.append("It holds nothing yet: is the scheduler (Litestream) running?")
    else:
        lines.append(f"Newest replicated write: {moment(settings, held.newest_at)}")
    if held.oldest_restorable is not None:
        lines.append(f"Oldest restorable moment: after {moment(settings, held.oldest_restorable)}")
    lines += ["", "Choose the moment; the restore is shown for checking before you confirm."]
    early = now.astimezone(settings.timezone).hour < MORNING_HOUR
    morning = f"🌅 {'Yesterday' if early else 'This morning'} {MORNING_HOUR:02d}:00"
    keyboard = [
        [
            menu.button("⏪ 5 minutes ago", "pitat", "m5"),
            menu.button("⏪ 1 hour ago", "pitat", "h1"),
        ],
        [menu.button(morning, "pitat", "am")],
        [menu.button("⌨️ Type a time", "pitask")],
        menu.nav("restore"),
    ]
    return fit("\n".join(lines)), InlineKeyboardMarkup(keyboard)


def ask_moment(menu: Menu, settings: Settings, minutes: int) -> tuple[str, InlineKeyboardMarkup]:
    """Ask for the moment as a message."""
    example = settings.now().replace(second=0) - timedelta(minutes=10)
    text = (
        "⌨️ <b>Type the moment to restore</b>\n"
        f"Send it as a message: <code>YYYY-MM-DD HH:MM</code> in {escape(settings.timezone_name)}, "
        f"e.g. <code>{example.astimezone(settings.timezone):%Y-%m-%d %H:%M}</code>.\n"
        f"⏳ I wait for it {minutes} minutes."
    )
    return text, InlineKeyboardMarkup([menu.nav("pit")])


def restore_done(menu: Menu, result: RestoreResult) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        f"{mark(result.state)} <b>Restore finished</b>",
        f"From: <code>{escape(result.archive.name)}</code> (copy used: {escape(result.source)})",
        f"Integrity: {escape(result.integrity)}",
        f"Rows: {sum(result.counts.values())} (backup: {sum(result.expected.values())})",
    ]
    if result.safety_backup:
        lines.append(f"Safety copy: <code>{escape(result.safety_backup.name)}</code>")
    lines += [f"Note: {escape(note)}" for note in result.notes]
    return fit("\n".join(lines)), InlineKeyboardMarkup([menu.nav()])


BOT_HINTS = Hints(
    start_scheduler="the bot runs it when BOT_RUN_SCHEDULER is on; else start the scheduler "
    "service on the server",
    resume_scheduler="the ▶️ Resume button",
)


def status(menu: Menu, system: SystemStatus) -> tuple[str, InlineKeyboardMarkup]:
    """The CLI's status text, in a <pre> block (the limit counts the text, not the tags)."""
    text = f"<pre>{escape(fit_plain(status_text(system, BOT_HINTS)))}</pre>"
    return text, InlineKeyboardMarkup([[menu.button("🔄 Refresh", "status")], menu.nav()])


def scheduled_outcome(outcome: ScheduledOutcome) -> str:
    """One line on a backup made at the press of a button: its archive, or why it failed."""
    kind = outcome.backup_type
    if outcome.archive is not None:
        return f"✅ {kind.capitalize()} backup made: <code>{escape(outcome.archive.name)}</code>"
    reason = outcome.reason or "see logs/errors.log"
    retry = f" It is retried at {outcome.retry_at:%H:%M}." if outcome.retry_at else ""
    return f"❌ The {kind} backup failed: {escape(reason)}{retry}"


def scheduler(
    menu: Menu, settings: Settings, view: SchedulerView, here: bool
) -> tuple[str, InlineKeyboardMarkup]:
    if view.hanging:
        state = f"⚠️ Not responding (pid {view.pid}): end that process and start it again"
    elif view.running and view.paused:
        state = f"⏸️ Paused (pid {view.pid})"
    elif view.running:
        state = f"🟢 Running (pid {view.pid})"
    else:
        state = "🔴 Stopped"
    lines = [
        "⚙️ <b>Scheduler</b>",
        f"Daily backup: {settings.daily_backup_time:%H:%M}",
        f"Weekly backup: {escape(settings.weekly_backup_day.capitalize())} "
        f"{settings.weekly_backup_time:%H:%M}",
        f"Time zone: {escape(settings.timezone_name)}",
        f"Status: {state}" + ("" if here or not view.running else " (in another process)"),
        f"Next daily: {view.next_runs['daily']:%Y-%m-%d %H:%M}",
        f"Next weekly: {view.next_runs['weekly']:%Y-%m-%d %H:%M}",
        f"Scheduled backups: {view.successes} ok, {view.failures} failed",
    ]
    for label, drill in (("restore", view.last_drill), ("replica", view.last_replica_drill)):
        if drill:
            lines.append(
                f"Last {label} drill: {'✅' if drill.get('ok') else '❌'} "
                f"{escape(when(str(drill.get('at'))))} {escape(str(drill.get('detail', '')))}"
            )
    lines += [f"⚠️ {escape(warning)}" for warning in view.stale]
    toggle = menu.button("▶️ Resume", "resume") if view.paused else menu.button("⏸️ Pause", "pause")
    keyboard = [[toggle, menu.button("📅 Run daily backup now", "daily")], menu.nav()]
    return fit("\n".join(lines)), InlineKeyboardMarkup(keyboard)
