"""What each target holds (`offsite list`), proof its copies are whole (`offsite verify`)."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config.settings import Settings
from src.errors import BackupError, ConfigError, OffsiteCopyInvalid
from src.services import catalog
from src.services.naming import clean_stale, work_prefix
from src.services.offsite import crypto
from src.services.offsite.fetching import copies_on, fetch
from src.services.offsite.ledger import INVALID, VERIFIED, Ledger
from src.services.offsite.names import CopyName
from src.services.offsite.targets import Target, open_target

logger = logging.getLogger(__name__)


@dataclass
class RemoteCopy:
    """One of our copies on a target, with what this machine knows of it."""

    target: str
    name: str
    backup_type: str
    stamp: str
    size_bytes: int
    encrypted: bool
    state: str  # verified, pending, invalid, or unknown (not sent from here / history lost)
    verified_at: str | None
    location: str = ""  # beyond the name: a Telegram copy's message and file_id
    database_only: bool = False  # the archive's database-only variant


@dataclass
class TargetListing:
    """What one target holds, or why it could not be listed."""

    target: str
    where: str
    copies: list[RemoteCopy] = field(default_factory=list)
    error: str | None = None


@dataclass
class CopyCheck:
    """The result of downloading and checking one copy."""

    target: str
    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # what failed: the copy (OffsiteCopyInvalid, exit 5), or what kept it from being checked
    # (the target unreachable: OffsiteError, exit 10; a key: ConfigError, exit 3 ...)
    failure: type[BackupError] = OffsiteCopyInvalid

    @property
    def ok(self) -> bool:
        """Tell whether every check passed."""
        return not self.problems


def verify_failure(checks: list[CopyCheck]) -> BackupError | None:
    """Return the error `offsite verify` ends with (None: every copy passed).

    A copy that is wrong outweighs everything (exit 5); else the first reason a copy could
    not be checked decides: a target that cannot be reached or listed is exit 10, as for
    `offsite list` and `offsite sync`.
    """
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    message = f"{len(failed)} of {len(checks)} off-machine copies failed: " + ", ".join(
        f"{c.target}: {c.name}" for c in failed
    )
    damaged = [c for c in failed if issubclass(c.failure, OffsiteCopyInvalid)]
    return (damaged or failed)[0].failure(message)


def _targets(settings: Settings, only: str | None) -> list[Target]:
    chosen = [t for t in settings.offsite.targets if only in (None, t.name)]
    if only is not None and not chosen:
        have = ", ".join(t.name for t in settings.offsite.targets) or "none is set"
        raise ConfigError(f"No target named {only!r} in OFFSITE_TARGETS (targets: {have}).")
    if not chosen:
        raise ConfigError(
            "No off-machine target is set: set OFFSITE_TARGETS=NAME=DESTINATION (an rclone "
            "remote such as r2:pmo-backups/bot1, or a folder such as /mnt/usb/pmo)."
        )
    return [open_target(t, settings) for t in chosen]


def list_copies(settings: Settings, only: str | None = None) -> list[TargetListing]:
    """List our copies on every target (or one), newest first; a failing target says why."""
    ledger = Ledger(settings.history_path)
    listings = []
    for target in _targets(settings, only):
        listing = TargetListing(target.name, target.describe())
        try:
            copies = copies_on(target)
        except BackupError as error:
            listing.error = str(error)
            listings.append(listing)
            continue
        for copy in copies:
            record = ledger.record(target.name, copy.archive)
            known = record is not None and record.remote_name == copy.name
            listing.copies.append(
                RemoteCopy(
                    target.name,
                    copy.name,
                    copy.backup_type,
                    copy.stamp,
                    copy.size,
                    copy.encrypted,
                    record.state if known and record else "unknown",
                    record.verified_at if known and record else None,
                    copy.location,
                    copy.database_only,
                )
            )
        listings.append(listing)
    return listings


def verify_copies(
    settings: Settings, only: str | None = None, *, check_all: bool = False
) -> list[CopyCheck]:
    """Download copies (the newest of each type, or all), check their hash and contents.

    With AGE_IDENTITY_FILE each copy is decrypted and goes through every check `verify`
    makes of a local archive; without it only the encrypted bytes are checked.
    """
    checks = []
    identities = _identities(settings)
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "offsite-verify")
    for target in _targets(settings, only):
        try:
            copies = copies_on(target)
        except BackupError as error:
            checks.append(CopyCheck(target.name, "(listing)", [str(error)], failure=type(error)))
            continue
        checks += _missing(settings, target, copies)
        if not check_all:
            newest: dict[str, CopyName] = {}
            for copy in copies:
                newest.setdefault(copy.backup_type, copy)
            copies = list(newest.values())
        if not copies:
            checks.append(CopyCheck(target.name, "(none)", ["the target holds no copy"]))
        for copy in copies:
            checks.append(_check(settings, target, copy, identities))
    return checks


def _missing(settings: Settings, target: Target, copies: list[CopyName]) -> list[CopyCheck]:
    """Copies this machine verified there that the target no longer holds (sent again)."""
    ledger = Ledger(settings.history_path)
    present = {copy.name for copy in copies}
    missing = []
    for record in ledger.records(target.name, (VERIFIED,)):
        if record.remote_name and record.remote_name not in present:
            problem = "it was verified there, and is gone now (the next sync sends it again)"
            ledger.set_state(target.name, record.archive, INVALID, settings.now(), problem)
            missing.append(CopyCheck(target.name, record.remote_name, [problem]))
    return missing


def _identities(settings: Settings) -> list[Any] | None:
    if settings.offsite.identity_file is None:
        return None
    return crypto.identities_of(settings.offsite.identity_file)


def _check(
    settings: Settings, target: Target, copy: CopyName, identities: list[Any] | None
) -> CopyCheck:
    check = CopyCheck(target.name, copy.name)
    ledger = Ledger(settings.history_path)
    record = ledger.record(target.name, copy.archive)
    known = record if record is not None and record.remote_name == copy.name else None
    opening = identities if copy.encrypted else []
    damaged = False  # the copy itself is wrong (sent again); not a key or network problem
    with tempfile.TemporaryDirectory(
        dir=settings.recovery_dir, prefix=work_prefix("offsite-verify")
    ) as tmp:
        work = Path(tmp)
        try:
            if copy.encrypted and identities is None:
                digest = _hash_only(target, copy)
                check.notes.append("contents not checked: set AGE_IDENTITY_FILE to decrypt")
            else:
                path, digest = fetch(target, copy, work, opening, settings.min_free_mb * 2**20)
                report = catalog.verify_archive(path, work)
                check.problems += report.problems
                damaged = not report.ok
                if report.ok:
                    check.notes.append("decrypted; every check of `verify` passed")
        except OffsiteCopyInvalid as error:
            check.problems.append(str(error))
            digest, damaged = None, True
        except BackupError as error:  # a key, the network, our disk: the copy may be fine
            check.problems.append(str(error))
            check.failure = type(error)
            digest = None
        if digest is not None and known is not None and known.sha256:
            if digest.hashes["sha256"] != known.sha256:
                check.problems.append("its SHA-256 differs from the one recorded when it was sent")
                damaged = True
        elif digest is not None:
            check.notes.append("not sent from this machine's history: no recorded hash to compare")
    if damaged:
        check.failure = OffsiteCopyInvalid
    if known is not None and (check.ok or damaged):
        state = VERIFIED if check.ok else INVALID
        ledger.set_state(
            target.name, copy.archive, state, settings.now(), "; ".join(check.problems) or None
        )
    level = logging.INFO if check.ok else logging.ERROR
    logger.log(
        level, "offsite verify %s %s: %s", target.name, copy.name, "; ".join(check.problems) or "ok"
    )
    return check


def _hash_only(target: Target, copy: CopyName) -> crypto.Digest:
    digests: list[crypto.Digest] = []
    limit = copy.size if copy.size >= 0 else None
    target.download(
        copy.name, lambda s: digests.append(crypto.receive(s, None, None, copy.name, limit))
    )
    return digests[0]
