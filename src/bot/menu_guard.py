"""One working action per menu message: a second tap of its buttons meanwhile is refused.

A working action (a backup, a restore's check, …) holds its menu message from the press
until it shows its outcome, not until its handler returns. The outcome's own buttons are
live the moment Telegram shows them, while the bot may still wait for Telegram's answer to
that edit (or retry it): a tap on them then is a new request, never a double tap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Key = tuple[int, int]  # (chat id, message id) of the menu message

# how the working action this task runs lets go of its menu (None: it holds none)
_let_go: ContextVar[Callable[[], None] | None] = ContextVar("menu_guard", default=None)


@contextmanager
def holding(held: dict[Key, object], key: Key) -> Iterator[bool]:
    """Hold the menu `key` for the block; yields False (holding nothing) when it is held.

    held: the menus held now, each by its holder's token (one dict per bot).
    """
    if key in held:
        yield False
        return
    token = object()
    held[key] = token

    def let_go() -> None:
        if held.get(key) is token:  # a later action may hold it by now: never free that one
            del held[key]

    reset = _let_go.set(let_go)
    try:
        yield True
    finally:
        _let_go.reset(reset)
        let_go()


def outcome_shown() -> None:
    """The working action is about to show its outcome: a tap from now on is a new one."""
    let_go = _let_go.get()
    if let_go is not None:
        let_go()
