"""Getting a message to an admin despite 429s, timeouts, dropped connections and blocks.

python-telegram-bot's `AIORateLimiter` already waits out a 429 (`retry_after`) a few times.
What is left here: a timeout or a dropped connection is retried with backoff, an edit that
fails for good goes out as a new message instead, and what a message met (delivered, blocked,
never started) is handed to the service's bookkeeping (`admin_reach`).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from src.services.admin_reach import retry_delay

logger = logging.getLogger(__name__)

T = TypeVar("T")
CHAT_ACTION_EVERY = 4.0  # Telegram shows a chat action for 5 s (or until a message)
ATTEMPTS = 3  # tries of one message on the menu's path (the rate limiter retries 429s within)


def retry_after(error: TelegramError) -> float | None:
    """Telegram's `retry_after` of a 429, in seconds (None for other errors)."""
    if not isinstance(error, RetryAfter):
        return None
    with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def transient(error: TelegramError) -> bool:
    """Tell whether trying the same call again may succeed (429, timeout, lost connection)."""
    if isinstance(error, (RetryAfter, TimedOut)):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def reach_state(error: TelegramError) -> str:
    """What an error says about the admin: blocked, not_started or failing."""
    text = str(error).lower()
    if isinstance(error, Forbidden):
        return "not_started" if "initiate" in text or "not started" in text else "blocked"
    if isinstance(error, BadRequest) and "chat not found" in text:
        return "not_started"
    return "failing"


async def with_retries(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run a Bot API call, again after a timeout or a lost connection (with backoff).

    A 429 is not retried here: the rate limiter has already waited it out its times.

    Raises:
        TelegramError: a lasting error, a 429, or the last timeout or lost connection.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TelegramError as error:
            if isinstance(error, RetryAfter) or not transient(error) or attempt == attempts:
                raise
            delay = retry_delay(attempt)
            logger.info("Bot API call failed (%s); trying again in %.1f s", error, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def not_modified(error: TelegramError) -> bool:
    """Telegram refused an edit that changes nothing: the screen is already shown."""
    return isinstance(error, BadRequest) and "not modified" in str(error).lower()


async def edit_or_send(
    bot: Bot, chat_id: int, message_id: int, text: str, keyboard: InlineKeyboardMarkup
) -> None:
    """Show a screen in the menu message; when that fails for good, as a new message.

    Raises:
        TelegramError: the new message could not be sent either (Forbidden: blocked).
    """
    try:
        await with_retries(
            lambda: bot.edit_message_text(
                text, chat_id, message_id, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        )
    except Forbidden:
        raise
    except TelegramError as error:
        if not_modified(error):
            return
        logger.warning("the menu could not be edited (%s): sending a new message", error)
        await with_retries(
            lambda: bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        )


async def try_edit(
    bot: Bot, chat_id: int, message_id: int, text: str, keyboard: InlineKeyboardMarkup
) -> bool:
    """Edit the menu message once (a "⏳" screen): a failure is logged, never raised."""
    try:
        await bot.edit_message_text(
            text, chat_id, message_id, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    except TelegramError as error:
        if not not_modified(error):
            logger.warning("could not show %r: %s (the work goes on)", text[:40], error)
            return False
    return True


@asynccontextmanager
async def uploading(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "sending a file…" in the chat while the block runs (a failure only logged)."""

    async def keep_showing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
            except TelegramError as error:
                logger.info("could not show the upload in chat %s: %s", chat_id, error)
            await asyncio.sleep(CHAT_ACTION_EVERY)

    task = asyncio.create_task(keep_showing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
