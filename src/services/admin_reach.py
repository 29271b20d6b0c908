"""Whether each admin can be reached, in which language, and how long an alarm is retried.

The bot only reports what happened to each message (`delivered`, `blocked`, `not_started`,
`failing`); the bookkeeping lives here, in the history database, so `status` (CLI and bot)
can say which admins cannot be reached and why. The language of each admin's last update
is kept beside it, so alarms sent without an update to answer are in that language too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime

from src.config.settings import Settings
from src.services.history import connect_history, read_only_history

# how long an alarm is retried before it is given up (logged), and the pauses between tries
ALARM_EXPIRES_SECONDS = 6 * 3600
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)

REASONS = {
    "blocked": "blocked the bot",
    "not_started": "never started the bot (they must open it and press Start)",
    "failing": "messages to them fail",
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS admin_reach (
    admin INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('delivered', 'blocked', 'not_started', 'failing')),
    detail TEXT,
    since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_language (
    admin INTEGER PRIMARY KEY,
    language TEXT NOT NULL,
    since TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AdminReach:
    """What the last message to an admin met."""

    admin: int
    state: str  # delivered, blocked, not_started, failing
    detail: str  # Telegram's words
    since: str

    @property
    def reason(self) -> str:
        """Why the admin cannot be reached, in words."""
        return REASONS.get(self.state, self.state)


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before try `attempt + 1` (Telegram's own `retry_after` comes first)."""
    if retry_after is not None:
        return max(retry_after, 0.0) + 0.1
    return BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]


def expired(first_try: float, now: float, expires_after: float = ALARM_EXPIRES_SECONDS) -> bool:
    """Tell whether an alarm first tried at `first_try` (monotonic seconds) is given up."""
    return now - first_try >= expires_after


@contextmanager
def _writing(settings: Settings) -> Iterator[sqlite3.Connection]:
    with closing(connect_history(settings.history_path)) as conn:
        conn.executescript(_SCHEMA)
        with conn:
            yield conn


def record(settings: Settings, admin: int, state: str, detail: str = "") -> None:
    """Remember what the last message to `admin` met (a change of state keeps its `since`)."""
    when = settings.now().isoformat(timespec="seconds")
    with _writing(settings) as conn:
        conn.execute(
            "INSERT INTO admin_reach (admin, state, detail, since) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (admin) DO UPDATE SET detail = excluded.detail, "
            "since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END, "
            "state = excluded.state",
            (admin, state, detail, when),
        )


def unreachable(settings: Settings, admins: list[int] | None = None) -> list[AdminReach]:
    """The admins whose last message failed, and why (only `admins` when given)."""
    if not settings.history_path.exists():
        return []
    with read_only_history(settings.history_path) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'admin_reach'"
        ).fetchone()
        if found is None:
            return []
        rows = conn.execute(
            "SELECT admin, state, detail, since FROM admin_reach "
            "WHERE state != 'delivered' ORDER BY admin"
        ).fetchall()
    reach = [AdminReach(int(a), str(s), str(d or ""), str(t)) for a, s, d, t in rows]
    return [r for r in reach if admins is None or r.admin in admins]


def since_text(reach: AdminReach) -> str:
    """The moment an admin became unreachable, to the minute."""
    return datetime.fromisoformat(reach.since).strftime("%Y-%m-%d %H:%M")


def remember_language(settings: Settings, admin: int, language: str) -> None:
    """Remember the language `admin` reads (from their last update to the bot)."""
    when = settings.now().isoformat(timespec="seconds")
    with _writing(settings) as conn:
        conn.execute(
            "INSERT INTO admin_language (admin, language, since) VALUES (?, ?, ?) "
            "ON CONFLICT (admin) DO UPDATE SET language = excluded.language, "
            "since = excluded.since",
            (admin, language, when),
        )


def languages(settings: Settings) -> dict[int, str]:
    """The language each admin was last seen with (admins never seen are missing)."""
    if not settings.history_path.exists():
        return {}
    with read_only_history(settings.history_path) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'admin_language'"
        ).fetchone()
        if found is None:
            return {}
        rows = conn.execute("SELECT admin, language FROM admin_language").fetchall()
    return {int(admin): str(language) for admin, language in rows}
