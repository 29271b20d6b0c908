"""Render off-machine results: copies after a backup, the OFFSITE status, list and verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from src.presentation.units import size
from src.services.offsite.checking import CopyCheck, TargetListing
from src.services.offsite.report import OffsiteStatus
from src.services.offsite.variant import DATABASE_ONLY


def status_json(status: OffsiteStatus | None) -> dict[str, Any] | None:
    """The OFFSITE section for --json."""
    if status is None:
        return None
    return {
        "not_copied": status.not_copied,
        "identity_set": status.identity_set,
        "stale_hours": status.stale_hours,
        "targets": [
            {
                "name": t.name,
                "where": t.where,
                "encrypted": t.encrypted,
                "last_verified_copy": t.last_verified.remote_name if t.last_verified else None,
                "last_verified_database_only": (
                    t.last_verified.database_only if t.last_verified else None
                ),
                "last_verified_at": t.last_verified.verified_at if t.last_verified else None,
                "last_verified_age_hours": _hours(t.last_verified_age),
                "last_verified_made_age_hours": _hours(t.last_made_age),
                "stale": t.stale is not None,
                "copies": t.copies,
                "bytes": t.bytes_held,
                "pending": t.pending,
                "last_error": t.last_error,
                "last_error_at": t.last_error_at,
            }
            for t in status.targets
        ],
    }


def _hours(age: timedelta | None) -> float | None:
    """Hours, rounded (None stays None; an age of exactly 0 is 0.0)."""
    return None if age is None else round(age.total_seconds() / 3600, 2)


def listing_text(listings: list[TargetListing]) -> str:
    """What each target holds, newest first."""
    lines = []
    for listing in listings:
        lines.append(f"🌍 {listing.target} ({listing.where})")
        if listing.error:
            lines.append(f"  ❌ {listing.error}")
            continue
        if not listing.copies:
            lines.append("  No copies yet.")
        for copy in listing.copies:
            mark = {"verified": "✅", "invalid": "❌"}.get(copy.state, "⚠️")
            notes = [DATABASE_ONLY] if copy.database_only else []
            notes += [copy.location] if copy.location else []
            lines.append(
                f"  {mark} {copy.backup_type:<9} {copy.stamp}  {size(copy.size_bytes):>10}  "
                f"{copy.state:<8} {copy.name}" + (f"  ({', '.join(notes)})" if notes else "")
            )
    lines += ["", "✅ verified here  ⚠️ pending or unknown here  ❌ failed a check"]
    return "\n".join(lines)


def listing_json(listings: list[TargetListing]) -> list[dict[str, Any]]:
    """What each target holds, for --json."""
    return [
        {
            "target": listing.target,
            "where": listing.where,
            "error": listing.error,
            "copies": [
                {
                    "name": c.name,
                    "type": c.backup_type,
                    "stamp": c.stamp,
                    "size_bytes": c.size_bytes,
                    "encrypted": c.encrypted,
                    "state": c.state,
                    "verified": c.state == "verified",
                    "verified_at": c.verified_at,
                    "location": c.location or None,
                    "database_only": c.database_only,
                }
                for c in listing.copies
            ],
        }
        for listing in listings
    ]


def check_text(check: CopyCheck) -> str:
    """One copy's verification."""
    head = f"{'✅' if check.ok else '❌'} {check.target}: {check.name}"
    return "\n".join(
        [head, *(f"  ❌ {p}" for p in check.problems), *(f"  💡 {n}" for n in check.notes)]
    )
