"""Bring copies back from a target: listed newest first, downloaded and decrypted locally."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from src.config.settings import Settings
from src.errors import ConfigError, OffsiteCopyInvalid, RestoreAborted
from src.services.offsite import crypto
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
    return open_target(found, settings.project_root, settings.offsite.rclone_env)


def copies_on(target: Target) -> list[CopyName]:
    """Return our copies on a target, newest first (other files there are left out)."""
    found = [parse(item.name) for item in target.list()]
    return sorted((c for c in found if c is not None), key=lambda c: c.sort_key, reverse=True)


def fetch(
    target: Target, copy: CopyName, folder: Path, identities: list[Any] | None
) -> tuple[Path, crypto.Digest]:
    """Download one copy into `folder` as its archive (decrypted); return it and its digest.

    Raises:
        ConfigError: the copy is encrypted and no (or the wrong) identity is given.
        OffsiteCopyInvalid: the copy does not decrypt.
        OffsiteError: the target failed.
    """
    if copy.encrypted and identities is None:
        raise ConfigError(
            f"{copy.name} is encrypted: set AGE_IDENTITY_FILE to the private key to open it"
        )
    path = folder / copy.archive
    digests: list[crypto.Digest] = []
    try:
        with path.open("wb") as out:
            target.download(
                copy.name,
                lambda stream: digests.append(
                    crypto.receive(stream, out, identities if copy.encrypted else None, copy.name)
                ),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digests[0]


def find_copy(target: Target, reference: str) -> CopyName:
    """Return the copy named `reference` (with or without `.age`, or its archive's path).

    Raises:
        RestoreAborted: no such copy on the target.
    """
    wanted = Path(reference).name.removesuffix(AGE_SUFFIX)
    for copy in copies_on(target):
        if copy.archive == wanted:
            return copy
    raise RestoreAborted(
        f"target {target.name} holds no copy of {wanted}. `python backup_manager.py offsite "
        f"list --target {target.name}` shows what it holds."
    )


def candidates(
    settings: Settings, target_name: str, reference: str, work: Path, notes: list[str]
) -> Iterator[Path]:
    """Yield archives fetched from a target: the one named, or for `latest` newest first.

    A copy of `latest` that does not decrypt (damaged there) is skipped with a note; a
    wrong identity stops at once (every copy would fail the same way).
    """
    target = target_named(settings, target_name)
    copies = copies_on(target) if reference == "latest" else [find_copy(target, reference)]
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
    for number, copy in enumerate(copies):
        folder = work / f"fetched_{number}"
        folder.mkdir()
        try:
            path, _ = fetch(target, copy, folder, identities)
        except OffsiteCopyInvalid as error:
            if reference != "latest":
                raise
            notes.append(f"skipped the copy {copy.name} on {target_name}: {error}")
            logger.warning("restore latest --from %s: %s", target_name, notes[-1])
            continue
        notes.append(f"fetched {copy.name} from {target_name} ({target.describe()})")
        yield path
