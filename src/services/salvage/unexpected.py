"""Errors no reader foresaw: counted and reported, never the end of a salvage."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from src.errors import BackupError, disk_error

logger = logging.getLogger(__name__)


class Unexpected:
    """Errors no reader foresaw, kept from ending a repair: each is logged with its traceback
    and counted, and the repair goes on without the page or the step it happened in."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, where: str, error: Exception) -> None:
        """Count an unexpected error in one page or step; re-raise a full disk or our own."""
        if isinstance(error, BackupError) or disk_error(error) is not None:
            raise error
        logger.error("repair: unexpected error in %s; going on without it", where, exc_info=error)
        self.errors.append(f"{where}: {type(error).__name__}: {error}")

    @contextmanager
    def step(self, where: str) -> Iterator[None]:
        """Run one step of a repair; an unexpected error in it is counted, not raised."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - one step's failure never ends the repair
            self.add(where, error)
