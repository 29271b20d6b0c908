"""Logging handlers, configured only by the entry points."""

from __future__ import annotations

import errno
import logging
import logging.handlers
import re
import sys
import threading
from pathlib import Path

from src.services import progress

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"


class RedactToken(logging.Filter):
    """Keep the bot token out of every log line, whatever logged it."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.pattern = re.compile(re.escape(token)) if token else None
        self.generic = re.compile(r"bot\d+:[A-Za-z0-9_-]{20,}")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, and its traceback, without the token."""
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # exception messages can hold it too
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        return True

    def clean(self, text: str) -> str:
        """Return the text with the token (and anything shaped like a bot URL's) replaced."""
        cleaned = self.generic.sub("bot<token>", text)
        return self.pattern.sub("<token>", cleaned) if self.pattern else cleaned


class _Console(logging.StreamHandler):
    """stderr; while a progress line is shown, the message goes above it instead."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record, as a line of its own above any progress line."""
        try:
            if progress.note(self.format(record)):
                return
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
            return
        super().emit(record)


def _tell(text: str) -> None:
    """One line to the person at the console, above any progress line."""
    if not progress.note(text):
        print(text, file=sys.stderr, flush=True)


def cannot_log(log_dir: Path, error: BaseException | None) -> str:
    """The one line that says the log cannot be written, and what that costs."""
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error or "")
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    until = "there is room" if full else "it can be written"
    return f"⚠️ Cannot write to the log in {log_dir}: {reason}; log lines are lost until {until}"


class _LogFolder:
    """The log folder's files share one warning: said once, again only after a recovery."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.said = False
        self.lock = threading.Lock()

    def failed(self, error: BaseException | None) -> None:
        """A write failed: say so, unless it was said and no write has worked since."""
        with self.lock:
            if self.said:
                return
            self.said = True
        _tell(cannot_log(self.folder, error))

    def worked(self) -> None:
        """A write worked: a later failure is worth saying again."""
        self.said = False


class _LogFile(logging.handlers.RotatingFileHandler):
    """A rotating log file that, when it cannot be written (a full disk, a read-only
    folder), says so in one line instead of a traceback for every lost record."""

    def __init__(self, path: Path, folder: _LogFolder) -> None:
        super().__init__(path, maxBytes=5 * 2**20, backupCount=5, encoding="utf-8")
        self.folder = folder
        self.lost = False

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record (the base class calls handleError when that fails)."""
        self.lost = False
        super().emit(record)
        if not self.lost:
            self.folder.worked()

    def handleError(self, record: logging.LogRecord) -> None:
        """The record is lost: one line to the console, not a traceback per record."""
        self.lost = True
        self.folder.failed(sys.exc_info()[1])


def configure_logging(
    log_dir: Path,
    token: str | None = None,
    console_level: int = logging.WARNING,
    *,
    console_errors: bool = False,
) -> None:
    """Log to logs/pmo_bot.log (rotating), errors to logs/errors.log, warnings to stderr.

    A one-shot command shows its error once, as its own message, so errors stay off the
    console unless `console_errors` (a long-running process: the scheduler, the bot).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO)
    redact = RedactToken(token)
    formatter = logging.Formatter(LOG_FORMAT)
    console = _Console()
    console.setLevel(console_level)
    # errors reach the person once, as the CLI's own message; the files keep the details
    if not console_errors:
        console.addFilter(lambda record: record.levelno < logging.ERROR)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        folder = _LogFolder(log_dir)
        main = _LogFile(log_dir / "pmo_bot.log", folder)
        errors = _LogFile(log_dir / "errors.log", folder)
        errors.setLevel(logging.ERROR)
        handlers += [main, errors]
    except OSError as error:
        _tell(cannot_log(log_dir, error))
    for handler in handlers:
        if handler is not console:
            handler.setFormatter(formatter)
        handler.addFilter(redact)
        root.addHandler(handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)
