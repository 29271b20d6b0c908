"""Where alarms go: the log always, Apprise URLs (NOTIFY_URLS), the bot's admins when it runs.

One interface (`notify(event, message)`), one module per kind; `notifier_for` builds what the
settings ask for, so the scheduler and the CLI alarm alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from src.config.settings import Settings

logger = logging.getLogger(__name__)

# event -> title, for every notifier
TITLES = {
    "backup_failed": "⚠️ Backup failed",
    "backup_gave_up": "❌ Backup failed, no more retries",
    "drill_failed": "❌ Restore drill failed",
    "stale": "⏰ Backups are late",
    "offsite_failed": "⚠️ Off-machine copy failed",
    "offsite_stale": "⏰ Off-machine copies are late",
    "offsite_drill_failed": "❌ Off-machine restore drill failed",
    "replication_down": "⚠️ Replication (Litestream) stopped",
    "replication_lag": "⏰ The replica is behind",
    "replica_drill_failed": "❌ Replica restore drill failed",
}


class Notifier(Protocol):
    """Where the tool reports what needs a person."""

    def notify(self, event: str, message: str) -> None:
        """Report one event (a key of TITLES); never raises."""


class LogNotifier:
    """The log (and so the console and errors.log): always there."""

    def notify(self, event: str, message: str) -> None:
        """Log the event as a warning."""
        logger.warning("%s: %s", event, message)


class FanOut:
    """Several notifiers: each gets every event; one failing never stops the others."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def notify(self, event: str, message: str) -> None:
        """Pass the event to every notifier."""
        for notifier in self.notifiers:
            try:
                notifier.notify(event, message)
            except Exception:  # a notifier's bug must not hide the alarm from the others
                logger.exception("notifier %s failed", type(notifier).__name__)


def notifier_for(settings: Settings, *more: Notifier, log: bool = True) -> Notifier:
    """The log, the Apprise URLs of NOTIFY_URLS, and `more` (the bot's admins).

    Args:
        log: also log the event (not where `more` logs it, nor in the CLI, which has just
            printed the error itself).
    """
    notifiers: list[Notifier] = [*more, *([LogNotifier()] if log and not more else [])]
    if settings.notify_urls:
        from src.services.notifiers.apprise_notifier import AppriseNotifier

        notifiers.append(AppriseNotifier(settings.notify_urls))
    return FanOut(notifiers)
