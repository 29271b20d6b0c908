"""What every menu handler shares: the settings, the menu's buttons, showing and answering."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from src.bot import delivery, jobs, menu_guard, views
from src.bot.progress_edits import MenuProgress
from src.bot.texts import language, say
from src.config.settings import Settings
from src.services import catalog

logger = logging.getLogger(__name__)

Screen = tuple[str, InlineKeyboardMarkup]


def settings(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    """The settings the bot was started with."""
    settings: Settings = context.bot_data["settings"]
    return settings


def lang(update: Update) -> str:
    """The language of the person behind an update ("id" or "en")."""
    return language(update.effective_user)


def menu(context: ContextTypes.DEFAULT_TYPE, update: Update) -> views.Menu:
    """The button maker of this start of the bot (older menus expire), in the presser's
    language."""
    return views.Menu(context.bot_data["menu_generation"], lang(update))


async def expired(update: Update) -> None:
    """A button of a menu from before a restart: say so (in the menu when too late to answer)."""
    text = say("expired", update.effective_user)
    if not await answer(update, text, alert=True):
        await show(update, (text, InlineKeyboardMarkup([])))


async def invalid(update: Update) -> None:
    """A button this bot does not know (forged, or from an old version)."""
    await answer(update, say("invalid", update.effective_user), alert=True)


def where(update: Update) -> tuple[int, int]:
    """The chat and message id of the pressed menu."""
    query = update.callback_query
    assert query is not None and query.message is not None
    return query.message.chat.id, query.message.message_id


async def show(update: Update, screen: Screen) -> None:
    """Replace the menu message's text and buttons (or send them anew when that fails).

    The screen shown is the action's outcome: its buttons take taps from now on.
    """
    menu_guard.outcome_shown()
    await delivery.edit_or_send(update.get_bot(), *where(update), *screen)


async def busy(update: Update, text: str) -> None:
    """Show that work is under way (no buttons meanwhile); a failure never stops the work."""
    await delivery.try_edit(update.get_bot(), *where(update), text, InlineKeyboardMarkup([]))


def progress(update: Update, title: str) -> MenuProgress:
    """A listener that shows a job's progress under `title` in the pressed menu (its steps
    in the presser's language)."""
    loop = asyncio.get_running_loop()
    return MenuProgress(update.get_bot(), loop, where(update), title, lang=lang(update))


async def answer(update: Update, text: str | None = None, alert: bool = False) -> bool:
    """Answer the button press; False when Telegram no longer takes it (too old, lost)."""
    query = update.callback_query
    assert query is not None
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as error:
        logger.info("button press %s not answered: %s", query.id, error)
        return False
    return True


async def main(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    """The main menu, with the job that runs now if any."""
    await answer(update)
    running = await asyncio.to_thread(jobs.running, settings(context))
    await show(update, views.main_menu(menu(context, update), running))


async def find(update: Update, context: ContextTypes.DEFAULT_TYPE, ident: str) -> Any:
    """The backup a short id stands for, or None (then the menu says it is gone).

    The press is answered before this (Telegram wants an answer within seconds).
    """
    backups = await asyncio.to_thread(catalog.list_backups, settings(context))
    item = next((b for b in backups if views.backup_id(b) == ident), None)
    if item is None:
        buttons = menu(context, update)
        await show(update, (buttons.say("gone"), InlineKeyboardMarkup([buttons.nav()])))
    return item
