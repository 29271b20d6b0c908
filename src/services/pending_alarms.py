"""Alarms not yet delivered to an admin, kept beside the backups so a restart sends them.

`BACKUP_DIR/.pending-alarms.json` (owner-only, replaced atomically) lists each alarm a
notifier is still trying to deliver: to whom, the text, when it was first tried (wall
clock, so its expiry survives a restart). An alarm is added before its first try and
removed once delivered or given up; whatever a stopped process left there is sent again
at the next start, unless it expired meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from typing import Any

from src.config.settings import Settings
from src.services.naming import sync_folder

logger = logging.getLogger(__name__)

FILE_NAME = ".pending-alarms.json"
_LOCK = threading.Lock()  # one writer at a time in this process (the bot's only)


@dataclass(frozen=True)
class PendingAlarm:
    """One alarm to one admin, not delivered yet."""

    key: str
    admin: int
    text: str
    first_try: float  # seconds since the epoch (time.time())

    @classmethod
    def new(cls, admin: int, text: str, now: float) -> PendingAlarm:
        """Return a new alarm, first tried `now`."""
        return cls(secrets.token_hex(8), admin, text, now)

    def expired(self, now: float, expires_after: float) -> bool:
        """Tell whether the alarm is given up at `now` (it is no news any more)."""
        return now - self.first_try >= expires_after


class PendingAlarms:
    """The alarms file of one backup folder."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.backup_dir / FILE_NAME

    def all(self) -> list[PendingAlarm]:
        """Return the pending alarms, oldest first ([] when there are none or the file is bad)."""
        with _LOCK:
            return self._read()

    def add(self, alarm: PendingAlarm) -> None:
        """Keep `alarm` until it is removed."""
        with _LOCK:
            self._write([*self._read(), alarm])

    def remove(self, key: str) -> None:
        """Forget the alarm `key` (delivered, or given up)."""
        with _LOCK:
            alarms = self._read()
            left = [a for a in alarms if a.key != key]
            if left != alarms:
                self._write(left)

    def _read(self) -> list[PendingAlarm]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            alarms = [
                PendingAlarm(str(a["key"]), int(a["admin"]), str(a["text"]), float(a["first_try"]))
                for a in data["alarms"]
            ]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.error("cannot read the pending alarms in %s: %s", self.path, error)  # noqa: TRY400
            return []
        return sorted(alarms, key=lambda a: a.first_try)

    def _write(self, alarms: list[PendingAlarm]) -> None:
        """Replace the file at once (a cut write never leaves half a list); none: delete it."""
        if not alarms:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        data = json.dumps({"alarms": [asdict(a) for a in alarms]}, indent=1).encode()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.chmod(0o600)  # owner-only, whatever the umask or an older file's mode
        partial.replace(self.path)
        sync_folder(self.path.parent)
