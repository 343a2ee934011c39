"""A local fake of Healthchecks' ping API: a real HTTP server on 127.0.0.1 that records each
ping (method, path, query, headers, body) and answers like Healthchecks (200 "OK", 404 "not
found", 400, 409, ...), from a script of answers per check; the last one repeats.

Paths are `/ping/<uuid>[/start|/fail|/log]`, as a self-hosted Healthchecks serves them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

# The secret part of every fake ping URL: must never leak into an output, log or stored file.
CHECK = "8f2d6c1e-5b7a-4c3d-9e1f-0a2b3c4d5e6f"


class Answer(NamedTuple):
    status: int = 200
    body: str = "OK"
    headers: dict[str, str] = {}


OK = Answer()
NOT_FOUND = Answer(404, "not found")
BAD_URL = Answer(400, "invalid url format")
AMBIGUOUS = Answer(409, "ambiguous slug")
SERVER_ERROR = Answer(500, "Server Error (500)")
RATE_LIMITED = Answer(200, "OK (rate limited)")


class Ping(NamedTuple):
    method: str
    check: str  # the UUID in the path
    signal: str  # "success", "start", "fail", "log"
    query: dict[str, list[str]]
    content_type: str
    body: bytes
    status: int  # what the fake answered

    @property
    def rid(self) -> str | None:
        return self.query.get("rid", [None])[0]


class FakeHealthchecks:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.pings: list[Ping] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, check: str = CHECK) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/{check}"

    def script(self, check: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[check] = list(answers)

    def accepted(self) -> list[Ping]:
        """The pings answered 200, in the order they came."""
        with self.lock:
            return [p for p in self.pings if p.status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, check: str) -> Answer:
        with self.lock:
            script = self.scripts.get(check) or [OK]
            return script.pop(0) if len(script) > 1 else script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self._ping(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def do_GET(self) -> None:  # noqa: N802
                self._ping(b"")

            def _ping(self, body: bytes) -> None:
                parts = urlsplit(self.path)
                segments = parts.path.strip("/").split("/")  # ping, uuid[, signal]
                check = segments[1] if len(segments) > 1 else ""
                signal = segments[2] if len(segments) > 2 else "success"
                answer = fake._answer(check)
                with fake.lock:
                    fake.pings.append(
                        Ping(
                            self.command,
                            check,
                            signal,
                            parse_qs(parts.query),
                            self.headers.get("Content-Type", ""),
                            body,
                            answer.status,
                        )
                    )
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
