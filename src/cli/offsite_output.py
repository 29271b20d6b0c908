"""Render off-machine results: copies after a backup, the OFFSITE status, list and verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from src.services.offsite.checking import CopyCheck, TargetListing
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.report import OffsiteStatus


def _size(num: int | None) -> str:
    from src.cli.output import size

    return size(num)


def _when(iso: str | None) -> str:
    from src.cli.output import when

    return when(iso)


def _age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def run_lines(run: OffsiteRun) -> list[str]:
    """Say what one round of copying did (nothing when no target is set)."""
    lines = []
    if run.not_copied:
        mark = "⏳" if run.not_copied.startswith("queued") else "⚠️"
        lines.append(f"  {mark} Off-machine: {run.not_copied}")
    for outcome in run.outcomes:
        if outcome.ok:
            lines.append(f"  ✅ Off-machine {outcome.target}: {outcome.archive} {outcome.detail}")
        else:
            retry = f" (retry at {outcome.retry_at:%Y-%m-%d %H:%M})" if outcome.retry_at else ""
            lines.append(
                f"  ⚠️ Off-machine {outcome.target}: {outcome.archive} stays PENDING{retry}: "
                f"{outcome.detail}"
            )
    lines += [f"  Off-machine retention removed {name}" for name in run.deleted]
    return lines


def status_lines(status: OffsiteStatus | None) -> list[str]:
    """The OFFSITE section of `status`."""
    if status is None:
        return [
            "🌍 OFFSITE:",
            "  ⚠️ No off-machine copy: every backup is on this server only. "
            "Set OFFSITE_TARGETS and OFFSITE_ENCRYPT_TO (README: Off-machine copies).",
        ]
    lines = ["🌍 OFFSITE:"]
    if status.not_copied:
        lines.append(f"  ⚠️ {status.not_copied}")
    for target in status.targets:
        newest = target.last_verified
        stale = target.last_verified_age is None or target.last_verified_age > timedelta(
            hours=status.stale_hours
        )
        mark = "⚠️" if stale or target.pending or target.last_error else "✅"
        how = "encrypted (age)" if target.encrypted else "NOT encrypted"
        lines += [
            f"  {mark} {target.name} ({target.where}), "
            f"{'nothing is copied' if status.not_copied else how}",
            f"    Newest verified copy: {newest.archive if newest else 'none'} "
            f"(made {_age(target.last_verified_age)})",
            f"    Copies held: {target.copies}, {_size(target.bytes_held)}; "
            f"pending: {target.pending}",
        ]
        if target.last_error:
            lines.append(f"    Last error ({_when(target.last_error_at)}): {target.last_error}")
    if not status.identity_set:
        lines.append(
            "  💡 AGE_IDENTITY_FILE is not set here (fine on a server): drills and "
            "`offsite verify` then check only the encrypted bytes"
        )
    return lines


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
                "last_verified_at": t.last_verified.verified_at if t.last_verified else None,
                "last_verified_age_hours": (
                    round(t.last_verified_age.total_seconds() / 3600, 2)
                    if t.last_verified_age
                    else None
                ),
                "copies": t.copies,
                "bytes": t.bytes_held,
                "pending": t.pending,
                "last_error": t.last_error,
                "last_error_at": t.last_error_at,
            }
            for t in status.targets
        ],
    }


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
            lines.append(
                f"  {mark} {copy.backup_type:<9} {copy.stamp}  {_size(copy.size_bytes):>10}  "
                f"{copy.state:<8} {copy.name}"
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
