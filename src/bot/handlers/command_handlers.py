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
from src.bot.texts import FALLBACK, say
from src.config.settings import Settings
from src.services import catalog, log_tail, status_service

logger = logging.getLogger(__name__)

EVERYONE = ("start", "help")
ADMINS = (*EVERYONE, "backup", "status", "backups", "last", "logs")
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


def command_list(names: tuple[str, ...], lang: str) -> list[BotCommand]:
    """The commands with their descriptions in `lang`."""
    return [BotCommand(name, say(f"command_{name}", lang)) for name in names]


async def publish(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Set the command list: the short one for everyone, the full one in each admin's chat;
    in English, and in Indonesian for Indonesian apps."""
    scopes: list[tuple[tuple[str, ...], BotCommandScopeChat | None]] = [(EVERYONE, None)]
    scopes += [(ADMINS, BotCommandScopeChat(admin)) for admin in admin_ids(settings)]
    for names, scope in scopes:
        for lang in (None, "id"):
            commands = command_list(names, lang or FALLBACK)
            try:
                await app.bot.set_my_commands(commands, scope=scope, language_code=lang)
            except TelegramError as error:  # an admin who never started the bot: not found
                logger.warning("could not set the command list (%s): %s", scope or "all", error)
                break


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
