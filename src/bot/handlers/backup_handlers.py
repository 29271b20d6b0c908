"""The /backup menu for admins: every command and every button press is checked.

Blocking work (backups, listing, validation, restore) runs in worker threads; the event
loop keeps answering other users meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from src.bot import delivery, jobs, views
from src.config.settings import ARCHIVE_TYPES, Settings
from src.errors import BackupError
from src.services import catalog, restore_service, scheduler_state, status_service
from src.services.backup_scheduler import BackupScheduler, run_scheduled_backup
from src.services.backup_service import create_backup

logger = logging.getLogger(__name__)

# As the spec shows: admins may be listed here; they are united with ADMIN_USER_IDS.
ADMIN_USER_IDS: list[int] = []

CONFIRM_MINUTES = 5
Screen = tuple[str, InlineKeyboardMarkup]


def is_admin(settings: Settings, user_id: int | None) -> bool:
    """Tell whether a Telegram user may use the backup features."""
    return user_id is not None and user_id in (set(ADMIN_USER_IDS) | settings.admin_user_ids)


def admin_ids(settings: Settings) -> list[int]:
    """Everyone who gets the scheduler's alarms."""
    return sorted(set(ADMIN_USER_IDS) | settings.admin_user_ids)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the /backup command and its buttons to the application."""
    app.add_handler(CommandHandler("backup", backup_command))
    app.add_handler(CallbackQueryHandler(on_button, pattern=r"^bk"))
    app.add_handler(CallbackQueryHandler(on_unknown_button))  # anything else pressed
    app.add_error_handler(on_error)


PRIVATE_ONLY = (
    "🔒 The backup menu works only in a private chat with me: backups hold every user's data."
)
# actions that do real work: a second tap on the same menu waits for the first
WORKING = {"new", "daily", "plan", "confirm", "dl"}


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an unexpected failure with its traceback and tell the user, never leave a spinner."""
    logger.error("update %s failed", update, exc_info=context.error)
    if not isinstance(update, Update):
        return
    user = update.effective_user
    if is_admin(context.bot_data["settings"], user.id if user else None):
        text = (
            "❌ Something went wrong; it is in the bot's log (logs/errors.log). "
            "Send /backup to try again."
        )
    else:
        text = "❌ Something went wrong. Please try again later."
    query = update.callback_query
    try:
        if query is None:
            if update.effective_message is not None:
                await update.effective_message.reply_text(text)
            return
        if not await _answer(update, text[:200], alert=True):  # answered when the work began
            await _show(update, (text, InlineKeyboardMarkup([])))
    except TelegramError:
        logger.warning("could not tell the user about the failure either")


def _settings(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    settings: Settings = context.bot_data["settings"]
    return settings


def _menu(context: ContextTypes.DEFAULT_TYPE) -> views.Menu:
    return views.Menu(context.bot_data["menu_generation"])


async def backup_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/backup: the menu, for admins only."""
    user = update.effective_user
    message = update.effective_message
    if message is None:
        return
    if not is_admin(_settings(context), user.id if user else None):
        logger.warning("refused /backup from non-admin user %s", user.id if user else None)
        await message.reply_text("⛔ This command is for the bot's admins only.")
        return
    if message.chat.type != "private":
        await message.reply_text(PRIVATE_ONLY)
        return
    running = await asyncio.to_thread(jobs.running, _settings(context))
    text, keyboard = views.main_menu(_menu(context), running)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every button of the menu: admin check, expiry check, then the action."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    settings = _settings(context)
    user_id = query.from_user.id if query.from_user else None
    if not is_admin(settings, user_id):
        logger.warning("refused button %r from non-admin user %s", query.data, user_id)
        await query.answer("⛔ Admins only.", show_alert=True)
        return
    parsed = views.parse(query.data)
    if parsed is None or parsed[0] != context.bot_data["menu_generation"]:
        await _expired(update)
        return
    _, action, argument = parsed
    handler = ACTIONS.get(action)
    if handler is None:
        await query.answer("⌛ This button is no longer valid. Send /backup.", show_alert=True)
        return
    chat = update.effective_chat
    if chat is None or chat.type != "private" or query.message is None:
        await query.answer(PRIVATE_ONLY, show_alert=True)
        return
    if action in WORKING:
        await _one_at_a_time(
            update, context, handler, argument, (chat.id, query.message.message_id)
        )
    else:
        await handler(update, context, argument)


async def _one_at_a_time(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    handler: Callable[[Update, ContextTypes.DEFAULT_TYPE, str], Awaitable[None]],
    argument: str,
    key: tuple[int, int],
) -> None:
    """Run a working action unless the same menu is still at work (a double tap)."""
    busy: set[tuple[int, int]] = context.bot_data.setdefault("busy_menus", set())
    if key in busy:
        await _answer(update, "⏳ Still working on your last request…")
        return
    busy.add(key)
    try:
        await handler(update, context, argument)
    finally:
        busy.discard(key)


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press that is not ours (forged, or from an old version): refuse or expire."""
    query = update.callback_query
    if query is None:
        return
    user_id = query.from_user.id if query.from_user else None
    if not is_admin(_settings(context), user_id):
        logger.warning("refused unknown button %r from non-admin user %s", query.data, user_id)
        await query.answer("⛔ Admins only.", show_alert=True)
        return
    await query.answer("⌛ This button is no longer valid. Send /backup.", show_alert=True)


EXPIRED = "⌛ This menu has expired (the bot restarted). Send /backup for a new one."


async def _expired(update: Update) -> None:
    """A button of a menu from before a restart: say so (in the menu when too late to answer)."""
    if not await _answer(update, EXPIRED, alert=True):
        await _show(update, (EXPIRED, InlineKeyboardMarkup([])))


def _where(update: Update) -> tuple[int, int]:
    query = update.callback_query
    assert query is not None and query.message is not None
    return query.message.chat.id, query.message.message_id


async def _show(update: Update, screen: Screen) -> None:
    """Replace the menu message's text and buttons (or send them anew when that fails)."""
    await delivery.edit_or_send(update.get_bot(), *_where(update), *screen)


async def _busy(update: Update, text: str) -> None:
    """Show that work is under way (no buttons meanwhile); a failure never stops the work."""
    await delivery.try_edit(update.get_bot(), *_where(update), text, InlineKeyboardMarkup([]))


async def _answer(update: Update, text: str | None = None, alert: bool = False) -> bool:
    """Answer the button press; False when Telegram no longer takes it (too old, lost)."""
    query = update.callback_query
    assert query is not None
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as error:
        logger.info("button press %s not answered: %s", query.id, error)
        return False
    return True


# --- the actions ----------------------------------------------------------------------


async def _main(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    running = await asyncio.to_thread(jobs.running, _settings(context))
    await _show(update, views.main_menu(_menu(context), running))


async def _close(update: Update, _context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    await _show(update, ("Menu closed. /backup opens it again.", InlineKeyboardMarkup([])))


async def _new_backup(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
    if kind not in ("manual", "emergency"):
        await _answer(update, "Unknown backup type.", alert=True)
        return
    job = await jobs.begin(update, context, f"a {kind} backup")
    if job is None:
        return
    await _answer(update, f"⏳ Creating a {kind} backup…")
    await _busy(update, f"⏳ Creating a {kind} backup… this can take a while.")
    logger.info("%s backup asked by %s", kind, job.started_by)
    menu, settings = _menu(context), _settings(context)
    screen = await jobs.run(
        context,
        job,
        functools.partial(create_backup, settings, kind, "bot"),
        functools.partial(views.backup_done, menu),
        f"The {kind} backup",
    )
    await jobs.show_outcome(update, context, job, screen)


async def _types(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    backups = await asyncio.to_thread(catalog.list_backups, _settings(context))
    await _show(update, views.type_picker(_menu(context), backups))


async def _restore_types(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    backups = await asyncio.to_thread(catalog.list_backups, _settings(context))
    await _show(update, views.type_picker(_menu(context), backups, action="rlist"))


def _page_action(action: str) -> Callable[..., Awaitable[None]]:
    async def page(update: Update, context: ContextTypes.DEFAULT_TYPE, argument: str) -> None:
        kind, _, number = argument.partition(":")
        if kind not in ARCHIVE_TYPES or not number.isdigit():
            await _answer(update, "⌛ This button is no longer valid. Send /backup.", alert=True)
            return
        await _answer(update)
        backups = await asyncio.to_thread(catalog.list_backups, _settings(context))
        menu = _menu(context)
        await _show(update, views.backup_page(menu, backups, kind, int(number), action))

    return page


async def _find(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> Any:
    """The backup a short id stands for, or None (then the menu says it is gone).

    The press is answered before this (Telegram wants an answer within seconds).
    """
    backups = await asyncio.to_thread(catalog.list_backups, _settings(context))
    item = next((b for b in backups if views.backup_id(b) == ident), None)
    if item is None:
        gone = "This backup no longer exists (retention may have removed it)."
        await _show(update, (gone, InlineKeyboardMarkup([_menu(context).nav()])))
    return item


async def _item(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> None:
    await _answer(update)
    item = await _find(update, context, ident)
    if item is None:
        return
    limit = _settings(context).bot_upload_limit_mb
    await _show(update, views.backup_details(_menu(context), item, limit))


async def _download(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> None:
    await _answer(update, "⬆️ Sending the file…")
    item = await _find(update, context, ident)
    user = update.effective_user
    if item is None or user is None:
        return
    limit = _settings(context).bot_upload_limit_mb
    if item.size_bytes > limit * 1024 * 1024:
        await context.bot.send_message(
            user.id, f"Too large to send: {item.name} is over the {limit} MB the Bot API takes."
        )
        return
    logger.info("download of %s by admin %s", item.name, user.id)
    # read in a worker thread (python-telegram-bot would read the file on the event loop)
    data = await jobs.in_pool(context, Path(item.path).read_bytes)
    try:
        await context.bot.send_document(
            user.id,  # to the admin, whatever chat the menu is in
            document=data,
            filename=item.name,
            caption=f"📦 {escape(item.name)}",
            parse_mode=ParseMode.HTML,
            read_timeout=300,
            write_timeout=300,
        )
    except TelegramError as error:
        logger.warning("download of %s failed: %s", item.name, error)
        await context.bot.send_message(
            user.id,
            f"❌ Sending {item.name} failed: {error}. If it did not arrive, copy it from "
            f"the server: {item.path}",
        )


async def _plan(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> None:
    """Step one of a restore: validate and show; the confirmation is a second button."""
    await _answer(update, "⏳ Checking the backup…")
    item = await _find(update, context, ident)
    if item is None:
        return
    menu = _menu(context)
    await _busy(update, f"⏳ Validating <code>{views.escape(item.name)}</code>…")
    try:
        plan = await jobs.in_pool(
            context,
            functools.partial(restore_service.check_only, _settings(context), str(item.path)),
        )
    except BackupError as error:
        await _show(update, views.failure(menu, "Validation", str(error)))
        return
    token = secrets.token_urlsafe(9)
    user = update.effective_user
    context.bot_data.setdefault("restore_confirmations", {})[token] = {
        "user": user.id if user else None,
        "archive": str(item.path),
        "expires": time.monotonic() + CONFIRM_MINUTES * 60,
        "schema_changes": [change.describe() for change in plan.schema_changes],
        "allow_schema_change": False,
    }
    await _show(update, views.restore_plan(menu, plan, token, CONFIRM_MINUTES))


async def _pending(
    update: Update, context: ContextTypes.DEFAULT_TYPE, token: str
) -> dict[str, Any] | None:
    """The confirmation entry behind a button, if it is still valid and the presser's own."""
    pending: dict[str, Any] = context.bot_data.setdefault("restore_confirmations", {})
    entry: dict[str, Any] | None = pending.get(token)
    user = update.effective_user
    if entry is None or entry["expires"] < time.monotonic():
        pending.pop(token, None)
        await _answer(
            update,
            "⌛ This confirmation is no longer valid (used, cancelled or expired). "
            "Start the restore again.",
            True,
        )
        return None
    if entry["user"] != (user.id if user else None):
        logger.warning("restore confirmation of admin %s pressed by %s", entry["user"], user)
        await _answer(update, "⛔ Only the admin who asked for this restore can confirm it.", True)
        return None
    return entry


async def _schema(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """The extra step when the archive changes the schema: name the changes, ask again."""
    entry = await _pending(update, context, token)
    if entry is None:
        return
    await _answer(update)
    entry["allow_schema_change"] = True
    logger.warning(
        "restore of %s: admin %s is shown its schema changes", entry["archive"], entry["user"]
    )
    await _show(
        update,
        views.schema_consent(
            _menu(context), Path(entry["archive"]).name, entry["schema_changes"], token
        ),
    )


async def _confirm(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """Step two: only the admin who asked, only before it expires, only once, only alone."""
    entry = await _pending(update, context, token)
    if entry is None:
        return
    archive = Path(entry["archive"]).name
    job = await jobs.begin(update, context, f"a restore from {archive}")
    if job is None:  # another job runs: refused with what runs; the confirmation stays valid
        return
    context.bot_data["restore_confirmations"].pop(token, None)
    started: dict[str, dict[str, Any]] = context.bot_data.setdefault("restores_started", {})
    started[token] = entry
    try:
        await _answer(update, "⏳ Restoring…")
        await _busy(update, "⏳ Restoring… the bot's database is being replaced.")
        if entry.get("cancelled"):  # Cancel came while the "⏳" was on its way
            await _cancelled(update, context, job)
            return
        entry["running"] = True
        logger.warning("restore of %s confirmed by %s", archive, job.started_by)
        settings, menu = _settings(context), _menu(context)
        work = functools.partial(
            restore_service.restore,
            settings,
            entry["archive"],
            allow_schema_change=entry["allow_schema_change"],
        )
        done = functools.partial(views.restore_done, menu)
        screen = await jobs.run(context, job, work, done, "The restore")
    finally:
        started.pop(token, None)
    await jobs.show_outcome(update, context, job, screen)


async def _cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE, job: Any) -> None:
    text = "❌ Restore cancelled before it started: nothing was changed."
    await asyncio.to_thread(jobs.finish_cancelled, _settings(context), job, text)
    screen = (text, InlineKeyboardMarkup([_menu(context).nav()]))
    await jobs.show_outcome(update, context, job, screen)


async def _cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """Drop a restore confirmation; after Confirm, cancel it only if its work has not begun."""
    entry = context.bot_data.setdefault("restores_started", {}).get(token)
    if entry is None:
        context.bot_data.setdefault("restore_confirmations", {}).pop(token, None)
        await _main(update, context, "")
    elif entry.get("running"):
        await _answer(
            update,
            "Too late to cancel: the restore is running (a safety copy of the database was "
            "made first). Its result is shown here when it ends.",
            alert=True,
        )
    else:
        entry["cancelled"] = True
        await _answer(update, "❌ Cancelled: the restore had not started.")


async def _status(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    system = await asyncio.to_thread(status_service.get_status, _settings(context))
    await _show(update, views.status(_menu(context), system))


async def _scheduler(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await _answer(update)
    await _show(update, await _scheduler_screen(context))


async def _scheduler_screen(context: ContextTypes.DEFAULT_TYPE) -> Screen:
    settings = _settings(context)
    view = await asyncio.to_thread(scheduler_state.scheduler_view, settings)
    here = context.bot_data.get("scheduler") is not None
    return views.scheduler(_menu(context), settings, view, here)


def _pause_action(paused: bool) -> Callable[..., Awaitable[None]]:
    async def toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
        await _answer(update, "⏸️ Paused." if paused else "▶️ Resumed.")
        await asyncio.to_thread(scheduler_state.set_paused, _settings(context), paused)
        user = update.effective_user
        state = "paused" if paused else "resumed"
        logger.info("scheduler %s by admin %s", state, user.id if user else None)
        await _show(update, await _scheduler_screen(context))

    return toggle


async def _daily_now(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    job = await jobs.begin(update, context, "a daily backup")
    if job is None:
        return
    await _answer(update, "⏳ Making the daily backup…")
    await _busy(update, "⏳ Making the daily backup… this can take a while.")
    # with the scheduler in this process, it makes the backup (and retries a failure)
    running: BackupScheduler | None = context.bot_data.get("scheduler")
    work = functools.partial(run_scheduled_backup, _settings(context), "daily", scheduler=running)
    text, keyboard = await _scheduler_screen(context)

    def done(outcome: Any) -> Screen:
        return views.fit(f"{views.scheduled_outcome(outcome)}\n\n{text}"), keyboard

    screen = await jobs.run(context, job, work, done, "The daily backup")
    await jobs.show_outcome(update, context, job, screen)


ACTIONS: dict[str, Callable[[Update, ContextTypes.DEFAULT_TYPE, str], Awaitable[None]]] = {
    "menu": _main,
    "close": _close,
    "new": _new_backup,
    "types": _types,
    "list": _page_action("list"),
    "item": _item,
    "dl": _download,
    "restore": _restore_types,
    "rlist": _page_action("rlist"),
    "plan": _plan,
    "confirm": _confirm,
    "schema": _schema,
    "cancel": _cancel,
    "status": _status,
    "sched": _scheduler,
    "pause": _pause_action(True),
    "resume": _pause_action(False),
    "daily": _daily_now,
}
