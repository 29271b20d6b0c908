"""A local HTTP server that records every request (webhooks, Apprise json://, health pings)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Caught:
    method: str
    path: str
    body: bytes


class Catcher:
    """Started by a test on 127.0.0.1, stopped by it; answers `status` to everything."""

    def __init__(self, status: int = 200) -> None:
        self.caught: list[Caught] = []
        self.status = status
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                catcher.caught.append(Caught(self.command, self.path, body))
                self.send_response(catcher.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_PUT = _record

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        # shutdown() waits for serve_forever's next look at its flag: 0.05 s, not 0.5 s
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Catcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 30) -> list[Caught]:
        deadline = time.monotonic() + timeout
        while len(self.caught) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.caught)
