"""The replication's thread: polls the Litestream supervisor until stopped.

The supervisor (src/services/replication/supervisor.py) decides; this only beats it, about
twice a second, so a Litestream that ended is seen (and restarted) at once.
"""

from __future__ import annotations

import logging
import threading

from src.services.replication.supervisor import Supervisor

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


class ReplicationRunner:
    """Runs a `Supervisor` in a thread: started with the scheduler, stopped with it."""

    def __init__(self, supervisor: Supervisor, poll_seconds: float = POLL_SECONDS) -> None:
        self.supervisor = supervisor
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start Litestream, then the thread that watches it.

        Raises:
            ReplicationError: Litestream is missing, or the database cannot use WAL.
        """
        self.supervisor.start()
        self._thread = threading.Thread(target=self._loop, name="replication", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, then stop Litestream (SIGTERM, a bounded wait, a kill)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.supervisor.stop()

    def _loop(self) -> None:
        """Poll until stopped; a failed poll never ends the thread."""
        while not self._stop.wait(self.poll_seconds):
            try:
                self.supervisor.poll()
            except Exception:  # logged with its traceback; the next poll tries again
                logger.exception("replication poll failed")
