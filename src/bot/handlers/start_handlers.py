"""/start (records the user) and /help."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from src.bot.handlers.backup_handlers import is_admin
from src.bot.texts import ADMIN_HELP, say
from src.config.settings import Settings
from src.database.users import TelegramUser, record_user

logger = logging.getLogger(__name__)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add /start and /help."""
    app.add_handler(CommandHandler("start", start_command))
    app.add_handler(CommandHandler("help", help_command))


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the user in the bot's database and greet them."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    settings: Settings = context.bot_data["settings"]
    who = TelegramUser(
        user_id=user.id,
        chat_id=chat.id,
        first_name=user.first_name,
        username=user.username,
        last_name=user.last_name,
        language_code=user.language_code,
    )
    new = await asyncio.to_thread(record_user, settings.database_path, who, settings.now())
    logger.info("/start from user %s (%s)", user.id, "new" if new else "known")
    await message.reply_text(say("welcome" if new else "welcome_back", user, name=user.first_name))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands this user may use."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    keys = ["help_start", "help_help"]
    if is_admin(context.bot_data["settings"], user.id if user else None):
        keys += ADMIN_HELP
    await message.reply_text("\n".join(say(key, user) for key in keys))
