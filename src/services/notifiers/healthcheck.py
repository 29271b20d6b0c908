"""Pings for healthchecks.io, Uptime Kuma, cronitor: URL/start, URL (success), URL/fail."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

logger = logging.getLogger(__name__)

SUFFIX = {"start": "/start", "success": "", "fail": "/fail"}


def ping(url: str | None, kind: str, body: str = "", timeout: float = 10, tries: int = 3) -> bool:
    """POST `body` to the check's URL for `kind` (start, success, fail); never raises."""
    if not url:
        return False
    target = url.rstrip("/") + SUFFIX[kind]
    for attempt in range(1, tries + 1):
        request = urllib.request.Request(  # noqa: S310 - an http(s) URL checked in settings
            target,
            data=body[:10_000].encode("utf-8"),
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                if 200 <= answer.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError) as error:
            logger.warning(
                "healthcheck ping %s failed (try %d of %d): %s",
                kind,
                attempt,
                tries,
                getattr(error, "reason", error),
            )
    return False
