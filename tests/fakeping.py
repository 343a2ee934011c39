"""A local fake of a Healthchecks-style ping endpoint: a real HTTP server on 127.0.0.1 that
answers `OK` (or what it is scripted to: 500, a hang past any timeout) and records each ping's
path and body. Its URLs hold CHECK, the check's UUID: a secret that must never leak."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

CHECK = "5f1c0a8e-7d2b-4c39-9e61-0b4d7a2f3c18"  # the check's UUID: the secret part of its URL


class Ping(NamedTuple):
    path: str  # after the check: "" (success) or "/fail"
    body: str
    content_type: str


class FakePing:
    """`status`: the answer's status; `hang`: seconds to wait before answering (a server that
    takes the request and does not answer)."""

    def __init__(self, status: int = 200, hang: float = 0.0) -> None:
        self.status = status
        self.hang = hang
        self.pings: list[Ping] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/{CHECK}"

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0].removeprefix(f"/ping/{CHECK}")
                with fake.lock:
                    fake.pings.append(
                        Ping(path, raw.decode("utf-8"), self.headers.get("Content-Type", ""))
                    )
                if fake.hang:
                    fake.closing.wait(fake.hang)
                body = b"OK" if fake.status == 200 else b"internal error"
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (a hang past its timeout)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler
