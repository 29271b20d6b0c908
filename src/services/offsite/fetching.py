"""Bring copies back from a target: listed newest first, downloaded and decrypted locally."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from src.config.settings import Settings
from src.errors import (
    BackupError,
    ConfigError,
    InsufficientSpace,
    OffsiteCopyInvalid,
    RestoreAborted,
)
from src.services import catalog, progress
from src.services.archive import read_metadata
from src.services.offsite import crypto
from src.services.offsite.ledger import Ledger
from src.services.offsite.names import AGE_SUFFIX, CopyName, parse
from src.services.offsite.targets import Target, open_target

logger = logging.getLogger(__name__)


def target_named(settings: Settings, name: str) -> Target:
    """Return the configured target `name`.

    Raises:
        ConfigError: no target of that name is set.
    """
    found = settings.offsite.target(name)
    if found is None:
        have = ", ".join(t.name for t in settings.offsite.targets) or "none is set"
        raise ConfigError(
            f"No off-machine target named {name!r} in OFFSITE_TARGETS (targets: {have}). "
            "Set OFFSITE_TARGETS=NAME=DESTINATION, e.g. cloud=r2:pmo-backups/bot1."
        )
    return open_target(found, settings)


def copies_on(target: Target) -> list[CopyName]:
    """Return our copies on a target, newest first (other files there are left out)."""
    found = []
    for item in target.list():
        copy = parse(item.name)
        if copy is not None:
            found.append(replace(copy, size=item.size, location=item.location))
    return sorted(found, key=lambda c: c.sort_key, reverse=True)


def fetch(
    target: Target,
    copy: CopyName,
    folder: Path,
    identities: list[Any] | None,
    reserve_bytes: int = 0,
) -> tuple[Path, crypto.Digest]:
    """Download one copy into `folder` as its archive (decrypted); return it and its digest.

    No more than the size the target listed is read, and only when the folder has room
    for it beside `reserve_bytes` (a hostile or broken target cannot fill the disk).

    Raises:
        ConfigError: the copy is encrypted and no (or the wrong) identity is given.
        OffsiteCopyInvalid: the copy does not decrypt, or is longer than listed.
        InsufficientSpace: the folder has no room for it.
        OffsiteError: the target failed.
    """
    if copy.encrypted and identities is None:
        raise ConfigError(
            f"{copy.name} is encrypted: set AGE_IDENTITY_FILE to the private key to open it"
        )
    limit = copy.size if copy.size >= 0 else None
    if limit is not None and shutil.disk_usage(folder).free - reserve_bytes < limit:
        raise InsufficientSpace(
            f"{folder} has no room for {copy.name} ({limit // 2**20 + 1} MB): free space "
            "there, or point RECOVERY_DIR at a larger disk"
        )
    path = folder / copy.file
    digests: list[crypto.Digest] = []
    progress.phase(f"fetching {copy.name} from {target.name}", max(copy.size, 0))
    try:
        with path.open("wb") as out:
            target.download(
                copy.name,
                lambda stream: digests.append(
                    crypto.receive(
                        stream, out, identities if copy.encrypted else None, copy.name, limit
                    )
                ),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digests[0]


def find_copy(target: Target, reference: str) -> CopyName:
    """Return the copy named `reference` (with or without `.age`, or its archive's path).

    The name of an archive also finds its database-only variant, when that is the copy.

    Raises:
        RestoreAborted: no such copy on the target.
    """
    wanted = Path(reference).name.removesuffix(AGE_SUFFIX)
    for copy in copies_on(target):
        if wanted in (copy.archive, copy.file):
            return copy
    raise RestoreAborted(
        f"target {target.name} holds no copy of {wanted}. `python backup_manager.py offsite "
        f"list --target {target.name}` shows what it holds."
    )


def candidates(
    settings: Settings, target_name: str, reference: str, work: Path, notes: list[str]
) -> Iterator[Path]:
    """Yield archives fetched from a target: the one named, or for `latest` newest first.

    With encryption set up, only age copies count (a plain ZIP there could be anyone's).
    A copy whose SHA-256 differs from the one recorded when it was sent, or that does not
    decrypt, is refused; `latest` then goes on to the next older one, and also passes by
    degraded archives and the safety backups of restores (as `latest` does here). A wrong
    identity stops at once: every copy would fail the same way.
    """
    target = target_named(settings, target_name)
    copies = copies_on(target) if reference == "latest" else [find_copy(target, reference)]
    if settings.offsite.encrypted or settings.offsite.identity_file is not None:
        plain = [c for c in copies if not c.encrypted]
        notes += [f"ignored the plain copy {c.name}: copies here are encrypted" for c in plain]
        copies = [c for c in copies if c.encrypted]
    if not copies:
        raise RestoreAborted(
            f"target {target_name} ({target.describe()}) holds no copy to restore. "
            "`python backup_manager.py offsite list` shows what each target holds."
        )
    identities = (
        crypto.identities_of(settings.offsite.identity_file)
        if any(c.encrypted for c in copies)
        else None
    )
    ledger = Ledger(settings.history_path)
    reserve = settings.min_free_mb * 2**20
    for number, copy in enumerate(copies):
        folder = work / f"fetched_{number}"
        folder.mkdir()
        try:
            path, digest = fetch(target, copy, folder, identities, reserve)
            _check_recorded(ledger, target_name, copy, digest)
            skip = _not_for_latest(path) if reference == "latest" else None
        except OffsiteCopyInvalid as error:
            if reference != "latest":
                raise
            skip = str(error)
        if skip:
            notes.append(f"skipped the copy {copy.name} on {target_name}: {skip}")
            logger.warning("restore latest --from %s: %s", target_name, notes[-1])
            shutil.rmtree(folder, ignore_errors=True)
            continue
        notes.append(f"fetched {copy.name} from {target_name} ({target.describe()})")
        yield path
        shutil.rmtree(folder, ignore_errors=True)  # refused by validation: make room


def _check_recorded(ledger: Ledger, target: str, copy: CopyName, digest: crypto.Digest) -> None:
    """Refuse a copy that differs from what this machine recorded sending."""
    record = ledger.record(target, copy.archive)
    recorded = record.sha256 if record and record.remote_name == copy.name else None
    if recorded and recorded != digest.hashes["sha256"]:
        raise OffsiteCopyInvalid("its SHA-256 differs from the one recorded when it was sent")


def _not_for_latest(archive: Path) -> str | None:
    """Why `latest` passes an archive by (degraded, or a restore's safety backup), or None."""
    try:
        metadata = read_metadata(archive)
    except BackupError:
        return None  # validation says what is wrong with it
    return catalog.not_latest_because(
        str(metadata.get("backup_type")), bool(metadata.get("degraded")), metadata.get("trigger")
    )
