"""Progress on a terminal: the phase and a percentage on stderr, rewritten in place."""

from __future__ import annotations

import functools
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from src.services import progress

F = TypeVar("F", bound=Callable[..., Any])

CLEAR_LINE = "\r\x1b[K"


class TerminalProgress:
    """Shows `label: phase NN%` on one line of a terminal, at most `per_second` times."""

    def __init__(
        self,
        stream: IO[str],
        label: str,
        per_second: float = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self._interval = 1 / per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._shown = ""
        self._phase = ""
        self._shown_at = -1e9
        self._phase_at = clock()

    def show(self, state: progress.State) -> None:
        """Redraw the line when a phase changed, or now and then as it advances."""
        now = self._clock()
        with self._lock:
            phases = " | ".join([state.phase, *(f"{n}: {s.phase}" for n, s in state.sides)])
            new_phase = phases != self._phase
            if new_phase:
                self._phase, self._phase_at = phases, now
            elif now - self._shown_at < self._interval:
                return
            self._shown_at = now
            parts = [f"{self._label}: {self._step(state, now)}"] if state.phase else []
            parts += [f"{name}: {self._step(side, now)}" for name, side in state.sides]
            self._draw(" | ".join(parts) or f"{self._label}:")

    def _step(self, state: progress.State, now: float) -> str:
        percent = state.percent
        if percent is not None:
            return f"{state.phase} {percent:3d}%"
        if now - self._phase_at >= 1:
            return f"{state.phase} ({now - self._phase_at:.0f} s)"
        return state.phase

    def note(self, text: str) -> None:
        """Print `text` on a line of its own, then the progress line again below it."""
        with self._lock:
            self._stream.write(f"{CLEAR_LINE}{text}\n")
            shown, self._shown = self._shown, ""
            if shown:
                self._draw(shown)
            self._stream.flush()

    def close(self) -> None:
        """Wipe the progress line, so what the command prints next starts clean."""
        with self._lock:
            if self._shown:
                self._stream.write(CLEAR_LINE)
                self._stream.flush()
                self._shown = ""

    def _draw(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        if len(text) > width:
            text = text[: width - 1] + "…"
        self._stream.write(CLEAR_LINE + text)
        self._stream.flush()
        self._shown = text


def display_for(
    label: str, *, quiet: bool, stream: IO[str] | None = None
) -> TerminalProgress | None:
    """Return a display when `stream` (stderr) is a terminal and --quiet was not given."""
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return None
    return TerminalProgress(stream, label)


def shows_progress(label: str) -> Callable[[F], F]:
    """Add `--quiet` to a command and show its progress on a terminal while it runs."""

    def decorate(command: F) -> F:
        @click.option(
            "--quiet",
            "-q",
            is_flag=True,
            help="No progress line on the terminal (off a terminal none is shown anyway).",
        )
        @functools.wraps(command)
        def run(*args: Any, quiet: bool, **kwargs: Any) -> Any:
            with progress.listening(display_for(label, quiet=quiet)):
                return command(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
