"""How far long work has got: the core reports it, a door may show it.

The core calls `phase()` when a step of a long job begins (with its size in bytes,
pages or rows when known), `advance()` as it goes, and `note()` for a one-off remark
such as waiting for the lock. Nothing is shown unless a door listens: the CLI does on
a terminal (phase and percentage on stderr, updated in place), never off one, never
under `--quiet`. The bot and the scheduler do not listen, so for them every call
returns at once.

Like `logging`, this is one sink per process rather than an argument threaded through
every function that loops: the CLI runs one command per process, and the work that
reports runs in pool threads too, which a context variable would not reach.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class State:
    """Where the job stands: the step, units done, and the step's size (0: unknown).

    `sides` are the steps of work running beside it in other threads (a restore's safety
    copy), each under its lane's name, so a display can show them together.
    """

    phase: str
    done: int = 0
    total: int = 0
    sides: tuple[tuple[str, State], ...] = ()

    @property
    def percent(self) -> int | None:
        """Whole percent done, or None when the size is unknown."""
        if self.total <= 0:
            return None
        return min(100, self.done * 100 // self.total)


class Listener(Protocol):
    """What a door implements to show progress; called from any thread."""

    def show(self, state: State) -> None:
        """The job moved on (called often: throttle here)."""

    def note(self, text: str) -> None:
        """A remark worth a line of its own."""

    def close(self) -> None:
        """The job is over, or a line is printed: leave the display clean (idempotent)."""


class _Sink:
    """The process's one place progress goes: the listener, and the step of each lane
    (the job's own, named "", and those of work beside it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.listener: Listener | None = None
        self.lanes: dict[str, State] = {}

    def move(self, change: Callable[[State], State]) -> None:
        listener = self.listener
        if listener is None:
            return
        name = getattr(_thread, "lane", "")
        with self.lock:
            self.lanes[name] = change(self.lanes.get(name, State("")))
            state = self.composed()
        listener.show(state)

    def composed(self) -> State:
        """The job's own step, with the steps of the lanes beside it (under the lock)."""
        main = self.lanes.get("", State(""))
        sides = tuple((n, s) for n, s in self.lanes.items() if n and s.phase)
        return State(main.phase, main.done, main.total, sides)

    def reset(self) -> None:
        self.lanes = {}


_sink = _Sink()
_thread = threading.local()  # the lane the current thread reports in


@contextmanager
def lane(name: str) -> Iterator[None]:
    """Report what this thread does under `name`, beside the job's own step (e.g. a
    restore's safety copy, made while the archive is checked); gone when the block ends."""
    previous = getattr(_thread, "lane", "")
    _thread.lane = name
    try:
        yield
    finally:
        _thread.lane = previous
        listener = _sink.listener
        with _sink.lock:
            _sink.lanes.pop(name, None)
            state = _sink.composed()
        if listener is not None and state.phase:
            listener.show(state)


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send progress to `listener` while the block runs (None: show nothing)."""
    with _sink.lock:
        previous, _sink.listener = _sink.listener, listener
        _sink.reset()
    try:
        yield
    finally:
        with _sink.lock:
            _sink.listener = previous
        if listener is not None:
            listener.close()


def phase(name: str, total: int = 0) -> None:
    """A step begins; `total` is its size in whatever units `advance` counts (0: unknown)."""
    _sink.move(lambda _: State(name, 0, max(0, total)))


def advance(amount: int) -> None:
    """`amount` more units of the current step are done."""
    if amount > 0:
        _sink.move(lambda s: State(s.phase, s.done + amount, s.total))


def update(done: int, total: int | None = None) -> None:
    """The current step has done `done` units (of `total`, when it learned its size)."""
    _sink.move(lambda s: State(s.phase, done, s.total if total is None else total))


def clear() -> None:
    """Wipe what the listener shows (the caller prints something); the next step redraws."""
    listener = _sink.listener
    if listener is not None:
        listener.close()


def note(text: str) -> bool:
    """Say something once, on its own line (e.g. that the job waits for the lock).

    Returns whether a listener took it (else nobody is shown progress).
    """
    listener = _sink.listener
    if listener is None:
        return False
    listener.note(text)
    return True
