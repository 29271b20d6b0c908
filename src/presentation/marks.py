"""The one mark each verdict gets, in every door."""

from __future__ import annotations

MARKS = {"ok": "✅", "unverified": "⚠️", "degraded": "⚠️", "failed": "❌"}


def mark(state: str) -> str:
    """Return the mark of a result's state (ok, unverified, degraded, failed)."""
    return MARKS.get(state, "❓")
