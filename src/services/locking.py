"""One backup or restore at a time across processes: a lock file, on POSIX and Windows."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from src.errors import LockBusy
from src.services import progress

logger = logging.getLogger(__name__)

# Windows locks a byte range and then refuses reads of it; lock a byte far past the
# owner's note so a waiting process can still read who holds the lock.
_LOCK_OFFSET = 1 << 20

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        handle.seek(_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(_LOCK_OFFSET)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_owner(path: Path) -> str:
    """Return the holder's note, or 'unknown'."""
    try:
        text = path.read_bytes()[:200].decode("utf-8", "replace").strip("\x00 \n")
    except OSError:
        return "unknown"
    return text or "unknown"


def owner_note(purpose: str) -> str:
    """Return what a holder writes into the lock file: what it does, since when, which pid."""
    started = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{purpose} started at {started} by pid {os.getpid()}"


@contextmanager
def exclusive_lock(path: Path, purpose: str, timeout: float) -> Iterator[None]:
    """Hold the lock at `path`, waiting up to `timeout` seconds for another holder.

    Raises:
        LockBusy: another process kept the lock longer than `timeout`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+b")
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                raise LockBusy(
                    f"Another process is busy: {_read_owner(path)}. Waited {timeout:.0f} s. "
                    "Try again when it has finished (BACKUP_LOCK_TIMEOUT sets the wait)."
                )
            if not waited:
                waited = True
                message = f"waiting for the {_read_owner(path)} (up to {timeout:.0f} s)"
                logger.info("%s: %s", purpose, message)
                progress.note(f"⏳ {message[0].upper()}{message[1:]} ...")
            time.sleep(0.2)
        if waited:
            progress.note(f"🔓 The lock is free: the {purpose} goes on.")
        handle.seek(0)
        handle.truncate()
        handle.write(owner_note(purpose).encode())
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            _unlock(handle)
    finally:
        handle.close()


class HeldLock:
    """A lock held for a process's lifetime (the scheduler's role), released on close."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle: IO[bytes] | None = handle

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        _unlock(self._handle)
        self._handle.close()
        self._handle = None


def try_hold(path: Path, purpose: str) -> HeldLock | None:
    """Take the lock at `path` without waiting; None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+b")
    if not _try_lock(handle):
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{purpose} (pid {os.getpid()})".encode())
    handle.flush()
    return HeldLock(path, handle)


def holder(path: Path) -> str:
    """Say who holds the lock at `path` (its note), or 'unknown'."""
    return _read_owner(path)
