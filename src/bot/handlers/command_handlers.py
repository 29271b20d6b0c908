"""Direct commands for admins: /status, /backups, /last, /logs (others get no answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from html import escape
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, InlineKeyboardMarkup, Update, User
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes

from src.bot import views
from src.bot.handlers import common
from src.bot.handlers.backup_handlers import admin_ids, is_admin
from src.bot.texts import say
from src.config.settings import Settings
from src.services import catalog, log_tail, status_service

logger = logging.getLogger(__name__)

EVERYONE = [
    BotCommand("start", "begin"),
    BotCommand("help", "what the bot can do"),
]
ADMINS = [
    *EVERYONE,
    BotCommand("backup", "backups and restore"),
    BotCommand("status", "the state of backups and the scheduler"),
    BotCommand("backups", "the backups, by type"),
    BotCommand("last", "the newest backup"),
    BotCommand("logs", "the end of the error log"),
]
LOG_LINES = 40

Command = Callable[[ContextTypes.DEFAULT_TYPE, views.Menu, User | None], Awaitable[common.Screen]]


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the admins' direct commands."""
    for name, screen in (
        ("status", _status),
        ("backups", _backups),
        ("last", _last),
        ("logs", _logs),
    ):
        app.add_handler(CommandHandler(name, _admin_only(name, screen)))


async def publish(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Set the command list: the short one for everyone, the full one in each admin's chat."""
    scopes: list[tuple[list[BotCommand], BotCommandScopeChat | None]] = [(EVERYONE, None)]
    scopes += [(ADMINS, BotCommandScopeChat(admin)) for admin in admin_ids(settings)]
    for commands, scope in scopes:
        try:
            await app.bot.set_my_commands(commands, scope=scope)
        except TelegramError as error:  # an admin who never started the bot: chat not found
            logger.warning("could not set the command list (%s): %s", scope or "all", error)


def _admin_only(
    name: str, screen: Command
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer an admin in a private chat; ignore anyone else (the command is not theirs)."""
        user, message = update.effective_user, update.effective_message
        if message is None:
            return
        if not is_admin(common.settings(context), user.id if user else None):
            logger.warning("ignored /%s from non-admin user %s", name, user.id if user else None)
            return
        if message.chat.type != "private":
            await message.reply_text(say("private_only", user))
            return
        text, keyboard = await screen(context, common.menu(context, update), user)
        await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    return command


async def _status(
    context: ContextTypes.DEFAULT_TYPE, menu: views.Menu, user: User | None
) -> common.Screen:
    system = await asyncio.to_thread(status_service.get_status, common.settings(context))
    return views.status(menu, system)


async def _backups(
    context: ContextTypes.DEFAULT_TYPE, menu: views.Menu, user: User | None
) -> common.Screen:
    backups = await asyncio.to_thread(catalog.list_backups, common.settings(context))
    return views.type_picker(menu, backups)


async def _last(
    context: ContextTypes.DEFAULT_TYPE, menu: views.Menu, user: User | None
) -> common.Screen:
    settings = common.settings(context)
    backups = await asyncio.to_thread(catalog.list_backups, settings)
    if not backups:
        return say("no_backups", user), InlineKeyboardMarkup([menu.nav()])
    newest = backups[0]  # the catalogue lists newest first
    return views.backup_details(menu, newest, settings.bot_upload_limit_mb)


async def _logs(
    context: ContextTypes.DEFAULT_TYPE, menu: views.Menu, user: User | None
) -> common.Screen:
    lines = await asyncio.to_thread(log_tail.error_log_tail, common.settings(context), LOG_LINES)
    if not lines:
        return say("log_empty", user), InlineKeyboardMarkup([])
    while len("\n".join(lines)) > views.MESSAGE_LIMIT - 100:  # the newest lines matter most
        lines.pop(0)
    body = "\n".join(lines)
    return f"{say('log_title', user)}\n<pre>{escape(body)}</pre>", InlineKeyboardMarkup([])
