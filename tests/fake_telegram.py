"""A fake Telegram Bot API server on 127.0.0.1 for the bot's tests (real HTTP, real limits).

It speaks the Bot API's HTTP shape (`/bot<token>/<method>`, form or multipart fields whose
values are JSON), keeps the messages the bot sent, and enforces what Telegram enforces:
4096-character texts, 1024-character captions, 64-byte callback_data, HTML entities that
must parse, "message is not modified", the 50 MB upload limit, unknown methods as 404.

Tests can also make it misbehave the way Telegram does under load: answer 429 with
`retry_after` (`fail`), drop the connection before or after doing the work (`drop`), refuse a
chat whose user blocked the bot or never started it (`block`, `never_started`), and expire
callback queries after a deadline ("query is too old": `callback_deadline`, `press(age=)`).
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files ("file is too big")
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"
SENDING = ("sendMessage", "editMessageText", "sendDocument", "sendChatAction")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"<>]*\"|='[^'<>]*')?)*)\s*>"
)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


class ApiError(Exception):
    """An answer with ok=false."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class Fault:
    """One kind of misbehaviour for a method (and optionally one chat), `times` times."""

    method: str
    times: int
    error: ApiError | None = None  # answer with this error
    drop: str | None = None  # "before" (nothing done) or "after" (done, the answer lost)
    delay: float = 0.0  # done at once, the answer sent this many seconds later
    chat_id: int | None = None
    contains: str | None = None  # only calls whose text holds this

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        """Tell whether this fault applies to a call."""
        if self.method != method or self.times <= 0:
            return False
        if self.chat_id is not None and str(self.chat_id) != str(params.get("chat_id")):
            return False
        return self.contains is None or self.contains in str(params.get("text", ""))


def _entities(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def parse_html(text: str) -> str:
    """Check Telegram HTML the way Telegram does; return the plain text it shows."""
    plain, stack, pos = [], [], 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if not match:
                raise _entities(f"Unsupported start tag at byte offset {pos}")
            closing, name = match.group(1), match.group(2).lower()
            if name not in _ALLOWED_TAGS:
                raise _entities(f"Unsupported start tag '{name}' at byte offset {pos}")
            if closing:
                if not stack or stack[-1] != name:
                    raise _entities(f"Unexpected end tag at byte offset {pos}")
                stack.pop()
            else:
                stack.append(name)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if not match:
                raise _entities(f"Character '&' is reserved at byte offset {pos}")
            plain.append(unescape(match.group(0)))
            pos = match.end()
        elif char == ">":
            raise _entities(f"Character '>' is reserved at byte offset {pos}")
        else:
            plain.append(char)
            pos += 1
    if stack:
        raise _entities(f"Can't find end tag corresponding to start tag '{stack[-1]}'")
    return "".join(plain)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (the bot stopping mid-request) is no error of the fake's."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeTelegram:
    """The server, the chats it holds, and helpers to act as users."""

    def __init__(self, token: str, username: str = "pmo_recovery_test_bot") -> None:
        self.token = token
        self.username = username
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, str]] = []  # (method, description) of refused calls
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id): message
        self.documents: list[dict[str, Any]] = []
        self.commands: dict[str, list[str]] = {}  # scope ("default", "chat:ID"): commands
        # the same scopes, "@LANGUAGE" added when set for one language: command: description
        self.command_descriptions: dict[str, dict[str, str]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.languages: dict[int, str | None] = {}  # user: language_code (default "id")
        self.channels: set[int] = set()  # chats (negative ids) that are channels
        self.unknown_chats: set[int] = (
            set()
        )  # chats the bot is not in (400 chat not found)  # (chat, action) of sendChatAction
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._files: dict[str, bytes] = {}  # file_id: content of documents users sent
        self.faults_served: list[tuple[str, str]] = []  # (method, what was done instead)
        self.blocked: set[int] = set()  # users who blocked the bot
        self.not_started: set[int] = set()  # users who never pressed Start
        self.callback_deadline: float | None = None  # seconds a query can be answered in
        self._cond = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """What TELEGRAM_API_URL is set to."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- acting as users ------------------------------------------------------------

    def user(self, user_id: int, name: str = "Admin") -> dict[str, Any]:
        """A user as updates show them; their app's language is Indonesian unless set in
        `languages` (None: the app sends none)."""
        user = {"id": user_id, "is_bot": False, "first_name": name, "username": f"u{user_id}"}
        language = self.languages.get(user_id, "id")
        if language is not None:
            user["language_code"] = language
        return user

    def send_text(self, user_id: int, text: str, chat_id: int | None = None) -> None:
        """A user sends a message (a command when it starts with /)."""
        chat = chat_id or user_id
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": self.user(user_id),
            "chat": {"id": chat, "type": "private" if chat > 0 else "group"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push({"message": message})

    def send_document(self, user_id: int, filename: str, content: bytes) -> None:
        """A user sends a file (a document) in their private chat with the bot."""
        file_id = f"doc{next(self._ids)}"
        self._files[file_id] = content
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": self.user(user_id),
            "chat": {"id": user_id, "type": "private"},
            "date": int(time.time()),
            "document": {"file_id": file_id, "file_unique_id": f"u{file_id}",
                         "file_name": filename, "file_size": len(content),
                         "mime_type": "application/zip"},
        }  # fmt: skip
        self._push({"message": message})

    def press(self, user_id: int, message: dict[str, Any], data: str, age: float = 0) -> str:
        """A user presses a button of a message the bot sent; return the query's id.

        `age`: pressed that many seconds ago (while the bot was down, say).
        """
        query_id = f"q{next(self._ids)}"
        query = {
            "id": query_id,
            "from": self.user(user_id),
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": message["message_id"],
                "chat": message["chat"],
                "date": int(time.time()),
                "text": message.get("text", ""),
                "from": {"id": 1, "is_bot": True, "first_name": "Bot", "username": self.username},
            },
        }
        self._callbacks[query_id] = {
            "answered": False,
            "user": user_id,
            "at": time.monotonic() - age,
        }
        self._push({"callback_query": query})
        return query_id

    # --- misbehaving ------------------------------------------------------------------

    def fail(
        self,
        method: str,
        code: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        description: str | None = None,
        chat_id: int | None = None,
        contains: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 flood wait by default).

        chat_id, contains: only calls to that chat, or whose text holds that.
        """
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}" if code == 429 else "Error"
            )
        error = ApiError(code, description, retry_after if code == 429 else None)
        with self._cond:
            self._faults.append(Fault(method, times, error, chat_id=chat_id, contains=contains))

    def drop(
        self, method: str, times: int = 1, after: bool = False, contains: str | None = None
    ) -> None:
        """Close the connection of the next `times` calls of `method` without an answer.

        after: do the work first (the message is sent, the bot never hears so).
        """
        with self._cond:
            drop = "after" if after else "before"
            self._faults.append(Fault(method, times, drop=drop, contains=contains))

    def slow(
        self, method: str, seconds: float, times: int = 1, contains: str | None = None
    ) -> None:
        """Do the next `times` calls of `method` at once but answer them `seconds` later (the
        user sees the edit while the bot still waits for Telegram's answer)."""
        with self._cond:
            self._faults.append(Fault(method, times, delay=seconds, contains=contains))

    def block(self, user_id: int) -> None:
        """The user blocked the bot: every message to them is refused with 403."""
        self.blocked.add(user_id)

    def never_started(self, user_id: int) -> None:
        """The user never pressed Start: the bot cannot write to them first (403)."""
        self.not_started.add(user_id)

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        chat = params.get("chat_id")
        with self._cond:
            if method in SENDING and chat is not None and int(chat) in self.blocked:
                return Fault(method, 1, error=ApiError(403, BLOCKED))
            if (
                chat is not None
                and str(chat).lstrip("-").isdigit()
                and int(chat) in self.unknown_chats
            ):
                return Fault(method, 1, error=ApiError(400, "Bad Request: chat not found"))
            if method in SENDING and chat is not None and int(chat) in self.not_started:
                return Fault(method, 1, error=ApiError(403, NOT_STARTED))
            for fault in self._faults:
                if fault.matches(method, params):
                    fault.times -= 1
                    self.faults_served.append(
                        (method, fault.drop or (f"{fault.error.code}" if fault.error else "slow"))
                    )
                    self._cond.notify_all()
                    return fault
        return None

    def pending_faults(self) -> int:
        """How many injected failures have not been served yet."""
        with self._cond:
            return sum(f.times for f in self._faults)

    def _push(self, update: dict[str, Any]) -> None:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()

    # --- waiting for the bot ---------------------------------------------------------

    def wait_for(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        """Wait until check() returns something true; return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = check()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = [m.get("text", "")[:200] for m in self.messages.values()][-4:]
                    calls = [c[0] for c in self.calls][-15:]
                    raise AssertionError(f"timed out; calls: {calls}; last texts: {texts}")
                self._cond.wait(min(left, 0.2))

    def answer_of(self, query_id: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for the bot to answer a callback query (in time); return the answer's fields."""
        return self.wait_for(lambda: self._callbacks[query_id].get("answer"), timeout)

    def last_message(self, chat_id: int, contains: str = "", timeout: float = 30) -> dict[str, Any]:
        """Wait for a message (sent or edited) in a chat whose text contains `contains`."""

        def find() -> dict[str, Any] | None:
            for (chat, _), message in sorted(self.messages.items(), key=lambda i: -i[1]["changed"]):
                if chat == chat_id and contains in message.get("text", ""):
                    return message
            return None

        return copy.deepcopy(self.wait_for(find, timeout))

    def now_shows(
        self, message: dict[str, Any], contains: str, timeout: float = 60
    ) -> dict[str, Any]:
        """Wait until this very message (edited by the bot) shows `contains`; return it."""
        key = (message["chat"]["id"], message["message_id"])
        found = self.wait_for(
            lambda: self.messages[key] if contains in self.messages[key].get("text", "") else None,
            timeout,
        )
        return copy.deepcopy(found)  # what the user saw then; the bot may edit it later

    def button(self, message: dict[str, Any], label: str) -> str:
        """The callback_data of the button whose text contains `label`."""
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if label in button["text"]:
                    return str(button["callback_data"])
        raise AssertionError(f"no button {label!r} in {message.get('reply_markup')}")

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    # --- the HTTP side ----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                download = re.fullmatch(
                    rf"/file/bot{re.escape(fake.token)}/documents/(\w+)", unquote(self.path)
                )
                if download and download.group(1) in fake._files:
                    return self._send_bytes(fake._files[download.group(1)])
                match = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path.split("?")[0])
                if not match:
                    return self._reply(
                        404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    )
                token, method = match.groups()
                if token != fake.token:
                    return self._reply(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                try:
                    params, files = _parse_body(self.headers.get("Content-Type", ""), body)
                    fault = fake._take_fault(method, params)
                    if fault is not None and fault.error is not None:
                        raise fault.error
                    if fault is not None and fault.drop == "before":
                        return self._hang_up()
                    result = fake._call(method, params, files)
                except ApiError as error:
                    fake.errors.append((method, error.description))
                    return self._reply(error.code, error.payload())
                if fault is not None and fault.drop == "after":  # the work done, no answer
                    return self._hang_up()
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                return self._reply(200, {"ok": True, "result": result})

            def _send_bytes(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _hang_up(self) -> None:
                """Close the connection mid-request: the client gets no answer at all."""
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _call(self, method: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return self._get_updates(params)
        with self._cond:
            self.calls.append((method, params))
            self._cond.notify_all()
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        with self._cond:
            result = handler(params, files)
            self._cond.notify_all()
        return result

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 2.0)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self._updates[: int(params.get("limit", 100) or 100)])

    def _m_getMe(self, _params: dict[str, Any], _files: dict[str, Any]) -> dict[str, Any]:
        return {"id": 1, "is_bot": True, "first_name": "PMO Recovery", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    def _m_deleteWebhook(self, _p: dict[str, Any], _f: dict[str, Any]) -> bool:
        return True

    def _m_setMyCommands(self, params: dict[str, Any], _f: dict[str, Any]) -> bool:
        for command in params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        scope = params.get("scope") or {"type": "default"}
        if scope["type"] not in ("default", "all_private_chats", "chat"):
            raise ApiError(400, "Bad Request: unsupported scope type")
        key = f"chat:{scope['chat_id']}" if scope["type"] == "chat" else scope["type"]
        if params.get("language_code"):
            key += f"@{params['language_code']}"
        self.commands[key] = [c["command"] for c in params["commands"]]
        self.command_descriptions[key] = {
            c["command"]: c["description"] for c in params["commands"]
        }
        return True

    def commands_for(self, chat_id: int) -> list[str]:
        """The command list a user sees in their private chat (its own scope, else default)."""
        return self.commands.get(f"chat:{chat_id}", self.commands.get("default", []))

    def _m_sendChatAction(self, params: dict[str, Any], _f: dict[str, Any]) -> bool:
        if params.get("action") not in ("typing", "upload_document", "upload_photo"):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((int(params["chat_id"]), str(params["action"])))
        return True

    def _m_sendMessage(self, params: dict[str, Any], _f: dict[str, Any]) -> dict[str, Any]:
        text = self._text(params.get("text"), params.get("parse_mode"), 4096)
        self._check_markup(params.get("reply_markup"))
        chat = int(params["chat_id"])
        message = {
            "message_id": next(self._ids),
            "chat": {"id": chat, "type": "private" if chat > 0 else "group"},
            "date": int(time.time()),
            "text": text,
            "raw": params.get("text"),
            "changed": time.monotonic(),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat, message["message_id"])] = message
        return {k: v for k, v in message.items() if k not in ("raw", "changed")}

    def _m_editMessageText(self, params: dict[str, Any], _f: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = self._text(params.get("text"), params.get("parse_mode"), 4096)
        self._check_markup(params.get("reply_markup"))
        message = self.messages[key]
        markup = params.get("reply_markup")
        if message["text"] == text and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        message.update(text=text, raw=params.get("text"), changed=time.monotonic())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return {k: v for k, v in message.items() if k not in ("raw", "changed")}

    def tamper(self, file_id: str, content: bytes) -> None:
        """Change what a file holds (as a damaged copy would)."""
        with self._cond:
            self._files[file_id] = content

    def chat_type(self, chat: int) -> str:
        """A negative id: a channel when it is one of `channels`, else a group."""
        return "channel" if chat in self.channels else "group"

    def _m_deleteMessage(self, params: dict[str, Any], _f: dict[str, Any]) -> bool:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.documents = [d for d in self.documents if d.get("message") != key]
        return True

    def _m_getFile(self, params: dict[str, Any], _f: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self._files[file_id])
        if size > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size,
                "file_path": f"documents/{file_id}"}  # fmt: skip

    def _m_answerCallbackQuery(self, params: dict[str, Any], _f: dict[str, Any]) -> bool:
        query = self._callbacks.get(str(params.get("callback_query_id")))
        if query is None or query["answered"]:
            raise ApiError(400, TOO_OLD)
        deadline = self.callback_deadline
        if deadline is not None and time.monotonic() - query["at"] > deadline:
            raise ApiError(400, TOO_OLD)
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = params
        return True

    def _m_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        document = files.get("document")
        if document is None:
            raise ApiError(400, "Bad Request: there is no document in the request")
        if len(document["content"]) > UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        caption = self._text(params.get("caption", ""), params.get("parse_mode"), 1024, empty=True)
        chat = int(params["chat_id"])
        file_id = f"sent{next(self._ids)}"
        self._files[file_id] = document["content"]  # served by getFile, as Telegram does
        message = {
            "message_id": next(self._ids),
            "chat": {"id": chat, "type": "private" if chat > 0 else self.chat_type(chat)},
            "date": int(time.time()),
            "caption": caption,
            "document": {"file_id": file_id, "file_unique_id": f"u{file_id}",
                         "file_name": document["filename"], "file_size": len(document["content"])},
            "changed": time.monotonic(),
        }  # fmt: skip
        self.documents.append(
            {
                "message": (chat, message["message_id"]),
                "file_id": file_id,
                "chat": chat,
                "filename": document["filename"],
                "content": document["content"],
                "caption": caption,
            }
        )
        self.messages[(chat, message["message_id"])] = message
        return {k: v for k, v in message.items() if k != "changed"}

    def _text(self, raw: Any, mode: Any, limit: int, empty: bool = False) -> str:
        text = "" if raw is None else str(raw)
        if str(mode).upper() == "HTML":
            text = parse_html(text)
        if not text.strip() and not empty:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            raise ApiError(
                400,
                "Bad Request: message is too long"
                if limit > 1024
                else "Bad Request: message caption is too long",
            )
        return text

    def _check_markup(self, markup: Any) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read form or multipart fields (their values are JSON, strings are plain)."""
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_param("filename", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if filename:
                files[str(name)] = {"filename": filename, "content": payload}
            else:
                fields[str(name)] = payload.decode()
    elif content_type.startswith("application/json"):
        return json.loads(body or b"{}"), files
    else:
        fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    params: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("reply_markup", "commands", "allowed_updates", "link_preview_options", "scope"):
            params[key] = json.loads(value)
        else:
            params[key] = value
    # PTB sends an attached file as attach://<name>: map it back
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            files[key] = files.pop(value[9:])
    return params, files
