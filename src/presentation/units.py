"""How every door writes sizes, times and yes/no for people."""

from __future__ import annotations

from datetime import datetime, timedelta


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


def when(iso: str | None) -> str:
    """Format an ISO 8601 time as YYYY-MM-DD HH:MM:SS."""
    if not iso:
        return "never"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def yes_no(flag: bool) -> str:
    """Render a yes/no with a mark."""
    return "✅ Yes" if flag else "❌ No"


def age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"
