"""The names of copies on a target: the archive's own name, `.age` added when encrypted.

A copy may be the archive's database-only variant (when the whole archive is larger than
the target takes): `<archive stem>.dbonly.zip`, `.age` added alike. One rule for what is
ours: only names that parse here are ever listed as copies or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.services.catalog import ARCHIVE_NAME

AGE_SUFFIX = ".age"
DATABASE_ONLY_SUFFIX = ".dbonly.zip"
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
    database_only: bool = False  # the archive's database-only variant, not the whole archive

    @property
    def file(self) -> str:
        """The archive's file name once fetched and decrypted (the variant's own name)."""
        return database_only_name(self.archive) if self.database_only else self.archive

    @property
    def sort_key(self) -> str:
        """Oldest to newest, from the name alone (what a brand-new machine knows)."""
        return f"{self.stamp}_{self.sequence:04d}"


def database_only_name(archive: str) -> str:
    """Return the name of the database-only variant of `archive` (`X.zip`: `X.dbonly.zip`)."""
    return archive.removesuffix(".zip") + DATABASE_ONLY_SUFFIX


def remote_name(archive: str, encrypted: bool, *, database_only: bool = False) -> str:
    """Return the name a copy of `archive` (or of its database-only variant) has on a target."""
    name = database_only_name(archive) if database_only else archive
    return name + AGE_SUFFIX if encrypted else name


def is_database_only(name: str) -> bool:
    """Tell whether a copy's name is that of a database-only variant."""
    return name.removesuffix(AGE_SUFFIX).endswith(DATABASE_ONLY_SUFFIX)


def parse(name: str) -> CopyName | None:
    """Return what a target's file name says, or None when it is not one of our copies."""
    encrypted = name.endswith(AGE_SUFFIX)
    archive = name.removesuffix(AGE_SUFFIX)
    database_only = archive.endswith(DATABASE_ONLY_SUFFIX)
    if database_only:
        archive = archive.removesuffix(DATABASE_ONLY_SUFFIX) + ".zip"
    match = ARCHIVE_NAME.match(archive)
    if not match:
        return None
    return CopyName(
        name,
        archive,
        match["type"],
        match["stamp"],
        int(match["n"] or 1),
        encrypted,
        database_only=database_only,
    )


def partial_name(name: str) -> str:
    """Return the hidden name a copy is written under before it is whole and proven."""
    return f"{_PARTIAL[0]}{name}{_PARTIAL[1]}"


def is_leftover(name: str) -> bool:
    """Tell whether `name` is the partial file of one of our copies (safe to delete)."""
    head, tail = _PARTIAL
    if not (name.startswith(head) and name.endswith(tail)):
        return False
    return parse(name[len(head) : -len(tail)]) is not None
