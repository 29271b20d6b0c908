"""The off-machine parts of what every door says: a round of copies, the OFFSITE section."""

from __future__ import annotations

from src.presentation.units import age, size, when
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.report import OffsiteStatus
from src.services.offsite.variant import DATABASE_ONLY


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
    """The OFFSITE section of the status."""
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
        mark = "⚠️" if target.stale or target.pending or target.last_error else "✅"
        how = "encrypted (age)" if target.encrypted else "NOT encrypted"
        made = f"made {age(target.last_made_age)}, " if target.last_made_age is not None else ""
        lines += [
            f"  {mark} {target.name} ({target.where}), "
            f"{'nothing is copied' if status.not_copied else how}",
            f"    Newest verified copy: {newest.archive if newest else 'none'}"
            + (f" ({made}verified {age(target.last_verified_age)})" if newest else "")
            + (f", {DATABASE_ONLY}" if newest and newest.database_only else ""),
            f"    Copies held: {target.copies}, {size(target.bytes_held)}; "
            f"pending: {target.pending}",
        ]
        if target.stale:
            lines.append(f"    {stale_words(target.stale, status.stale_hours)}")
        if target.last_error:
            lines.append(f"    Last error ({when(target.last_error_at)}): {target.last_error}")
    if not status.identity_set:
        lines.append(
            "  💡 AGE_IDENTITY_FILE is not set here (fine on a server): drills and "
            "`offsite verify` then check only the encrypted bytes"
        )
    return lines


def stale_words(newest_daily: str, stale_hours: int) -> str:
    """Say why a target is stale (`newest_daily`: its newest verified daily copy, or "none")."""
    if newest_daily == "none":
        return "No verified daily copy there yet"
    return f"No daily backup made in the last {stale_hours} h is verified there"
