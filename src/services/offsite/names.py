"""The names of copies on a target: the archive's own name, `.age` added when encrypted.

One rule for what is ours: only names that parse here are ever listed as copies or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.services.catalog import ARCHIVE_NAME

AGE_SUFFIX = ".age"
_PARTIAL = (".", ".partial")  # an upload in progress, or one a killed process left


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
    location: str = ""  # where the target keeps it beyond its name (a Telegram message)

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


def partial_name(name: str) -> str:
    """Return the hidden name a copy is written under before it is whole and proven."""
    return f"{_PARTIAL[0]}{name}{_PARTIAL[1]}"


def is_leftover(name: str) -> bool:
    """Tell whether `name` is the partial file of one of our copies (safe to delete)."""
    head, tail = _PARTIAL
    if not (name.startswith(head) and name.endswith(tail)):
        return False
    return parse(name[len(head) : -len(tail)]) is not None
