"""The bot's progress listener: its text, its throttle, and its care for the outcome."""

from __future__ import annotations

import asyncio
import threading

from src.bot.progress_edits import MenuProgress, describe
from src.services.progress import State


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Bot:
    """Takes edits (the only call the listener makes), or fails them all."""

    def __init__(self, fail: bool = False) -> None:
        self.texts: list[str] = []
        self.fail = fail

    async def edit_message_text(self, text, *_args, **_kwargs):
        if self.fail:
            raise RuntimeError("no network here")
        self.texts.append(text)


def running_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


def test_describe_shows_each_step_with_its_percentage():
    side = State("copying", 1, 4)
    assert describe(State("checking the archive", 5, 10, (("safety copy", side),))) == (
        "checking the archive 50%\nsafety copy: copying 25%"
    )
    assert describe(State("taking the snapshot")) == "taking the snapshot"
    assert describe(State("")) == ""


def test_edits_are_3_seconds_apart_and_none_after_close():
    clock, bot, loop = Clock(), Bot(), running_loop()
    listener = MenuProgress(bot, loop, (1, 2), "⏳ Working", clock=clock)  # type: ignore[arg-type]
    listener.show(State("step", 1, 10))  # the "⏳" was shown just now: too soon
    clock.now += 3
    listener.show(State("step", 2, 10))
    listener.close()  # waits for the edit on its way
    assert bot.texts == ["⏳ Working\n\n<i>step 20%</i>"]
    clock.now += 10
    listener.show(State("step", 9, 10))
    listener.close()
    assert len(bot.texts) == 1
    loop.call_soon_threadsafe(loop.stop)


def test_an_edit_that_raises_is_logged_not_raised(caplog):
    clock, loop = Clock(), running_loop()
    listener = MenuProgress(Bot(fail=True), loop, (1, 2), "⏳", clock=clock)  # type: ignore[arg-type]
    clock.now += 5
    listener.show(State("step", 1, 2))
    listener.close()
    assert "a progress edit failed" in caplog.text
    loop.call_soon_threadsafe(loop.stop)


def test_describe_names_the_steps_in_the_admins_language_and_unknown_ones_as_they_are():
    side = State("checking the safety copy", 1, 4)
    state = State("checking and unpacking the archive", 5, 10, (("safety copy", side),))
    assert describe(state, "id") == (
        "memeriksa dan membongkar arsip 50%\nsalinan pengaman: memeriksa salinan pengaman 25%"
    )
    assert describe(state, "en") == describe(state)
    assert describe(State("writing the tables"), "id") == "menulis tabel"  # not "writing {name}"
    assert describe(State("writing bot.db", 1, 2), "id") == "menulis bot.db 50%"
    assert describe(State("copying a.zip to nas"), "id") == "menyalin a.zip ke nas"
    assert describe(State("something new"), "id") == "something new"
