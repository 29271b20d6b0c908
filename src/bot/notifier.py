"""Scheduler alarms to every admin, sent from the scheduler's thread through the bot's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from html import escape
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode

from src.services.notifiers import TITLES

logger = logging.getLogger(__name__)


class TelegramNotifier:
    """The scheduler's notifier inside the bot: one message to each admin per event."""

    def __init__(self, bot: Bot, loop: asyncio.AbstractEventLoop, admins: list[int]) -> None:
        self.bot = bot
        self.loop = loop
        self.admins = admins

    def notify(self, event: str, message: str) -> None:
        """Queue the messages on the bot's event loop (safe from any thread)."""
        logger.warning("scheduler %s: %s", event, message)
        if not self.admins:
            logger.warning("no ADMIN_USER_IDS: nobody to tell about %s", event)
            return
        # cut the plain text, then escape: a cut escaped text could end inside "&amp;"
        text = f"<b>{escape(TITLES.get(event, event))}</b>\n{escape(message[:3800])}"
        for admin in self.admins:
            try:
                future = asyncio.run_coroutine_threadsafe(
                    self.bot.send_message(admin, text, parse_mode=ParseMode.HTML), self.loop
                )
            except RuntimeError as error:  # the loop has closed: the bot is stopping
                logger.error("cannot notify admin %s: %s", admin, error)  # noqa: TRY400
                continue
            future.add_done_callback(_log_failure(admin))


def _log_failure(admin: int) -> Callable[[Future[Any]], None]:
    def done(future: Future[Any]) -> None:
        if future.cancelled():
            logger.error("notification to admin %s was cancelled", admin)
        elif future.exception() is not None:
            logger.error("notification to admin %s failed: %s", admin, future.exception())

    return done
