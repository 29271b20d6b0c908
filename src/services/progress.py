"""How far long work has got: the core reports it, a door may show it.

The core calls `phase()` when a step of a long job begins (with its size in bytes,
pages or rows when known), `advance()` as it goes, and `note()` for a one-off remark
such as waiting for the lock. Nothing is shown unless a door listens: the CLI does on
a terminal (phase and percentage on stderr, updated in place), never off one, never
under `--quiet`; the bot does for a job started from its menu (edits of the menu
message). The scheduler does not listen, so for it every call returns at once.

Progress belongs to a job, not to the process: `listening` binds a listener to the
thread that runs the job (a context variable, not an argument threaded through every
function that loops), and work the job hands to pool threads is wrapped with `carried`
so it reports to the same job. A scheduled backup running beside an admin's restore in
the same bot process thus never shows its steps in the admin's menu message.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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
    """Where one job's progress goes: its listener, and the step of each lane (the job's
    own, named "", and those of work beside it)."""

    def __init__(self, listener: Listener) -> None:
        self.lock = threading.Lock()
        self.listener = listener
        self.lanes: dict[str, State] = {}

    def move(self, change: Callable[[State], State]) -> None:
        name = _lane.get()
        with self.lock:
            self.lanes[name] = change(self.lanes.get(name, State("")))
            state = self.composed()
        self.listener.show(state)

    def composed(self) -> State:
        """The job's own step, with the steps of the lanes beside it (under the lock)."""
        main = self.lanes.get("", State(""))
        sides = tuple((n, s) for n, s in self.lanes.items() if n and s.phase)
        return State(main.phase, main.done, main.total, sides)


# the job the current thread reports for (None: nobody listens), and its lane; a new thread
# starts with neither, so work handed to another thread is wrapped with `carried`
_job: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar("progress_job", default=None)
_lane: contextvars.ContextVar[str] = contextvars.ContextVar("progress_lane", default="")


def carried(work: Callable[P, R]) -> Callable[P, R]:
    """Return `work`, reporting to this thread's job (and lane) from whatever thread runs it.

    Hand work to a pool or a thread through this: a thread started or reused elsewhere
    reports for nobody (a scheduled backup's steps never reach an admin's menu).
    """
    job, name = _job.get(), _lane.get()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        job_token, lane_token = _job.set(job), _lane.set(name)
        try:
            return work(*args, **kwargs)
        finally:
            _lane.reset(lane_token)
            _job.reset(job_token)

    return run


@contextmanager
def lane(name: str) -> Iterator[None]:
    """Report what this thread does under `name`, beside the job's own step (e.g. a
    restore's safety copy, made while the archive is checked); gone when the block ends."""
    token = _lane.set(name)
    try:
        yield
    finally:
        _lane.reset(token)
        job = _job.get()
        if job is not None:
            with job.lock:
                job.lanes.pop(name, None)
                state = job.composed()
            if state.phase:
                job.listener.show(state)


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send the progress of the work this thread does in the block to `listener` (None:
    show nothing), and of work it hands on through `carried`; other threads' jobs never."""
    token = _job.set(None if listener is None else _Sink(listener))
    try:
        yield
    finally:
        _job.reset(token)
        if listener is not None:
            listener.close()


def _move(change: Callable[[State], State]) -> None:
    job = _job.get()
    if job is not None:
        job.move(change)


def phase(name: str, total: int = 0) -> None:
    """A step begins; `total` is its size in whatever units `advance` counts (0: unknown)."""
    _move(lambda _: State(name, 0, max(0, total)))


def advance(amount: int) -> None:
    """`amount` more units of the current step are done."""
    if amount > 0:
        _move(lambda s: State(s.phase, s.done + amount, s.total))


def update(done: int, total: int | None = None) -> None:
    """The current step has done `done` units (of `total`, when it learned its size)."""
    _move(lambda s: State(s.phase, done, s.total if total is None else total))


def clear() -> None:
    """Wipe what the listener shows (the caller prints something); the next step redraws."""
    job = _job.get()
    if job is not None:
        job.listener.close()


def note(text: str) -> bool:
    """Say something once, on its own line (e.g. that the job waits for the lock).

    Returns whether a listener took it (else nobody is shown progress).
    """
    job = _job.get()
    if job is None:
        return False
    job.listener.note(text)
    return True
