"""The /backup menu for admins: every command and every button press is checked.

Blocking work (backups, listing, validation, restore) runs in worker threads; the event
loop keeps answering other users meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from src.bot import delivery, jobs, menu_guard, views
from src.bot.handlers import common, point_in_time, restore_handlers
from src.bot.handlers.common import Screen
from src.bot.texts import language, say
from src.config.settings import ARCHIVE_TYPES, Settings
from src.errors import BackupError
from src.services import admin_reach, catalog, received, scheduler_state, status_service
from src.services.backup_scheduler import BackupScheduler, run_scheduled_backup
from src.services.backup_service import create_backup

logger = logging.getLogger(__name__)

# As the spec shows: admins may be listed here; they are united with ADMIN_USER_IDS.
ADMIN_USER_IDS: list[int] = []


def is_admin(settings: Settings, user_id: int | None) -> bool:
    """Tell whether a Telegram user may use the backup features."""
    return user_id is not None and user_id in (set(ADMIN_USER_IDS) | settings.admin_user_ids)


def admin_ids(settings: Settings) -> list[int]:
    """Everyone who gets the scheduler's alarms."""
    return sorted(set(ADMIN_USER_IDS) | settings.admin_user_ids)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the /backup command and its buttons to the application."""
    app.add_handler(TypeHandler(Update, remember_language), -1)  # before any other
    app.add_handler(CommandHandler("backup", backup_command))
    app.add_handler(CallbackQueryHandler(on_button, pattern=r"^bk"))
    app.add_handler(CallbackQueryHandler(on_unknown_button))  # anything else pressed
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    # its own group: a typed time is read without taking the message from other handlers
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, point_in_time.on_text), 1)
    app.add_error_handler(on_error)


# actions that do real work: a second tap on the same menu waits for the first
WORKING = {"new", "daily", "plan", "confirm", "dl", "pit", "pitat"}


async def remember_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep the language of each admin's latest update, for the alarms sent unasked."""
    user = update.effective_user
    settings = common.settings(context)
    if user is None or not is_admin(settings, user.id):
        return
    lang = language(user)
    known: dict[int, str] = context.bot_data.setdefault("admin_languages", {})
    if known.get(user.id) == lang:
        return
    try:
        await asyncio.to_thread(admin_reach.remember_language, settings, user.id, lang)
    except (BackupError, OSError, sqlite3.Error) as error:  # alarms fall back to English
        logger.warning("could not remember the language of admin %s: %s", user.id, error)
        return
    known[user.id] = lang


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an unexpected failure with its traceback and tell the user, never leave a spinner."""
    logger.error("update %s failed", update, exc_info=context.error)
    if not isinstance(update, Update):
        return
    user = update.effective_user
    admin = is_admin(context.bot_data["settings"], user.id if user else None)
    text = say("error_admin" if admin else "error_user", user)
    query = update.callback_query
    try:
        if query is None:
            if update.effective_message is not None:
                await update.effective_message.reply_text(text)
            return
        if not await common.answer(update, text[:200], alert=True):  # answered when the work began
            await common.show(update, (text, InlineKeyboardMarkup([])))
    except TelegramError:
        logger.warning("could not tell the user about the failure either")


async def backup_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/backup: the menu, for admins only."""
    user = update.effective_user
    message = update.effective_message
    if message is None:
        return
    if not is_admin(common.settings(context), user.id if user else None):
        logger.warning("refused /backup from non-admin user %s", user.id if user else None)
        await message.reply_text(say("admins_only", user))
        return
    if message.chat.type != "private":
        await message.reply_text(say("private_only", user))
        return
    running = await asyncio.to_thread(jobs.running, common.settings(context))
    text, keyboard = views.main_menu(common.menu(context, update), running)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file sent to the bot: a backup archive from an admin is offered for restore."""
    user, message = update.effective_user, update.effective_message
    if message is None or message.document is None:
        return
    if not is_admin(common.settings(context), user.id if user else None):
        logger.warning("refused a file from non-admin user %s", user.id if user else None)
        await message.reply_text(say("file_admins_only", user))
        return
    document, name = message.document, message.document.file_name or say("the_file", user)
    if message.chat.type != "private":
        reply = say("private_only", user)
    elif not received.accepts(name):
        reply = say("file_not_archive", user)
    elif received.too_large(common.settings(context), document.file_size or 0):
        reply = "❌ " + say("file_too_large", user, name=name, limit=received.DOWNLOAD_LIMIT_MB)
    else:
        status = await message.reply_text(say("file_receiving", user, name=name))
        screen = await restore_handlers.receive(update, context, document)
        await delivery.edit_or_send(context.bot, status.chat_id, status.message_id, *screen)
        return
    await message.reply_text(reply)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every button of the menu: admin check, expiry check, then the action."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    settings = common.settings(context)
    user_id = query.from_user.id if query.from_user else None
    if not is_admin(settings, user_id):
        logger.warning("refused button %r from non-admin user %s", query.data, user_id)
        await query.answer(say("admins_only_short", update.effective_user), show_alert=True)
        return
    parsed = views.parse(query.data)
    if parsed is None or parsed[0] != context.bot_data["menu_generation"]:
        await common.expired(update)
        return
    _, action, argument = parsed
    handler = ACTIONS.get(action)
    if handler is None:
        await common.invalid(update)
        return
    chat = update.effective_chat
    if chat is None or chat.type != "private" or query.message is None:
        await query.answer(say("private_only", update.effective_user), show_alert=True)
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
    """Run a working action unless the same menu is still at work (a double tap); the menu
    is free again once the action shows its outcome (menu_guard)."""
    held: dict[menu_guard.Key, object] = context.bot_data.setdefault("busy_menus", {})
    with menu_guard.holding(held, key) as holding:
        if not holding:
            await common.answer(update, say("still_working", update.effective_user))
            return
        await handler(update, context, argument)


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press that is not ours (forged, or from an old version): refuse or expire."""
    query = update.callback_query
    if query is None:
        return
    user_id = query.from_user.id if query.from_user else None
    if not is_admin(common.settings(context), user_id):
        logger.warning("refused unknown button %r from non-admin user %s", query.data, user_id)
        await query.answer(say("admins_only_short", update.effective_user), show_alert=True)
        return
    await common.invalid(update)


# --- the actions ----------------------------------------------------------------------


async def _close(update: Update, _context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await common.answer(update)
    closed = say("closed", update.effective_user)
    await common.show(update, (closed, InlineKeyboardMarkup([])))


async def _new_backup(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
    menu = common.menu(context, update)
    if kind not in ("manual", "emergency"):
        await common.answer(update, menu.say("unknown_kind"), alert=True)
        return
    job = await jobs.begin(update, context, f"a {kind} backup")
    if job is None:
        return
    word = views.kind_word(kind, menu.lang)
    await common.answer(update, menu.say("creating", kind=word))
    title = menu.say("creating_title", kind=word)
    await common.busy(update, title)
    logger.info("%s backup asked by %s", kind, job.started_by)
    settings = common.settings(context)
    screen = await jobs.run(
        context,
        menu,
        job,
        functools.partial(create_backup, settings, kind, "bot"),
        functools.partial(views.backup_done, menu),
        menu.say("what_backup", kind=word),
        shown=common.progress(update, title),
    )
    await jobs.show_outcome(update, context, job, screen)


async def _types(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await common.answer(update)
    backups = await asyncio.to_thread(catalog.list_backups, common.settings(context))
    await common.show(update, views.type_picker(common.menu(context, update), backups))


async def _restore_types(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await common.answer(update)
    backups = await asyncio.to_thread(catalog.list_backups, common.settings(context))
    replica = common.settings(context).replica.enabled
    menu = common.menu(context, update)
    await common.show(update, views.type_picker(menu, backups, action="rlist", replica=replica))


def _page_action(action: str) -> Callable[..., Awaitable[None]]:
    async def page(update: Update, context: ContextTypes.DEFAULT_TYPE, argument: str) -> None:
        kind, _, number = argument.partition(":")
        if kind not in ARCHIVE_TYPES or not number.isdigit():
            await common.invalid(update)
            return
        await common.answer(update)
        backups = await asyncio.to_thread(catalog.list_backups, common.settings(context))
        menu = common.menu(context, update)
        await common.show(update, views.backup_page(menu, backups, kind, int(number), action))

    return page


async def _item(update: Update, context: ContextTypes.DEFAULT_TYPE, argument: str) -> None:
    await common.answer(update)
    ident, _, page = argument.partition(":")  # the list's page, for Back
    item = await common.find(update, context, ident)
    if item is None:
        return
    limit = common.settings(context).bot_upload_limit_mb
    number = int(page) if page.isdigit() else 0
    menu = common.menu(context, update)
    await common.show(update, views.backup_details(menu, item, limit, number))


async def _download(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> None:
    await common.answer(update, say("sending_file", update.effective_user))
    item = await common.find(update, context, ident)
    user = update.effective_user
    if item is None or user is None:
        return
    limit = common.settings(context).bot_upload_limit_mb
    if item.size_bytes > limit * 1024 * 1024:
        await context.bot.send_message(
            user.id, say("too_large_send", user, name=item.name, limit=limit)
        )
        return
    logger.info("download of %s by admin %s", item.name, user.id)
    # read in a worker thread (python-telegram-bot would read the file on the event loop)
    data = await jobs.in_pool(context, Path(item.path).read_bytes)
    try:
        async with delivery.uploading(context.bot, user.id):
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
            user.id, say("send_failed", user, name=item.name, error=error, path=item.path)
        )


async def _status(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await common.answer(update)
    system = await asyncio.to_thread(status_service.get_status, common.settings(context))
    await common.show(update, views.status(common.menu(context, update), system))


async def _scheduler(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    await common.answer(update)
    await common.show(update, await _scheduler_screen(update, context))


async def _scheduler_screen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Screen:
    settings = common.settings(context)
    view = await asyncio.to_thread(scheduler_state.scheduler_view, settings)
    here = context.bot_data.get("scheduler") is not None
    return views.scheduler(common.menu(context, update), settings, view, here)


def _pause_action(paused: bool) -> Callable[..., Awaitable[None]]:
    async def toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
        await common.answer(update, say("paused" if paused else "resumed", update.effective_user))
        await asyncio.to_thread(scheduler_state.set_paused, common.settings(context), paused)
        user = update.effective_user
        state = "paused" if paused else "resumed"
        logger.info("scheduler %s by admin %s", state, user.id if user else None)
        await common.show(update, await _scheduler_screen(update, context))

    return toggle


async def _daily_now(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    job = await jobs.begin(update, context, "a daily backup")
    if job is None:
        return
    menu = common.menu(context, update)
    await common.answer(update, menu.say("making_daily"))
    title = menu.say("making_daily_title")
    await common.busy(update, title)
    # with the scheduler in this process, it makes the backup (and retries a failure)
    running: BackupScheduler | None = context.bot_data.get("scheduler")
    work = functools.partial(
        run_scheduled_backup, common.settings(context), "daily", scheduler=running
    )
    text, keyboard = await _scheduler_screen(update, context)

    def done(outcome: Any) -> Screen:
        line = views.scheduled_outcome(outcome, menu.lang)
        return views.fit(f"{line}\n\n{text}", menu.lang), keyboard

    shown = common.progress(update, title)
    failed = menu.say("what_backup", kind=views.kind_word("daily", menu.lang))
    screen = await jobs.run(context, menu, job, work, done, failed, shown=shown)
    await jobs.show_outcome(update, context, job, screen)


ACTIONS: dict[str, Callable[[Update, ContextTypes.DEFAULT_TYPE, str], Awaitable[None]]] = {
    "menu": common.main,
    "close": _close,
    "new": _new_backup,
    "types": _types,
    "list": _page_action("list"),
    "item": _item,
    "dl": _download,
    "restore": _restore_types,
    "rlist": _page_action("rlist"),
    "plan": restore_handlers.plan,
    "confirm": restore_handlers.confirm,
    "schema": restore_handlers.schema,
    "cancel": restore_handlers.cancel,
    "status": _status,
    "sched": _scheduler,
    "pause": _pause_action(True),
    "resume": _pause_action(False),
    "daily": _daily_now,
    **point_in_time.ACTIONS,
}
