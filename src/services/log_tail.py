"""The tail of the error log, with the bot token and every configured secret taken out."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from src.config.settings import Settings
from src.logging_setup import RedactToken

TAIL_BYTES = 64 * 1024  # read no more than this from the end of a large log
HIDDEN = "<secret>"
_URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)[^@\s/]+@")  # user:password@ in any URL


def secrets_of(settings: Settings) -> list[str]:
    """Every configured value that may hold a secret (longest first, so none is half-hidden)."""
    values: list[str] = [*settings.notify_urls, settings.healthcheck_url or ""]
    values += [target.destination for target in settings.offsite.targets]
    values += list(settings.offsite.rclone_env.values()) + list(settings.replica.env.values())
    values.append(settings.replica.url)
    for url in list(values):
        values.append(urlsplit(url).password or "" if "://" in url else "")
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, token: str | None, secrets: Iterable[str]) -> str:
    """Return the text without the bot token, passwords in URLs and the given secrets."""
    text = RedactToken(token).clean(text)
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    return _URL_PASSWORD.sub(rf"\g<1>{HIDDEN}@", text)


def error_log_tail(settings: Settings, lines: int = 40) -> list[str]:
    """The last lines of logs/errors.log, redacted; empty when there is no such log.

    Args:
        settings: where the logs are, and the secrets to take out.
        lines: how many lines at most.

    Returns:
        The lines, oldest first, without line ends.
    """
    path: Path = settings.log_dir / "errors.log"
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            start = max(0, log.tell() - TAIL_BYTES)
            log.seek(start)
            data = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    tail = data.splitlines()[1 if start else 0 :][-lines:]
    clean = redact("\n".join(tail), settings.bot_token, secrets_of(settings))
    return clean.splitlines()
