"""The names of copies on a target: the archive's own name, `.age` added when encrypted.

One rule for what is ours: only names that parse here are ever listed as copies or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.services.catalog import ARCHIVE_NAME

AGE_SUFFIX = ".age"


@dataclass(frozen=True)
class CopyName:
    """A name on a target that is one of our copies."""

    name: str
    archive: str
    backup_type: str
    stamp: str
    sequence: int
    encrypted: bool
    size: int = -1  # as the target listed it (-1: not listed)

    @property
    def sort_key(self) -> str:
        """Oldest to newest, from the name alone (what a brand-new machine knows)."""
        return f"{self.stamp}_{self.sequence:04d}"


def remote_name(archive: str, encrypted: bool) -> str:
    """Return the name a copy of `archive` has on a target."""
    return archive + AGE_SUFFIX if encrypted else archive


def parse(name: str) -> CopyName | None:
    """Return what a target's file name says, or None when it is not one of our copies."""
    encrypted = name.endswith(AGE_SUFFIX)
    archive = name.removesuffix(AGE_SUFFIX)
    match = ARCHIVE_NAME.match(archive)
    if not match:
        return None
    return CopyName(name, archive, match["type"], match["stamp"], int(match["n"] or 1), encrypted)
