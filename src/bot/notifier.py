"""Scheduler alarms to every admin, sent from the scheduler's thread through the bot's loop.

Each admin reads the alarm in the language of their last update to the bot (English when
the bot has not seen them yet): its title, and the frame of the scheduler's message under
it (`texts.alarm_body`); the reasons in the message stay the scheduler's, in English.

Each alarm is retried with backoff (Telegram's `retry_after` first) until it is delivered or
expires; an admin who blocked the bot or never started it is recorded, so `status` says so.
Until then it is kept in BACKUP_DIR (`pending_alarms`): a restarted bot sends again what the
stopped one could not deliver, unless it expired meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from html import escape
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from src.bot import delivery
from src.bot.texts import FALLBACK, TEXTS, alarm_body, say
from src.bot.views import middle_cut
from src.config.settings import Settings
from src.services import admin_reach
from src.services.notifiers import TITLES
from src.services.pending_alarms import PendingAlarm, PendingAlarms

logger = logging.getLogger(__name__)


class TelegramNotifier:
    """The scheduler's notifier inside the bot: one message to each admin per event."""

    def __init__(
        self,
        bot: Bot,
        loop: asyncio.AbstractEventLoop,
        admins: list[int],
        settings: Settings,
        expires_after: float = admin_reach.ALARM_EXPIRES_SECONDS,
    ) -> None:
        self.bot = bot
        self.loop = loop
        self.admins = admins
        self.settings = settings
        self.expires_after = expires_after
        self.pending = PendingAlarms(settings)

    def notify(self, event: str, message: str) -> None:
        """Keep the messages, then queue them on the bot's event loop (safe from any thread)."""
        logger.warning("scheduler %s: %s", event, message)
        if not self.admins:
            logger.warning("no ADMIN_USER_IDS: nobody to tell about %s", event)
            return
        languages = self._languages()
        for admin in self.admins:
            text = alarm_text(event, message, languages.get(admin, FALLBACK))
            alarm = PendingAlarm.new(admin, text, time.time())
            self.pending.add(alarm)  # kept first: a restart sends it if this process cannot
            self._schedule(alarm)

    async def resend_pending(self) -> int:
        """Send again what an earlier run left undelivered; return how many are on their way.

        An expired alarm, or one to an admin no longer in ADMIN_USER_IDS, is dropped.
        """
        count = 0
        for alarm in await asyncio.to_thread(self.pending.all):
            if alarm.admin not in self.admins or alarm.expired(time.time(), self.expires_after):
                logger.warning("alarm to admin %s from before the restart dropped", alarm.admin)
                await asyncio.to_thread(self.pending.remove, alarm.key)
                continue
            self._schedule(alarm)
            count += 1
        if count:
            logger.info("%d alarm(s) from before the restart are sent again", count)
        return count

    def _schedule(self, alarm: PendingAlarm) -> None:
        try:
            future = asyncio.run_coroutine_threadsafe(self.deliver(alarm), self.loop)
        except RuntimeError as error:  # the loop has closed: the bot is stopping
            logger.error("cannot notify admin %s (at the next start): %s", alarm.admin, error)  # noqa: TRY400
            return
        future.add_done_callback(_log_failure(alarm.admin))

    def _languages(self) -> dict[int, str]:
        try:
            return admin_reach.languages(self.settings)
        except Exception:  # an alarm goes out whatever: in English then
            logger.warning("the admins' languages could not be read", exc_info=True)
            return {}

    async def deliver(self, alarm: PendingAlarm) -> bool:
        """Send one alarm to one admin, again and again until delivered or expired."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.bot.send_message(alarm.admin, alarm.text, parse_mode=ParseMode.HTML)
            except TelegramError as error:
                delay = admin_reach.retry_delay(attempt, delivery.retry_after(error))
                late = alarm.expired(time.time() + delay, self.expires_after)
                if late or not delivery.transient(error):
                    await asyncio.to_thread(self.pending.remove, alarm.key)
                    await self._record(alarm.admin, delivery.reach_state(error), str(error))
                    logger.error("alarm to admin %s not delivered: %s", alarm.admin, error)  # noqa: TRY400
                    return False
                logger.warning(
                    "alarm to admin %s failed (%s); again in %.0f s", alarm.admin, error, delay
                )
                await asyncio.sleep(delay)
                continue
            await asyncio.to_thread(self.pending.remove, alarm.key)
            await self._record(alarm.admin, "delivered", "")
            return True

    async def _record(self, admin: int, state: str, detail: str) -> None:
        await asyncio.to_thread(admin_reach.record, self.settings, admin, state, detail)


def alarm_text(event: str, message: str, lang: str) -> str:
    """An alarm as one admin reads it: the title and the message's frame in `lang` (its
    reasons as the scheduler words them)."""
    key = f"alarm_{event}"
    title = say(key, lang) if key in TEXTS else TITLES.get(event, event)
    message = alarm_body(message, lang)
    # cut the plain text, then escape: a cut escaped text could end inside "&amp;"
    return f"<b>{escape(title)}</b>\n{escape(middle_cut(message, 3800, lang))}"


def _log_failure(admin: int) -> Callable[[Future[Any]], None]:
    def done(future: Future[Any]) -> None:
        if future.cancelled():
            logger.error("notification to admin %s was cancelled (the bot stopped)", admin)
        elif future.exception() is not None:
            logger.error("notification to admin %s failed: %s", admin, future.exception())

    return done
