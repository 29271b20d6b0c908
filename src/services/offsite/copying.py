"""Send verified archives to every target, verify each copy there, then prune the target.

A copy counts once the target reports the size and a hash of what it stored (SHA-256,
SHA-1 or MD5, whichever it offers) equal to the hash of the bytes we sent; where it
offers none, the copy is downloaded and hashed. A failure leaves the copy pending with a
retry time; the local backup is never touched by any of this.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from src.config.settings import BACKUP_TYPES, OffsiteSettings, Settings
from src.errors import BackupError, LockBusy, OffsiteCopyInvalid, OffsiteError, OffsiteTooLarge
from src.services import catalog, progress
from src.services.history import History
from src.services.locking import exclusive_lock
from src.services.offsite import crypto, variant
from src.services.offsite.ledger import (
    DROPPED,
    INVALID,
    TO_SEND,
    VERIFIED,
    CopyRecord,
    Ledger,
)
from src.services.offsite.names import is_leftover, parse, remote_name
from src.services.offsite.targets import HASH_PREFERENCE, Target, open_target
from src.services.retention import select_expired

logger = logging.getLogger(__name__)

# after a backup its own copy always goes; older pending copies are started (newest first)
# only within this many seconds of the round's start, so a backup is never held for hours
CATCH_UP_SECONDS = 300.0


@dataclass
class CopyOutcome:
    """One archive sent (or not) to one target."""

    target: str
    archive: str
    ok: bool
    detail: str
    retry_at: datetime | None = None
    busy: bool = False  # another process was copying: it stays pending, nothing failed


@dataclass
class OffsiteRun:
    """What one round of copying did; `not_copied` says why nothing was sent at all."""

    outcomes: list[CopyOutcome] = field(default_factory=list)
    not_copied: str | None = None
    deleted: list[str] = field(default_factory=list)  # "target: name"

    @property
    def ok(self) -> bool:
        """Tell whether everything that was to be copied is verified off the machine."""
        return self.not_copied is None and all(o.ok for o in self.outcomes)


def why_not_copied(offsite: OffsiteSettings) -> str | None:
    """Say why nothing leaves the machine although targets are set (None: copies are made)."""
    if not offsite.targets:
        return "no off-machine target is set (OFFSITE_TARGETS)"
    if offsite.enabled:
        return None
    return (
        "not copied off the machine: OFFSITE_ENCRYPT_TO has no public key. Make one with "
        "`age-keygen -o key.txt` (keep key.txt safe, away from this server) and set "
        "OFFSITE_ENCRYPT_TO to the age1... key it prints; or set OFFSITE_PLAINTEXT=true "
        "only for a target that is already encrypted"
    )


def after_backup(
    settings: Settings, archive: Path, backup_type: str, *, send: bool = True
) -> OffsiteRun:
    """Copy a new verified archive to every target; never raises for a target's failure.

    Args:
        send: copy now; else only queue it (pending, due at once) for the next round.
    """
    try:
        return _after_backup(settings, archive, backup_type, send)
    except Exception as error:  # the backup itself succeeded: say why no copy, never fail it
        logger.exception("off-machine copy of %s could not be started", archive.name)
        return OffsiteRun(not_copied=f"the copy could not be started: {error}")


def _after_backup(settings: Settings, archive: Path, backup_type: str, send: bool) -> OffsiteRun:
    offsite = settings.offsite
    if not offsite.targets or backup_type not in offsite.types:
        return OffsiteRun()
    reason = why_not_copied(offsite)
    if reason:
        logger.warning("%s: %s", archive.name, reason)
        return OffsiteRun(not_copied=reason)
    info = next((b for b in catalog.list_backups(settings, backup_type) if b.path == archive), None)
    if info is None:
        return OffsiteRun(not_copied=f"{archive.name} is no longer in {archive.parent}")
    ledger = Ledger(settings.history_path)
    for target in offsite.targets:
        ledger.queue(
            target.name, archive, backup_type, info.created_at_key, info.degraded, settings.now()
        )
    if not send:
        return OffsiteRun(not_copied="queued: the scheduler or `offsite sync` copies it")
    # the new copy first, then what earlier rounds left pending (its retry time come or not)
    return send_pending(settings, first={archive.name}, catch_up_seconds=CATCH_UP_SECONDS, wait=5.0)


def sync(
    settings: Settings,
    target: str | None = None,
    *,
    due_only: bool = False,
    now: datetime | None = None,
) -> OffsiteRun:
    """Queue what a target lacks (the newest archives retention keeps there), send all pending.

    Args:
        target: one target's name, or every target.
        due_only: send only copies whose retry time has come (the scheduler's beat).
        now: the time retry times are compared with (the scheduler's clock).
    """
    reason = why_not_copied(settings.offsite)
    if reason:
        return OffsiteRun(not_copied=reason)
    ledger = Ledger(settings.history_path)
    now = now or settings.now()
    names = [t.name for t in settings.offsite.targets if target in (None, t.name)]
    checked = OffsiteRun()
    leftovers: dict[str, list[str]] = {}
    if not due_only:
        for name in names:
            found = _still_there(settings, name, ledger, checked, now)
            if found is not None:
                leftovers[name] = found
        names = list(leftovers)
        for kind in sorted(settings.offsite.types):
            keep = settings.offsite.retention[kind]
            newest = [b for b in catalog.list_backups(settings, kind) if b.verified][:keep]
            for backup in newest:
                for name in names:
                    ledger.queue(
                        name, backup.path, kind, backup.created_at_key, backup.degraded, now
                    )
    run = send_pending(
        settings,
        targets=set(names),
        due_only=due_only,
        wait=settings.lock_timeout,
        now=now,
        leftovers=leftovers,
    )
    run.outcomes[:0] = checked.outcomes
    return run


def _still_there(
    settings: Settings, name: str, ledger: Ledger, run: OffsiteRun, now: datetime
) -> list[str] | None:
    """List a target: a copy recorded as verified that is gone is sent again. Return the
    partial files uploads left there (deleted under the lock); None (with a failed outcome)
    when the target cannot be listed: it is not tried further this round."""
    configured = settings.offsite.target(name)
    assert configured is not None
    target = open_target(configured, settings)
    try:
        present = {item.name for item in target.list()}
    except BackupError as error:
        ledger.target_failed(name, str(error), now)
        run.outcomes.append(CopyOutcome(name, "(listing)", False, str(error)))
        return None
    for record in ledger.records(name, (VERIFIED,)):
        if record.remote_name not in present:
            note = f"{record.remote_name} is no longer on the target: it is sent again"
            logger.warning("offsite %s: %s", name, note)
            ledger.set_state(name, record.archive, INVALID, now, note)
    return sorted(item for item in present if is_leftover(item))


def pending_due(settings: Settings, now: datetime) -> bool:
    """Tell whether a pending copy's retry time has come (cheap: the ledger only)."""
    if not settings.offsite.enabled:
        return False
    return any(
        r.next_try is None or datetime.fromisoformat(r.next_try) <= now
        for r in Ledger(settings.history_path).records(states=TO_SEND)
    )


def send_pending(
    settings: Settings,
    *,
    only: set[str] | None = None,
    targets: set[str] | None = None,
    due_only: bool = False,
    wait: float = 5.0,
    now: datetime | None = None,
    leftovers: dict[str, list[str]] | None = None,
    first: set[str] | None = None,
    catch_up_seconds: float | None = None,
) -> OffsiteRun:
    """Send the pending copies (newest first), one process at a time, then prune targets.

    Args:
        only: send only these archives.
        first: send these archives first, whatever the time budget.
        catch_up_seconds: start no other copy once this long has passed since the start.
        leftovers: per target, partial files a listing found; deleted first (under the lock
            no upload of ours is writing them).
    """
    run = OffsiteRun()
    budget = _Budget(first or set(), catch_up_seconds)
    try:
        with exclusive_lock(settings.backup_dir / ".offsite.lock", "off-machine copy", wait):
            for target in settings.offsite.targets:
                if targets is None or target.name in targets:
                    opened = open_target(target, settings)
                    _clean(opened, (leftovers or {}).get(target.name, []))
                    _send_to(settings, opened, run, only, due_only, now or settings.now(), budget)
    except LockBusy as busy:
        for target in settings.offsite.targets:
            run.outcomes.append(
                CopyOutcome(
                    target.name,
                    ", ".join(sorted(only or first or ())) or "all",
                    False,
                    f"pending: {busy}",
                    busy=True,
                )
            )
    return run


class _Budget:
    """The time a round may take: the `first` archives always go, the rest only in time."""

    def __init__(self, first: set[str], seconds: float | None) -> None:
        self.first = first
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def allows(self, archive: str) -> bool:
        """Tell whether the copy of `archive` may be started now."""
        return archive in self.first or self._end is None or time.monotonic() < self._end


def _clean(target: Target, leftovers: list[str]) -> None:
    """Delete the partial files killed or failed uploads left on a target (ours by name)."""
    for name in leftovers:
        if not is_leftover(name):
            continue
        try:
            target.delete(name)
            logger.info(
                "offsite %s: deleted %s, left by an upload that never ended", target.name, name
            )
        except OffsiteError as error:
            logger.warning(
                "offsite %s: cannot delete the leftover %s: %s", target.name, name, error
            )


def _send_to(
    settings: Settings,
    target: Target,
    run: OffsiteRun,
    only: set[str] | None,
    due_only: bool,
    now: datetime,
    budget: _Budget,
) -> None:
    ledger = Ledger(settings.history_path)
    records = [
        r
        for r in reversed(ledger.records(target.name, TO_SEND))
        if (only is None or r.archive in only)
        and not (due_only and r.next_try and datetime.fromisoformat(r.next_try) > now)
    ]
    records.sort(key=lambda r: r.archive not in budget.first)  # stable: newest first after
    recipients = crypto.recipients_of(settings.offsite.recipients)
    sent = False
    for record in records:
        if not budget.allows(record.archive):
            logger.info(
                "offsite %s: %s stays pending: the round's %.0f s are used up",
                target.name,
                record.archive,
                budget.seconds,
            )
            continue
        outcome = _send_one(settings, target, record, recipients, ledger, now)
        run.outcomes.append(outcome)
        sent = sent or outcome.detail.startswith("verified")
        if not outcome.ok and outcome.retry_at is not None and _unreachable(outcome.detail):
            _postpone_rest(ledger, target.name, records, record, outcome.detail, run, now)
            break
    for record in _whole_fits_now(target, ledger, recipients, only):
        if not budget.allows(record.archive):
            break
        outcome = _send_whole(settings, target, record, recipients, ledger)
        run.outcomes.append(outcome)
        sent = sent or outcome.detail.startswith("verified")
    if sent:
        run.deleted += _prune(settings, target, ledger)


# a bound on an age header: its first and last lines, and one stanza per recipient (an
# X25519 one takes about 100 bytes, an ssh-rsa one up to about 700)
_AGE_HEADER = 128
_AGE_STANZA = 1024


def _whole_fits_now(
    target: Target, ledger: Ledger, recipients: list[Any], only: set[str] | None
) -> list[CopyRecord]:
    """The archives the target took only as their database-only variant, or not at all for
    their size, whose whole archive it takes now (BOT_UPLOAD_LIMIT_MB raised since, say):
    newest first, to be sent whole.

    Unlike a first copy (`_copy` tries the whole archive and falls back to the variant),
    only an archive sure to fit counts, so a round never sends one in vain again and again.
    """
    limit: int | None = getattr(target, "limit", None)
    found = []
    for record in reversed(ledger.records(target.name, (VERIFIED, DROPPED))):
        path = Path(record.archive_path)
        if record.state == VERIFIED and not record.database_only:
            continue
        if only is not None and record.archive not in only:
            continue
        if not path.is_file():
            continue
        size = path.stat().st_size
        if recipients:
            size = crypto.age_size(_AGE_HEADER + _AGE_STANZA * len(recipients), size)
        if limit is None or size <= limit:
            found.append(record)
    return found


def _send_whole(
    settings: Settings,
    target: Target,
    record: CopyRecord,
    recipients: list[Any],
    ledger: Ledger,
) -> CopyOutcome:
    """Send the whole archive where its database-only variant went (or nothing, for its
    size). Once the whole copy is verified, the variant's copy is deleted; until then the
    variant stays the copy."""
    variant_name = record.remote_name if record.state == VERIFIED else None
    before = "still database only" if variant_name else "still not sent"
    try:
        detail = _upload(settings, target, record, Path(record.archive_path), recipients, ledger)
    except Exception as error:  # a bug too: the variant's verified copy stays, and is logged
        if not isinstance(error, BackupError):
            logger.exception("whole copy of %s to %s failed", record.archive, target.name)
        logger.warning(
            "offsite %s: %s: %s; the whole archive could not be sent: %s",
            target.name,
            record.archive,
            before,
            error,
        )
        return CopyOutcome(  # not ok when the target holds no copy of it at all
            target.name,
            record.archive,
            variant_name is not None,
            f"{before} (the whole archive could not be sent: {error})",
        )
    if variant_name:
        try:
            target.delete(variant_name)
        except OffsiteError as error:
            logger.warning(
                "offsite %s: the database-only copy %s stays on the target: %s",
                target.name,
                variant_name,
                error,
            )
    now_whole = "in place of its database-only copy" if variant_name else "now that it fits"
    logger.info("offsite %s: %s sent whole, %s", target.name, record.archive, now_whole)
    return CopyOutcome(target.name, record.archive, True, f"{detail}; whole, {now_whole}")


def _send_one(
    settings: Settings,
    target: Target,
    record: CopyRecord,
    recipients: list[Any],
    ledger: Ledger,
    now: datetime,
) -> CopyOutcome:
    archive = Path(record.archive_path)
    if not archive.is_file():
        ledger.set_state(
            target.name,
            record.archive,
            DROPPED,
            settings.now(),
            "the local archive was deleted before it could be copied",
        )
        return CopyOutcome(target.name, record.archive, True, "dropped: the local archive is gone")
    try:
        detail = _copy(settings, target, record, archive, recipients, ledger)
    except OffsiteTooLarge as error:  # never fits: not tried again, and status says why
        ledger.set_state(target.name, record.archive, DROPPED, now, str(error))
        ledger.target_failed(target.name, str(error), now)
        logger.warning("offsite %s: %s", target.name, error)
        return CopyOutcome(target.name, record.archive, False, f"not sent: {error}")
    except BackupError as error:
        return _failure(ledger, target, record, str(error), now)
    except Exception as error:  # a bug must not stop the other targets, and is logged in full
        logger.exception("copy of %s to %s failed", record.archive, target.name)
        return _failure(ledger, target, record, f"unexpected error: {error!r}", now)
    logger.info("offsite %s: %s %s", target.name, record.archive, detail)
    return CopyOutcome(target.name, record.archive, True, detail)


def _failure(
    ledger: Ledger, target: Target, record: CopyRecord, error: str, now: datetime
) -> CopyOutcome:
    retry_at = ledger.failed(target.name, record.archive, error, now)
    logger.error(
        "offsite %s: %s stays pending (retry at %s): %s",
        target.name,
        record.archive,
        f"{retry_at:%Y-%m-%d %H:%M}",
        error,
    )
    return CopyOutcome(target.name, record.archive, False, error, retry_at)


def _copy(
    settings: Settings,
    target: Target,
    record: CopyRecord,
    archive: Path,
    recipients: list[Any],
    ledger: Ledger,
) -> str:
    """Upload, then prove the copy: the size and a hash the target reports, or a download.

    A cut upload never becomes a copy: on S3-like stores rclone is told the exact size up
    front (`rcat --size`) and stores nothing when fewer bytes come, even from a killed
    process; a folder, and an rclone remote that can hold a cut file (SFTP, FTP, ...),
    are written under a hidden partial name, proven there, and renamed only then.

    A target with a size limit (a Telegram chat) that cannot take the whole archive gets
    its database-only variant instead, when that fits.
    """
    limit: int | None = getattr(target, "limit", None)
    if limit is None or archive.stat().st_size <= limit:
        try:
            return _upload(settings, target, record, archive, recipients, ledger)
        except OffsiteTooLarge:  # the encryption's few bytes more did not fit
            if limit is None:
                raise
    return _copy_database_only(settings, target, record, archive, recipients, ledger, limit)


def _copy_database_only(
    settings: Settings,
    target: Target,
    record: CopyRecord,
    archive: Path,
    recipients: list[Any],
    ledger: Ledger,
    limit: int,
) -> str:
    """Send the archive's database-only variant, built and verified in a work folder."""
    mb = 1024 * 1024
    too_large = (
        f"{archive.name} ({archive.stat().st_size // mb} MB) is larger than "
        f"BOT_UPLOAD_LIMIT_MB ({limit // mb} MB; 20 MB at most with Telegram's own servers, "
        "which let a bot download no more to verify it)"
    )
    with variant.database_only(settings, archive) as smaller:
        if smaller.stat().st_size > limit:
            raise OffsiteTooLarge(
                f"{too_large}, and so is its database-only variant "
                f"({smaller.stat().st_size // mb} MB): not sent to {target.describe()}"
            )
        try:
            detail = _upload(
                settings, target, record, smaller, recipients, ledger, database_only=True
            )
        except OffsiteTooLarge:
            raise OffsiteTooLarge(
                f"{too_large}, and so is its encrypted database-only variant: not sent to "
                f"{target.describe()}"
            ) from None
    logger.warning("offsite %s: %s: sent its database-only variant", target.name, too_large)
    return f"{detail}; {variant.DATABASE_ONLY}: {too_large}"


def _upload(
    settings: Settings,
    target: Target,
    record: CopyRecord,
    archive: Path,
    recipients: list[Any],
    ledger: Ledger,
    *,
    database_only: bool = False,
) -> str:
    """Send `archive` (the record's archive or its database-only variant) and record it."""
    kinds = target.hash_types()
    name = remote_name(record.archive, encrypted=bool(recipients), database_only=database_only)
    digests: list[crypto.Digest] = []
    proofs: list[tuple[str, str, str]] = []
    progress.phase(f"copying {archive.name} to {target.name}", archive.stat().st_size)
    target.upload(
        name,
        lambda out: digests.append(crypto.send(archive, out, recipients, kinds)),
        lambda stored: proofs.append(_proof(target, stored, digests[0])),
    )
    sent = digests[0]
    kind, theirs, how = proofs[0]
    ledger.verified_copy(
        target.name,
        record.archive,
        name,
        bool(recipients),
        sent.size,
        kind,
        theirs,
        sent.hashes["sha256"],
        settings.now(),
    )
    return f"verified ({how}, {sent.size} bytes{', encrypted' if recipients else ', PLAIN'})"


def _proof(target: Target, name: str, sent: crypto.Digest) -> tuple[str, str, str]:
    """Compare what the target holds under `name` with what was sent: (kind, hash, how)."""
    found = target.stat(name)
    if found is None:
        raise OffsiteError(f"target {target.name}: the upload ended but {name} is not there")
    if found.size != sent.size:
        raise OffsiteCopyInvalid(
            f"target {target.name}: {name} holds {found.size} bytes, {sent.size} were sent"
        )
    kind = next((k for k in HASH_PREFERENCE if k in found.hashes and k in sent.hashes), None)
    if kind is not None:
        theirs, how = found.hashes[kind].lower(), kind
    else:  # the target reports no hash of what it stored: read it back
        got: list[crypto.Digest] = []
        target.download(
            name, lambda stream: got.append(crypto.receive(stream, None, None, name, sent.size))
        )
        kind, theirs, how = "sha256", got[0].hashes["sha256"], "sha256 of a download"
    if theirs != sent.hashes[kind]:
        raise OffsiteCopyInvalid(
            f"target {target.name}: {name} differs from what was sent ({kind} mismatch)"
        )
    return kind, theirs, how


def _unreachable(detail: str) -> bool:
    """Tell whether a failure is the target's as a whole (no use trying its other copies)."""
    words = detail.lower()
    return any(
        part in words
        for part in (
            "cannot be reached",
            "credentials were refused",
            "no remote of that name",
            "not installed",
            "folder does not exist",
            "is full",
            "failed to store it",
        )
    )


def _postpone_rest(
    ledger: Ledger,
    target: str,
    records: list[CopyRecord],
    failed: CopyRecord,
    detail: str,
    run: OffsiteRun,
    now: datetime,
) -> None:
    """The target is down: count the other pending copies as failed too, without trying."""
    later = records[records.index(failed) + 1 :]
    for record in later:
        retry_at = ledger.failed(target, record.archive, detail, now)
        run.outcomes.append(CopyOutcome(target, record.archive, False, detail, retry_at))


def _prune(settings: Settings, target: Target, ledger: Ledger) -> list[str]:
    """Delete the copies beyond OFFSITE_RETENTION_<TYPE> (verified ones only, ours only).

    The copy of an archive kept with `backup keep` is never deleted and takes no place of
    the count, as locally (also once the local archive is gone: then it may be the last).
    """
    kept = History(settings.history_path).kept_names()
    if kept is None:  # the marks cannot be read: delete nothing rather than guess
        logger.warning("offsite %s: retention skipped, the kept marks cannot be read", target.name)
        return []
    deleted = []
    verified = [r for r in ledger.records(target.name, (VERIFIED,)) if r.archive not in kept]
    for kind in BACKUP_TYPES:
        keep = settings.offsite.retention[kind]
        for record in select_expired([r for r in verified if r.backup_type == kind], keep):
            name = record.remote_name or ""
            if parse(name) is None:  # never delete a file that is not one of our copies
                continue
            try:
                target.delete(name)
            except OffsiteError as error:
                logger.error(  # noqa: TRY400 - the message says it all
                    "offsite %s: retention cannot delete %s: %s",
                    target.name,
                    name,
                    error,
                )
                continue
            ledger.set_state(target.name, record.archive, "deleted", settings.now())
            logger.info("offsite %s: retention deleted %s", target.name, name)
            deleted.append(f"{target.name}: {name}")
    return deleted
