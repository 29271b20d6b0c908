"""Progress in the menu message: the phase and percentage of a long job, edited now and then.

The service core reports through `src.services.progress` (bound to the job); this is
the bot's listener. It is called from the worker thread, hands each edit to the event
loop, and keeps Telegram's flood limits in mind: one edit at a time, `EDIT_INTERVAL`
seconds apart at least. A failed edit is logged and forgotten: the job goes on.
The core names its steps in English; they are shown in the admin's language (`texts.step`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from html import escape
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup

from src.bot import delivery
from src.bot.texts import FALLBACK
from src.bot.texts import step as step_name
from src.services import progress

logger = logging.getLogger(__name__)

R = TypeVar("R")
EDIT_INTERVAL = 3.0  # seconds between two edits of the same message at least
CLOSE_WAIT = 30.0  # an edit on its way is awaited this long, so the outcome lands after it


def describe(state: progress.State, lang: str = FALLBACK) -> str:
    """One line per step: `phase NN%` (the job's own first, then the work beside it), the
    steps' names in `lang`."""
    steps = [("", state)] if state.phase else []
    steps += list(state.sides)
    lines = []
    for name, part in steps:
        percent = f" {part.percent}%" if part.percent is not None else ""
        shown = f"{step_name(name, lang)}: " if name else ""
        lines.append(f"{shown}{step_name(part.phase, lang)}{percent}")
    return "\n".join(lines)


class MenuProgress:
    """A progress listener that edits one menu message (its "⏳" text plus the step)."""

    def __init__(
        self,
        bot: Bot,
        loop: asyncio.AbstractEventLoop,
        where: tuple[int, int],
        title: str,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        lang: str = FALLBACK,
    ) -> None:
        self._bot, self._loop, self._where, self._title = bot, loop, where, title
        self._lang = lang
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._last_at = clock()  # the "⏳" has just been shown
        self._last_text = ""
        self._pending: concurrent.futures.Future[bool] | None = None
        self._closed = False
        self.edits = 0

    def show(self, state: progress.State) -> None:
        """Edit the message when the last edit is old enough and done (else skip this one)."""
        steps = describe(state, self._lang)
        if not steps:
            return
        text = f"{self._title}\n\n<i>{escape(steps)}</i>"
        now = self._clock()
        with self._lock:
            if self._closed or text == self._last_text or now - self._last_at < self._interval:
                return
            if self._pending is not None and not self._pending.done():
                return
            self._last_at, self._last_text = now, text
            self.edits += 1
            edit = delivery.try_edit(self._bot, *self._where, text, InlineKeyboardMarkup([]))
            self._pending = asyncio.run_coroutine_threadsafe(edit, self._loop)

    def note(self, text: str) -> None:
        """A remark (such as waiting for the lock) goes to the log, not to the menu."""
        logger.info("%s", text)

    def close(self) -> None:
        """No more edits; wait for one on its way, so it never lands after the outcome."""
        with self._lock:
            self._closed = True
            pending = self._pending
        if pending is None:
            return
        try:
            pending.result(timeout=CLOSE_WAIT)
        except concurrent.futures.TimeoutError:
            logger.warning("a progress edit did not finish in %.0f s", CLOSE_WAIT)
            pending.cancel()
        except Exception:  # progress is a courtesy: the job's outcome is what matters
            logger.warning("a progress edit failed", exc_info=True)


def reporting(listener: MenuProgress, work: Callable[[], R]) -> Callable[[], R]:
    """The work, with its progress shown by `listener` while it runs (in the worker thread)."""

    def run() -> R:
        with progress.listening(listener):
            return work()

    return run
