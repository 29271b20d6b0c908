"""The project's one exception family and the one place that maps it to exit codes."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path


class ExitStatus(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    ERROR = 1  # the operation failed (and said why)
    USAGE = 2  # bad command line (click's own code)
    CONFIG = 3  # an invalid setting in the environment or .env
    DATABASE = 4  # the database is missing or is not a SQLite database
    INTEGRITY = 5  # a database or archive failed its checks
    BUSY = 6  # another backup or restore holds the lock
    NO_SPACE = 7  # not enough free disk space, or a folder is not writable
    NOT_CONFIRMED = 8  # restore shown but not done: add --confirm
    OFFSITE = 10  # an off-machine target or the replica could not be reached (9: the .bat)
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class BackupError(Exception):
    """Base of every error the tool reports to a person."""

    exit_status = ExitStatus.ERROR


class ConfigError(BackupError):
    """A setting has an invalid value."""

    exit_status = ExitStatus.CONFIG


class DatabaseNotFound(BackupError):
    """The database file does not exist."""

    exit_status = ExitStatus.DATABASE


class NotADatabase(BackupError):
    """The file exists but is not a SQLite database."""

    exit_status = ExitStatus.DATABASE


class IntegrityFailure(BackupError):
    """A database failed PRAGMA quick_check or integrity_check."""

    exit_status = ExitStatus.INTEGRITY


class ArchiveInvalid(BackupError):
    """A backup archive failed verification."""

    exit_status = ExitStatus.INTEGRITY


class LockBusy(BackupError):
    """Another process holds the backup lock."""

    exit_status = ExitStatus.BUSY


class InsufficientSpace(BackupError):
    """Not enough free disk space for the backup."""

    exit_status = ExitStatus.NO_SPACE


class FolderNotWritable(BackupError):
    """A folder the tool must write to is not writable."""

    exit_status = ExitStatus.NO_SPACE


class NotABackup(BackupError):
    """An argument names no backup of this installation: missing, outside BACKUP_DIR, or
    not named and placed as the tool names and places its archives."""


class RestoreAborted(BackupError):
    """A restore was refused before anything changed."""


class NotVerifiedHere(BackupError):
    """`latest` found archives, but none verified here (the backup folder moved, say):
    nothing failed a check, so not exit 5; the message says to run `verify --all`."""

    exit_status = ExitStatus.ERROR


class NotConfirmed(BackupError):
    """A restore was validated and shown, but not confirmed."""

    exit_status = ExitStatus.NOT_CONFIRMED


class SchemaChangeRefused(NotConfirmed):
    """A confirmed restore would change the live database's schema, which was not allowed."""


class OffsiteError(BackupError):
    """An off-machine target failed: unreachable, refused, full, or a copy is wrong there."""

    exit_status = ExitStatus.OFFSITE


class OffsiteTooLarge(OffsiteError):
    """An archive is larger than a target takes (a Telegram chat: BOT_UPLOAD_LIMIT_MB)."""


class OffsiteCopyInvalid(OffsiteError):
    """A copy on a target does not match what was sent, or does not decrypt."""

    exit_status = ExitStatus.INTEGRITY


class ReplicationError(BackupError):
    """Litestream is missing or failed, or its replica (REPLICA_URL) could not be read."""

    exit_status = ExitStatus.OFFSITE


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_REFUSED_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN = 13, 8, 14


def disk_error(error: BaseException, folder: Path | None = None) -> BackupError | None:
    """Turn a full disk, or a folder that refuses writes, into the tool's error (exit 7).

    Args:
        error: what the operating system or SQLite raised.
        folder: the folder being written, for errors that do not name their file (with it,
            SQLite's "unable to open database file" there counts when it is not writable).

    Returns:
        InsufficientSpace or FolderNotWritable naming the folder, or None for other errors.
    """
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF if isinstance(error, sqlite3.Error) else 0
    number = error.errno if isinstance(error, OSError) else None
    if isinstance(error, OSError) and error.filename:  # the system knows best where
        folder = Path(str(error.filename)).parent
    where = str(folder) if folder else "the folder it writes to"
    if number in _FULL_ERRNOS or code == _SQLITE_FULL:
        return InsufficientSpace(
            f"The disk holding {where} is full ({_reason(error)}). Free some space there, or "
            "point the setting for that folder (BACKUP_DIR, RECOVERY_DIR, LOG_DIR) at another "
            "disk, then try again."
        )
    # SQLite cannot say why it could not create a file: a folder that refuses writes is why
    refused = code == _SQLITE_CANTOPEN and folder is not None and not os.access(folder, os.W_OK)
    if number in _REFUSED_ERRNOS or code == _SQLITE_READONLY or refused:
        return FolderNotWritable(
            f"Cannot write in {where} ({_reason(error)}). Make it writable for this user, or "
            "point its setting (BACKUP_DIR, RECOVERY_DIR, LOG_DIR) at a writable folder."
        )
    return None


@contextmanager
def disk_errors_in(folder: Path) -> Iterator[None]:
    """Raise a full disk or a refused write met while writing in `folder` as exit 7 naming it.

    SQLite's errors and a write to an open file do not say which file failed; this names
    the folder the command writes to. Any other error passes unchanged.
    """
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        known = disk_error(error, folder)
        if known is None:
            raise
        raise known from error


def _reason(error: BaseException) -> str:
    """Return the system's words for an error, without a Python repr."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def exit_status_for(error: BaseException) -> ExitStatus:
    """Return the exit status for an exception raised by the tool."""
    if isinstance(error, BackupError):
        return error.exit_status
    known = disk_error(error)
    if known is not None:
        return known.exit_status
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    return ExitStatus.ERROR
