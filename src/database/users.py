"""The bot's own use of its database: recording the users who talk to it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class TelegramUser:
    """What /start learns of a user."""

    user_id: int
    chat_id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = None


def record_user(db: Path, user: TelegramUser, now: datetime) -> bool:
    """Add the user to `users`, or refresh their names and last activity; True when new."""
    with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        known = conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user.user_id,)).fetchone()
        conn.execute(
            "INSERT INTO users (user_id, telegram_chat_id, username, first_name, last_name, "
            "language_code, joined_at, last_active_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET telegram_chat_id = excluded.telegram_chat_id, "
            "username = excluded.username, first_name = excluded.first_name, "
            "last_name = excluded.last_name, last_active_at = excluded.last_active_at",
            (
                user.user_id,
                user.chat_id,
                user.username,
                user.first_name or "?",
                user.last_name,
                user.language_code or "id",
                now.isoformat(timespec="seconds"),
                now.isoformat(timespec="seconds"),
            ),
        )
    return known is None
