"""What the bot shows: HTML texts (every dynamic value escaped) and inline keyboards.

Every word comes from `src.bot.texts` in the language of the admin the screen is for
(`Menu.lang`); the presentation layer shared with the CLI (the status text, off-site lines)
is asked for the same language. The service core's own free-form words (schema changes,
reasons of failures) stay as the CLI says them, in English.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from html import escape, unescape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from src.bot.texts import FALLBACK, TEXTS, say
from src.config.settings import ARCHIVE_TYPES, Settings
from src.presentation import offsite as offsite_words
from src.presentation.marks import mark
from src.presentation.status import Hints, stale_warning, status_text
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
    """Builds callback_data: `bk<generation>|<action>|<argument>`, at most 64 bytes.

    lang: the language of the admin the screen is for ("id" or "en").
    """

    def __init__(self, generation: str, lang: str = FALLBACK) -> None:
        self.generation = generation
        self.lang = lang

    def say(self, key: str, **values: object) -> str:
        """The text `key` in this menu's language."""
        return say(key, self.lang, **values)

    def data(self, action: str, argument: str = "") -> str:
        value = f"bk{self.generation}|{action}|{argument}"
        if len(value.encode()) > 64:
            raise ValueError(f"callback_data too long: {value!r}")
        return value

    def button(self, text: str, action: str, argument: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=self.data(action, argument))

    def nav(self, back: str = "menu", argument: str = "") -> list[InlineKeyboardButton]:
        """The back and close buttons every screen has."""
        return [self.button(self.say("back"), back, argument), self.close()]

    def close(self) -> InlineKeyboardButton:
        return self.button(self.say("close"), "close")


def parse(data: str) -> tuple[str, str, str] | None:
    """Split callback_data into (generation, action, argument); None when it is not ours."""
    if not data.startswith("bk"):
        return None
    parts = data[2:].split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def kind_name(kind: str, lang: str) -> str:
    """A type of backup as a title ("Manual", "Darurat"); unknown types as they are."""
    key = f"kind_{kind}"
    return say(key, lang) if key in _KINDS else kind.capitalize()


_KINDS = {f"kind_{kind}" for kind in (*ARCHIVE_TYPES, "pre-restore")}


def kind_word(kind: str, lang: str) -> str:
    """A type of backup inside a sentence ("a manual backup", "cadangan darurat")."""
    return kind_name(kind, lang).lower()


def backup_id(item: BackupInfo) -> str:
    """A short id for a backup, stable across restarts (callback_data cannot hold names)."""
    return hashlib.sha1(item.name.encode(), usedforsecurity=False).hexdigest()[:12]


CUT_MARK = say("cut_mark", FALLBACK)
_HTML_TOKEN = re.compile(r"<[^<>]*>|&[#\w]+;|[^<&]+|[<&]")


def visible_length(text: str) -> int:
    """The length Telegram counts: the text shown, without tags, entities as one character."""
    return len(unescape(re.sub(r"<[^<>]*>", "", text)))


def fit(text: str, lang: str = FALLBACK) -> str:
    """Keep an HTML message within Telegram's 4096 visible characters (cut, marked).

    The cut is measured on the text shown (not the escaped HTML), never falls inside a tag
    or an entity, and closes the tags left open.
    """
    if visible_length(text) <= MESSAGE_LIMIT:
        return text
    cut_mark = say("cut_mark", lang)
    budget, used = MESSAGE_LIMIT - len(cut_mark), 0
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
    return "".join(kept) + "".join(f"</{name}>" for name in reversed(open_tags)) + cut_mark


def fit_plain(text: str, limit: int = MESSAGE_LIMIT, lang: str = FALLBACK) -> str:
    """Keep a plain text within `limit` characters (cut at the end, marked)."""
    if len(text) <= limit:
        return text
    cut_mark = say("cut_mark", lang)
    return text[: limit - len(cut_mark)] + cut_mark


def middle_cut(text: str, limit: int, lang: str = FALLBACK) -> str:
    """Shorten a plain text to `limit` characters, keeping its beginning and its end."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(say("characters_cut", lang, count=len(text))), 2)
    head, tail = keep - keep // 3, keep // 3
    cut = say("characters_cut", lang, count=len(text) - head - tail)
    return f"{text[:head]}{cut}{text[len(text) - tail :]}"


_BACKUP_JOB = re.compile(r"an? ([\w-]+) backup")
_RESTORE_JOB = re.compile(r"a restore from (.+)")


def job_what(what: str, lang: str) -> str:
    """A job's noun phrase ("a manual backup", recorded in English) in `lang`."""
    if found := _BACKUP_JOB.fullmatch(what):
        return say("job_backup", lang, kind=kind_word(found[1], lang))
    if found := _RESTORE_JOB.fullmatch(what):
        return say("job_restore", lang, name=found[1])
    return what


def job_starter(started_by: str, lang: str) -> str:
    """Who started a job ("admin 1 (Ann)", "the scheduler", "the cli") in `lang`."""
    if started_by == "the scheduler":
        return say("job_by_scheduler", lang)
    if started_by.startswith("the "):
        return say("job_by_other", lang, name=started_by.removeprefix("the "))
    return started_by


def job_sentence(job: Job, lang: str) -> str:
    """What runs, since when and who started it (the service's `Job.sentence`, in `lang`)."""
    since = datetime.fromisoformat(job.started_at).strftime("%Y-%m-%d %H:%M")
    what = job_what(job.what, lang)
    by = job_starter(job.started_by, lang)
    sentence = say("job_running", lang, what=what, since=since, by=by)
    return sentence[:1].upper() + sentence[1:]


def job_busy(job: Job, lang: str) -> str:
    """Why a job was refused: what runs, and to ask again later."""
    return say("job_busy", lang, sentence=job_sentence(job, lang))


def job_line(job: Job, lang: str = FALLBACK) -> str:
    """The line every admin's menu shows while a job runs."""
    return f"⏳ {escape(job_sentence(job, lang))}"


def interrupted(job: Job, lang: str = FALLBACK) -> str:
    """Tell the admins about a job a restart cut short."""
    hint = say("interrupted_restore" if "restore" in job.what else "interrupted_backup", lang)
    since = datetime.fromisoformat(job.started_at).strftime("%Y-%m-%d %H:%M")
    what, by = escape(job_what(job.what, lang)), escape(job_starter(job.started_by, lang))
    return say("interrupted", lang, what=what, since=since, by=by, hint=hint)


def main_menu(menu: Menu, running: Job | None = None) -> tuple[str, InlineKeyboardMarkup]:
    text = menu.say("main_title")
    if running is not None:
        text += f"\n\n{job_line(running, menu.lang)}"
    keyboard = [
        [menu.button(menu.say("main_manual"), "new", "manual")],
        [menu.button(menu.say("main_emergency"), "new", "emergency")],
        [menu.button(menu.say("main_list"), "types")],
        [menu.button(menu.say("main_status"), "status")],
        [menu.button(menu.say("main_scheduler"), "sched")],
        [menu.button(menu.say("main_restore"), "restore")],
        [menu.close()],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def backup_done(menu: Menu, result: BackupResult) -> tuple[str, InlineKeyboardMarkup]:
    facts, t = result.facts, menu.say
    verdict = t("verdict_degraded") if result.degraded else t("verdict_ok")
    kind = escape(kind_name(result.backup_type, menu.lang))
    users = facts.user_count if facts.user_count is not None else "-"
    lines = [
        t("backup_created", mark=mark(result.state), kind=kind),
        t("backup_file", name=f"<code>{escape(result.path.name)}</code>"),
        t("backup_size", size=escape(size(result.size_bytes))),
        t("backup_duration", seconds=f"{result.duration_seconds:.1f}"),
        t("backup_users", count=users),
        t(
            "backup_integrity",
            before=escape(result.integrity_before),
            after=escape(result.integrity_after),
            verdict=verdict,
        ),
    ]
    offsite = [line.strip() for line in offsite_words.run_lines(result.offsite, menu.lang)]
    lines += [escape(line[:300]) for line in offsite]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup([menu.nav()])


def failure(
    menu: Menu, what: str, error: str, back: tuple[str, str] = ("menu", "")
) -> tuple[str, InlineKeyboardMarkup]:
    """`what` failed (words in the menu's language), and why (the service's words).

    back: the action (and argument) of its Back button: the main menu unless told.
    """
    title = menu.say("failed", what=escape(what)) + "\n"
    reason = middle_cut(error, MESSAGE_LIMIT - visible_length(title) - 10, menu.lang)
    text = title + escape(reason)
    return fit(text, menu.lang), InlineKeyboardMarkup([menu.nav(*back)])


def type_picker(
    menu: Menu, backups: list[BackupInfo], action: str = "list", replica: bool = False
) -> tuple[str, InlineKeyboardMarkup]:
    """The backups by type (to list or to restore; `replica`: also to a point in time)."""
    counts = {kind: sum(1 for b in backups if b.backup_type == kind) for kind in ARCHIVE_TYPES}
    text = menu.say("types_list" if action == "list" else "types_restore")
    rows = [
        [menu.button(f"{TYPE_ICONS[kind]} {kind_name(kind, menu.lang)} ({n})", action, f"{kind}:0")]
        for kind, n in counts.items()
    ]
    if replica:
        rows.append([menu.button(menu.say("to_point_in_time"), "pit")])
    rows.append(menu.nav())
    return text, InlineKeyboardMarkup(rows)


def backup_page(
    menu: Menu, backups: list[BackupInfo], kind: str, page: int, action: str = "list"
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of a type's backups, newest first; each opens its details (or restore).

    Both lists say where they are (`breadcrumbs`: Backups, Manual, 2/4; Restore, Manual,
    2/4), and what an item opens leads back to this page.
    """
    chosen = [b for b in backups if b.backup_type == kind]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = chosen[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    root = menu.say("crumb_backups" if action == "list" else "crumb_restore")
    where = breadcrumbs(root, kind_name(kind, menu.lang), f"{page + 1}/{pages}")
    text = f"{TYPE_ICONS[kind]} <b>{escape(where)}</b>"
    if not shown:
        text += "\n" + menu.say("none_yet")
    rows = []
    target = "item" if action == "list" else "plan"
    for item in shown:
        rows.append([menu.button(item_label(item, menu.lang), target, f"{backup_id(item)}:{page}")])
    turn = []
    if page > 0:
        turn.append(menu.button(menu.say("newer"), action, f"{kind}:{page - 1}"))
    if page + 1 < pages:
        turn.append(menu.button(menu.say("older"), action, f"{kind}:{page + 1}"))
    if turn:
        rows.append(turn)
    rows.append(menu.nav("types" if action == "list" else "restore"))
    return text, InlineKeyboardMarkup(rows)


def item_label(item: BackupInfo, lang: str) -> str:
    """A list's button for a backup: its mark, kind, time to the minute, size and flags."""
    label = (
        f"{mark(item.state)} {kind_name(item.backup_type, lang)} "
        f"{when(item.created_at)[:16]} · {size(item.size_bytes)}"
    )
    label += say("label_degraded", lang) if item.degraded else ""
    label += say("label_kept", lang) if item.kept else ""
    return label


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
    t = menu.say
    verified = {True: t("verified_yes"), False: t("verified_failed"), None: t("verified_not")}
    kind = kind_name(item.backup_type, menu.lang)
    crumbs = breadcrumbs(t("crumb_backups"), kind, t("crumb_page", number=page + 1))
    state = (
        verified[item.verified]
        + (t("details_degraded") if item.degraded else "")
        + (t("details_kept") if item.kept else "")
    )
    lines = [
        f"<i>{escape(crumbs)}</i>",
        f"{TYPE_ICONS.get(item.backup_type, '📦')} <b>{escape(item.name)}</b>",
        t("details_type", kind=escape(kind_word(item.backup_type, menu.lang))),
        t("details_created", at=escape(when(item.created_at))),
        t("details_size", size=escape(size(item.size_bytes))),
        t("details_state", state=state),
        t("details_users", count=item.user_count if item.user_count is not None else "-"),
        t("details_tables", tables=len(tables), rows=sum(tables.values()) if tables else "-"),
        t(
            "details_sqlite",
            version=escape(str(database.get("sqlite_version", "-"))),
            trigger=escape(str(meta.get("trigger", "-"))),
        ),
    ]
    rows = []
    if item.size_bytes <= limit_mb * 1024 * 1024:
        rows.append([menu.button(t("download"), "dl", backup_id(item))])
    else:
        lines.append(t("too_large_here", size=escape(size(item.size_bytes)), limit=limit_mb))
    rows.append([menu.button(t("restore_button"), "plan", backup_id(item))])
    rows.append(menu.nav("list", f"{item.backup_type}:{page}"))
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup(rows)


def restore_plan(
    menu: Menu, plan: RestorePlan, token: str, minutes: int, where: tuple[str, int] | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """What a restore would change, with its Confirm button.

    where: the restore list's type and page it was chosen on (Cancel leads back there).
    """
    validation, t = plan.validation, menu.say
    lines = []
    if where is not None:
        kind, page = where
        kind_words, number = kind_name(kind, menu.lang), t("crumb_page", number=page + 1)
        crumbs = breadcrumbs(t("crumb_restore"), kind_words, number)
        lines.append(f"<i>{escape(crumbs)}</i>")
    lines += [
        t("plan_title"),
        t("plan_archive", name=f"<code>{escape(validation.archive.name)}</code>"),
        t("plan_validation", source=escape(validation.source)),
        "",
        t("plan_rows"),
    ]
    now = plan.live_counts or {}
    for table, rows in sorted(validation.counts.items()):
        if table.startswith("sqlite_"):
            continue
        current = now.get(table, "-") if plan.live_counts is not None else "?"
        lines.append(f"{escape(table)}: {current} → {rows}")
    if plan.live_problem:
        lines.append(t("plan_live_unreadable", problem=escape(plan.live_problem)))
    if plan.schema_changes:
        lines += ["", t("plan_schema", count=len(plan.schema_changes))]
        lines += [f"• {escape(change.describe())}" for change in plan.schema_changes[:15]]
        if len(plan.schema_changes) > 15:
            lines.append(t("and_more", count=len(plan.schema_changes) - 15))
    lines += ["", t("plan_safety"), t("plan_expires", minutes=minutes)]
    first = (
        menu.button(t("review_schema"), "schema", token)
        if plan.schema_changes
        else menu.button(t("confirm_restore"), "confirm", token)
    )
    keyboard = [[first], [menu.button(t("cancel"), "cancel", token), menu.close()]]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup(keyboard)


def schema_consent(
    menu: Menu, archive: str, changes: list[str], token: str
) -> tuple[str, InlineKeyboardMarkup]:
    """The second, explicit question before a restore that changes the schema."""
    t = menu.say
    lines = [
        t("schema_title"),
        t("plan_archive", name=f"<code>{escape(archive)}</code>"),
        t("schema_warning"),
        "",
        *[f"• {escape(change)}" for change in changes[:15]],
    ]
    if len(changes) > 15:
        lines.append(t("and_more", count=len(changes) - 15))
    keyboard = [
        [menu.button(t("schema_confirm"), "confirm", token)],
        [menu.button(t("cancel"), "cancel", token), menu.close()],
    ]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup(keyboard)


def moment(settings: Settings, at: datetime) -> str:
    """A moment as the admin reads it: in BACKUP_TIMEZONE, to the second (escaped)."""
    return escape(f"{at.astimezone(settings.timezone):%Y-%m-%d %H:%M:%S} {settings.timezone_name}")


def point_in_time(
    menu: Menu, settings: Settings, held: ReplicaPositions, now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    """The presets and the typed time of a restore from the replica, with what it holds."""
    t = menu.say
    lines = [
        t("pit_title"),
        t("pit_replica", replica=f"<code>{escape(settings.replica.describe())}</code>"),
    ]
    if held.newest_at is None:
        lines.append(t("pit_empty"))
    else:
        lines.append(t("pit_newest", at=moment(settings, held.newest_at)))
    if held.oldest_restorable is not None:
        lines.append(t("pit_oldest", at=moment(settings, held.oldest_restorable)))
    lines += ["", t("pit_choose")]
    early = now.astimezone(settings.timezone).hour < MORNING_HOUR
    morning = t("pit_yesterday" if early else "pit_this_morning", hour=f"{MORNING_HOUR:02d}")
    keyboard = [
        [
            menu.button(t("pit_5_minutes"), "pitat", "m5"),
            menu.button(t("pit_1_hour"), "pitat", "h1"),
        ],
        [menu.button(morning, "pitat", "am")],
        [menu.button(t("pit_type"), "pitask")],
        menu.nav("restore"),
    ]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup(keyboard)


def ask_moment(menu: Menu, settings: Settings, minutes: int) -> tuple[str, InlineKeyboardMarkup]:
    """Ask for the moment as a message."""
    example = settings.now().replace(second=0) - timedelta(minutes=10)
    text = menu.say(
        "pit_ask",
        zone=escape(settings.timezone_name),
        example=f"{example.astimezone(settings.timezone):%Y-%m-%d %H:%M}",
        minutes=minutes,
    )
    return text, InlineKeyboardMarkup([menu.nav("pit")])


def restore_done(menu: Menu, result: RestoreResult) -> tuple[str, InlineKeyboardMarkup]:
    t = menu.say
    lines = [
        t("restore_done", mark=mark(result.state)),
        t(
            "restore_from",
            name=f"<code>{escape(result.archive.name)}</code>",
            source=escape(result.source),
        ),
        t("restore_integrity", integrity=escape(result.integrity)),
        t(
            "restore_rows",
            rows=sum(result.counts.values()),
            expected=sum(result.expected.values()),
        ),
    ]
    if result.safety_backup:
        lines.append(t("restore_safety", name=f"<code>{escape(result.safety_backup.name)}</code>"))
    lines += [t("restore_note", note=escape(note)) for note in result.notes]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup([menu.nav()])


def bot_hints(lang: str = FALLBACK) -> Hints:
    """The bot's own words in the status (how the scheduler starts, how it resumes)."""
    return Hints(
        start_scheduler=say("hint_start_scheduler", lang),
        resume_scheduler=say("hint_resume_scheduler", lang),
    )


def status(menu: Menu, system: SystemStatus) -> tuple[str, InlineKeyboardMarkup]:
    """The CLI's status layout in the menu's language, in a <pre> block (the limit counts the
    text, not the tags)."""
    shown = status_text(system, bot_hints(menu.lang), menu.lang)
    text = f"<pre>{escape(fit_plain(shown, lang=menu.lang))}</pre>"
    refresh = menu.button(menu.say("refresh"), "status")
    return text, InlineKeyboardMarkup([[refresh], menu.nav()])


def scheduled_outcome(outcome: ScheduledOutcome, lang: str = FALLBACK) -> str:
    """One line on a backup made at the press of a button: its archive, or why it failed."""
    kind = outcome.backup_type
    if outcome.archive is not None:
        name = f"<code>{escape(outcome.archive.name)}</code>"
        return say("scheduled_made", lang, kind=kind_name(kind, lang), name=name)
    reason = escape(outcome.reason or say("see_errors_log", lang))
    retry = say("scheduled_retry", lang, at=f"{outcome.retry_at:%H:%M}") if outcome.retry_at else ""
    return say("scheduled_failed", lang, kind=kind_word(kind, lang), reason=reason) + retry


def scheduler(
    menu: Menu, settings: Settings, view: SchedulerView, here: bool
) -> tuple[str, InlineKeyboardMarkup]:
    t = menu.say
    if view.hanging:
        state = t("sched_hanging", pid=view.pid)
    elif view.running and view.paused:
        state = t("sched_paused", pid=view.pid)
    elif view.running:
        state = t("sched_running", pid=view.pid)
    else:
        state = t("sched_stopped")
    day = settings.weekly_backup_day.lower()
    day = t(f"day_{day}") if f"day_{day}" in TEXTS else day.capitalize()
    lines = [
        t("sched_title"),
        t("sched_daily", at=f"{settings.daily_backup_time:%H:%M}"),
        t("sched_weekly", day=escape(day), at=f"{settings.weekly_backup_time:%H:%M}"),
        t("sched_timezone", zone=escape(settings.timezone_name)),
        t("sched_status", state=state) + ("" if here or not view.running else t("sched_elsewhere")),
        t("sched_next_daily", at=f"{view.next_runs['daily']:%Y-%m-%d %H:%M}"),
        t("sched_next_weekly", at=f"{view.next_runs['weekly']:%Y-%m-%d %H:%M}"),
        t("sched_counts", ok=view.successes, failed=view.failures),
    ]
    for key, drill in (
        ("sched_restore_drill", view.last_drill),
        ("sched_replica_drill", view.last_replica_drill),
    ):
        if drill:
            lines.append(
                t(
                    key,
                    mark="✅" if drill.get("ok") else "❌",
                    at=escape(when(str(drill.get("at")))),
                    detail=escape(str(drill.get("detail", ""))),
                )
            )
    lines += [f"⚠️ {escape(stale_warning(warning, menu.lang))}" for warning in view.stale]
    toggle = menu.button(t("resume"), "resume") if view.paused else menu.button(t("pause"), "pause")
    keyboard = [[toggle, menu.button(t("daily_now"), "daily")], menu.nav()]
    return fit("\n".join(lines), menu.lang), InlineKeyboardMarkup(keyboard)
