"""Alarms through Apprise: e-mail, ntfy, Slack, Discord, Telegram, Matrix, JSON webhooks..."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import apprise

logger = logging.getLogger(__name__)

RETRY_SECONDS = (2.0, 10.0)  # after the first try: two more, then it is logged as lost


class AppriseNotifier:
    """Send each event to every NOTIFY_URLS service; retry, log, never raise."""

    def __init__(self, urls: Sequence[str], retry_seconds: Sequence[float] = RETRY_SECONDS) -> None:
        self.urls = list(urls)
        self.retry_seconds = list(retry_seconds)

    def notify(self, event: str, message: str) -> None:
        """Deliver to every URL; the ones that fail are tried again, then logged."""
        from src.services.notifiers import TITLES

        title = f"PMO backup: {TITLES.get(event, event)}"
        kind = apprise.NotifyType.FAILURE if "failed" in event else apprise.NotifyType.WARNING
        waiting = list(enumerate(self.urls, start=1))
        for pause in [0.0, *self.retry_seconds]:
            if not waiting:
                return
            time.sleep(pause)
            waiting = [(n, url) for n, url in waiting if not _send(url, title, message, kind)]
        for number, _ in waiting:  # the URL may hold a token: name it by its place
            logger.error(
                "notification %s could not be delivered to NOTIFY_URLS entry %d after %d tries",
                event,
                number,
                1 + len(self.retry_seconds),
            )


def _send(url: str, title: str, body: str, kind: apprise.NotifyType) -> bool:
    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    try:
        return bool(sender.notify(body=body, title=title, notify_type=kind))
    except Exception:  # a plugin's bug: logged, and tried again like a failed delivery
        logger.exception("apprise failed")
        return False
