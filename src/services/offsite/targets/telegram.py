"""A Telegram chat or channel as a target: each copy is a document the bot sent there.

Plain HTTPS calls to the Bot API (httpx), so the service core needs no Telegram library.
Telegram cannot list a chat's files, so the target keeps its own index beside the backups
(`.telegram-<target>.json`: each copy's message_id, file_id and size). A copy is proven by
downloading it again through getFile; larger than BOT_UPLOAD_LIMIT_MB, it is not sent.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

from src.errors import ConfigError, OffsiteError, OffsiteTooLarge
from src.services.offsite.targets import Consumer, Producer, Prover, RemoteObject

logger = logging.getLogger(__name__)

PREFIX = "telegram:"
_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
TIMEOUT = httpx.Timeout(30.0, read=600.0, write=600.0)
RETRIES_429 = 3
LONGEST_WAIT = 60  # seconds a 429's retry_after is waited out at most
_CHUNK = 1 << 20


def is_telegram_destination(destination: str) -> bool:
    """Tell a `telegram:CHAT_ID` destination."""
    return destination.startswith(PREFIX)


class _Limited:
    """A file that refuses to grow beyond `limit` bytes (the archive is not sent then)."""

    def __init__(self, out: IO[bytes], limit: int, what: str) -> None:
        self.out, self.limit, self.what, self.size = out, limit, what, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise OffsiteTooLarge(self.what)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


class TelegramTarget:
    """Copies sent as documents to one chat or channel through the Bot API."""

    def __init__(
        self, name: str, destination: str, token: str | None, api_url: str, limit_mb: int,
        index: Path,
    ) -> None:  # fmt: skip
        chat = destination.removeprefix(PREFIX).strip()
        if not _CHAT.fullmatch(chat):
            raise ConfigError(
                f"OFFSITE_TARGETS: target {name}: {destination!r} is not telegram:CHAT_ID "
                "(a number such as -1001234567890, or @channelname)"
            )
        if not token:
            raise ConfigError(
                f"OFFSITE_TARGETS: target {name} sends to Telegram: set BOT_TOKEN, and add the "
                "bot to the chat (to a channel as an admin that may post)"
            )
        self.name, self.chat = name, chat
        self._token, self._api = token, api_url.rstrip("/")
        self.limit = limit_mb * 1024 * 1024
        self.limit_mb = limit_mb
        self._index = index

    def describe(self) -> str:
        """Say where the target is (never the token)."""
        return f"Telegram chat {self.chat}"

    def hash_types(self) -> tuple[str, ...]:
        """Telegram reports no hash: a copy is proven by downloading it."""
        return ()

    # --- the index of what was sent ----------------------------------------------------

    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self._index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise OffsiteError(f"target {self.name}: cannot read {self._index}: {error}") from error
        return data

    def _write_index(self, entries: dict[str, dict[str, Any]]) -> None:
        partial = self._index.with_name(self._index.name + ".tmp")
        partial.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(self._index)

    # --- the Bot API ---------------------------------------------------------------------

    def _call(self, method: str, data: dict[str, Any], files: Any = None) -> Any:
        """Call a Bot API method; wait out a 429 a few times; raise OffsiteError else."""
        url = f"{self._api}/bot{self._token}/{method}"
        for attempt in range(RETRIES_429 + 1):
            if files is not None:
                for handle in files.values():
                    handle[1].seek(0)
            try:
                answer = httpx.post(url, data=data, files=files, timeout=TIMEOUT)
                body = answer.json()
            except httpx.HTTPError as error:
                raise OffsiteError(
                    f"target {self.name}: the Bot API cannot be reached ({type(error).__name__})"
                ) from None  # the error's text holds the URL, and the URL the token
            except ValueError:
                raise OffsiteError(
                    f"target {self.name}: the Bot API answered {answer.status_code} without JSON"
                ) from None
            if body.get("ok"):
                return body["result"]
            wait = (body.get("parameters") or {}).get("retry_after")
            if body.get("error_code") == 429 and wait is not None and attempt < RETRIES_429:
                time.sleep(min(float(wait), LONGEST_WAIT))
                continue
            raise self._refused(method, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, method: str, body: dict[str, Any]) -> OffsiteError:
        code, said = body.get("error_code"), body.get("description", "")
        hint = ""
        if code == 401:
            hint = "; the credentials were refused: check BOT_TOKEN"
        elif code in (400, 403) and "chat" in said.lower():
            hint = "; add the bot to the chat (to a channel as an admin that may post)"
        return OffsiteError(f"target {self.name}: {method} failed: {code} {said}{hint}")

    # --- the target interface --------------------------------------------------------------

    def upload(self, name: str, produce: Producer, prove: Prover | None = None) -> None:
        """Send the bytes as a document (refused beyond the limit), record it, prove it."""
        too_large = (
            f"target {self.name}: {name} is larger than BOT_UPLOAD_LIMIT_MB ({self.limit_mb} MB):"
            " not sent to Telegram"
        )
        with tempfile.SpooledTemporaryFile(max_size=16 * _CHUNK) as spool:
            produce(_Limited(spool, self.limit, too_large))  # type: ignore[arg-type]
            size = spool.tell()
            message = self._call(
                "sendDocument",
                {"chat_id": self.chat, "caption": f"📦 {name}", "disable_notification": "true"},
                {"document": (name, spool, "application/octet-stream")},
            )
        document = message.get("document") or {}
        entry = {
            "message_id": message["message_id"],
            "file_id": document.get("file_id", ""),
            "size": int(document.get("file_size") or size),
        }
        entries = self._read_index()
        entries[name] = entry
        self._write_index(entries)
        logger.info("offsite %s: %s sent as message %s", self.name, name, entry["message_id"])
        if prove is None:
            return
        try:
            prove(name)
        except BaseException:
            self.delete(name)  # a copy that fails its proof is no copy
            raise

    def stat(self, name: str) -> RemoteObject | None:
        """Return the copy as the index knows it (Telegram reports no hash)."""
        entry = self._read_index().get(name)
        if entry is None:
            return None
        return RemoteObject(name, int(entry["size"]), {}, _location(entry))

    def list(self) -> list[RemoteObject]:
        """Return the copies sent there (from the index: Telegram cannot list a chat)."""
        entries = self._read_index()
        return [RemoteObject(n, int(e["size"]), {}, _location(e)) for n, e in entries.items()]

    def download(self, name: str, consume: Consumer) -> None:
        """Fetch the document through getFile and stream it into `consume`."""
        entry = self._read_index().get(name)
        if entry is None:
            raise OffsiteError(f"target {self.name}: {name} is not there")
        found = self._call("getFile", {"file_id": entry["file_id"]})
        url = f"{self._api}/file/bot{self._token}/{found['file_path']}"
        try:
            with tempfile.TemporaryFile() as spool:
                with httpx.stream("GET", url, timeout=TIMEOUT) as answer:
                    if answer.status_code != 200:
                        raise OffsiteError(
                            f"target {self.name}: the download of {name} failed "
                            f"({answer.status_code})"
                        )
                    for chunk in answer.iter_bytes(_CHUNK):
                        spool.write(chunk)
                spool.seek(0)
                consume(spool)
        except httpx.HTTPError as error:
            raise OffsiteError(
                f"target {self.name}: the download of {name} failed ({type(error).__name__})"
            ) from None

    def delete(self, name: str) -> None:
        """Delete the copy's message, and forget it."""
        entries = self._read_index()
        entry = entries.pop(name, None)
        if entry is None:
            return
        try:
            self._call("deleteMessage", {"chat_id": self.chat, "message_id": entry["message_id"]})
        except OffsiteError as error:
            if "not found" not in str(error):  # gone already: forget it all the same
                raise
        self._write_index(entries)


def _location(entry: dict[str, Any]) -> str:
    return f"message {entry['message_id']}, file_id {entry['file_id']}"
