"""The off-machine parts of what every door says: a round of copies, the OFFSITE section
(English by default; `language` "id" for the bot's Indonesian admins)."""

from __future__ import annotations

from src.presentation.units import age, size, when
from src.presentation.words import ENGLISH, word
from src.services.offsite.copying import OffsiteRun
from src.services.offsite.report import OffsiteStatus


def run_lines(run: OffsiteRun, language: str = ENGLISH) -> list[str]:
    """Say what one round of copying did (nothing when no target is set).

    The reasons and details are the service core's words (English).
    """
    lines = []
    if run.not_copied:
        mark = "⏳" if run.not_copied.startswith("queued") else "⚠️"
        lines.append(word("run_not_copied", language, mark=mark, why=run.not_copied))
    for outcome in run.outcomes:
        if outcome.ok:
            lines.append(
                word(
                    "run_copied",
                    language,
                    target=outcome.target,
                    archive=outcome.archive,
                    detail=outcome.detail,
                )
            )
        else:
            retry = (
                word("run_retry", language, at=f"{outcome.retry_at:%Y-%m-%d %H:%M}")
                if outcome.retry_at
                else ""
            )
            lines.append(
                word(
                    "run_pending",
                    language,
                    target=outcome.target,
                    archive=outcome.archive,
                    retry=retry,
                    detail=outcome.detail,
                )
            )
    lines += [word("run_deleted", language, name=name) for name in run.deleted]
    return lines


def status_lines(status: OffsiteStatus | None, language: str = ENGLISH) -> list[str]:
    """The OFFSITE section of the status."""
    lang = language

    def w(key: str, **values: object) -> str:
        return word(key, lang, **values)

    if status is None:
        return [w("offsite"), w("offsite_none")]
    lines = [w("offsite")]
    if status.not_copied:
        lines.append(f"  ⚠️ {status.not_copied}")
    for target in status.targets:
        newest = target.last_verified
        mark = "⚠️" if target.stale or target.pending or target.last_error else "✅"
        how = w("encrypted") if target.encrypted else w("not_encrypted")
        made = (
            w("made_age", age=age(target.last_made_age, lang))
            if target.last_made_age is not None
            else ""
        )
        lines += [
            f"  {mark} {target.name} ({target.where}), "
            f"{w('nothing_copied') if status.not_copied else how}",
            w("newest_verified", archive=newest.archive if newest else w("none"))
            + (
                w("verified_age", made=made, age=age(target.last_verified_age, lang))
                if newest
                else ""
            )
            + (w("database_only") if newest and newest.database_only else ""),
            w(
                "copies_held",
                count=target.copies,
                size=size(target.bytes_held),
                pending=target.pending,
            ),
        ]
        if target.stale:
            lines.append(f"    {stale_words(target.stale, status.stale_hours, lang)}")
        if target.last_error:
            lines.append(
                w("last_error_at", at=when(target.last_error_at, lang), error=target.last_error)
            )
    if not status.identity_set:
        lines.append(w("no_identity"))
    return lines


def stale_words(newest_daily: str, stale_hours: int, language: str = ENGLISH) -> str:
    """Say why a target is stale (`newest_daily`: its newest verified daily copy, or "none")."""
    if newest_daily == "none":
        return word("stale_none", language)
    return word("stale_hours", language, hours=stale_hours)
