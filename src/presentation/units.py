"""How every door writes sizes, times and yes/no for people."""

from __future__ import annotations

from datetime import datetime, timedelta

from src.presentation.words import ENGLISH, word


def size(num: int | None) -> str:
    """Format a byte count for people."""
    if num is None:
        return "?"
    value = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.2f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.2f} TB"


def when(iso: str | None, language: str = ENGLISH) -> str:
    """Format an ISO 8601 time as YYYY-MM-DD HH:MM:SS ("never" in `language` when none)."""
    if not iso:
        return word("never", language)
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def yes_no(flag: bool, language: str = ENGLISH) -> str:
    """Render a yes/no with a mark."""
    return word("yes" if flag else "no", language)


def age(age: timedelta | None, language: str = ENGLISH) -> str:
    """How long ago, in hours (days from 48 h on)."""
    if age is None:
        return word("never", language)
    hours = age.total_seconds() / 3600
    if hours < 48:
        return word("hours_ago", language, hours=f"{hours:.1f}")
    return word("days_ago", language, days=f"{hours / 24:.1f}")
