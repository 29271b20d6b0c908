"""The project's one exception family and the one place that maps it to exit codes."""

from __future__ import annotations

from enum import IntEnum


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


class RestoreAborted(BackupError):
    """A restore was refused before anything changed."""


class NotConfirmed(BackupError):
    """A restore was validated and shown, but not confirmed."""

    exit_status = ExitStatus.NOT_CONFIRMED


def exit_status_for(error: BaseException) -> ExitStatus:
    """Return the exit status for an exception raised by the tool."""
    if isinstance(error, BackupError):
        return error.exit_status
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    return ExitStatus.ERROR
