"""Run the real bot Application in a thread against the fake Bot API server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from src.bot.app import build_application, prepare_database
from src.config.settings import Settings

TOKEN = "123456789:" + "A" * 35


class BotRunner:
    """The Application `python -m src.bot` builds, polling in a thread with its own loop."""

    def __init__(self, settings: Settings) -> None:
        prepare_database(settings)
        self.app: Any = build_application(settings)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bot", daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._started.set()
        try:
            self.app.run_polling(stop_signals=None, poll_interval=0.0, timeout=1, close_loop=True)
        except BaseException as error:
            self.error = error

    def start(self) -> BotRunner:
        self._thread.start()
        self._started.wait(10)
        deadline = time.monotonic() + 30
        while not self.app.running and self._thread.is_alive():  # stop_running needs it
            assert time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 60) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.app.stop_running)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot did not stop"
        if self.error is not None:
            raise self.error

    @property
    def bot_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.app.bot_data
        return data
