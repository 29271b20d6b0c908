"""Restore to a point in time from the Litestream replica (REPLICA_URL): presets or a typed time.

The chosen moment is restored into a check file and offered with the same two-step
confirmation as a listed backup (restore_handlers.offer_moment).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from src.bot import delivery, views
from src.bot.handlers import common, restore_handlers
from src.bot.texts import say
from src.errors import BackupError
from src.services.replication.report import replica_positions
from src.services.replication.restore import PRESETS, parse_at, preset_moment

logger = logging.getLogger(__name__)

TYPE_MINUTES = 5  # how long the bot waits for a typed time


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    """The point-in-time screen: what the replica holds, the presets, a typed time."""
    await common.answer(update)
    settings, menu = common.settings(context), common.menu(context, update)
    if not settings.replica.enabled:
        failed = views.failure(menu, menu.say("what_pit"), menu.say("pit_no_replica"))
        await common.show(update, failed)
        return
    await common.busy(update, menu.say("pit_asking"))
    try:
        held = await asyncio.to_thread(replica_positions, settings, 30)
    except BackupError as error:
        failed = views.failure(menu, menu.say("what_list_replica"), str(error))
        await common.show(update, failed)
        return
    await common.show(update, views.point_in_time(menu, settings, held, settings.now()))


async def preset(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str) -> None:
    """A preset pressed: the moment it stands for now, then the restore plan."""
    if name not in PRESETS:
        await common.invalid(update)
        return
    settings, menu = common.settings(context), common.menu(context, update)
    at = preset_moment(name, settings.now(), settings.timezone)
    await common.answer(update, menu.say("pit_restoring_check"))
    await common.busy(update, menu.say("pit_restoring", at=views.moment(settings, at)))
    user = update.effective_user
    screen = await restore_handlers.offer_moment(context, menu, user.id if user else None, at)
    await common.show(update, screen)


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, _arg: str) -> None:
    """Ask for a typed time; the admin's next message is read as one."""
    await common.answer(update)
    user = update.effective_user
    if user is None:
        return
    waiting: dict[int, float] = context.bot_data.setdefault("awaiting_moment", {})
    waiting[user.id] = time.monotonic() + TYPE_MINUTES * 60
    await common.show(
        update,
        views.ask_moment(common.menu(context, update), common.settings(context), TYPE_MINUTES),
    )


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message from an admin the bot asked for a time: read it, then offer the restore."""
    user, message = update.effective_user, update.effective_message
    waiting: dict[int, float] = context.bot_data.setdefault("awaiting_moment", {})
    if user is None or message is None or not message.text or user.id not in waiting:
        return
    if waiting.pop(user.id) < time.monotonic() or message.chat.type != "private":
        return
    settings = common.settings(context)
    try:
        at = parse_at(message.text, settings)
    except ValueError:  # parse_at's one complaint, in the admin's language
        waiting[user.id] = time.monotonic() + TYPE_MINUTES * 60  # try again
        zone = settings.timezone_name
        error = say("pit_not_a_time", user, text=repr(message.text), zone=zone)
        await message.reply_text(say("pit_bad_time", user, error=error))
        return
    logger.info("point-in-time restore of %s asked by admin %s", at.isoformat(), user.id)
    menu = common.menu(context, update)
    status = await message.reply_text(
        menu.say("pit_restoring", at=views.moment(settings, at)), parse_mode=ParseMode.HTML
    )
    screen = await restore_handlers.offer_moment(context, menu, user.id, at)
    await delivery.edit_or_send(context.bot, status.chat_id, status.message_id, *screen)


ACTIONS: dict[str, Any] = {"pit": choose, "pitat": preset, "pitask": ask}
