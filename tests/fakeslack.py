"""A local fake of Slack's incoming webhooks: a real HTTP server on 127.0.0.1 that answers like
Slack (200 `ok`, plain-text error codes, 429 with Retry-After, slow answers) and records what it
received. Each webhook name gets a script of answers; the last one repeats.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

SECRET = "XyZsecretToken0123456789"  # part of every fake webhook URL; must never leak


class Answer(NamedTuple):
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = {}
    delay: float = 0.0


OK = Answer()
RATE_LIMITED = Answer(
    429, '{"ok":false,"error":"rate_limited","retry_after":1}', {"Retry-After": "1"}
)
SERVER_ERROR = Answer(500, "rollup_error")
NOT_FOUND = Answer(404, "channel_not_found")
ARCHIVED = Answer(410, "channel_is_archived")
INVALID_PAYLOAD = Answer(400, "invalid_payload")
INVALID_TOKEN = Answer(403, "invalid_token")


class Received(NamedTuple):
    name: str
    headers: dict[str, str]
    payload: Any
    proxied: bool  # the request line held an absolute URL: it came through an HTTP proxy
    at: float  # time.monotonic() when it was accepted


class FakeSlack:
    """`rate_interval`: like Slack, answer 429 + Retry-After to a webhook posted to again sooner."""

    def __init__(
        self, rate_interval: float | None = None, tls: tuple[str, str] | None = None
    ) -> None:
        self.rate_interval = rate_interval
        self.outage_until = 0.0  # answer 500 rollup_error until this time.monotonic()
        self.last_accepted: dict[str, float] = {}
        self.rate_limited = 0
        self.scripts: dict[str, list[Answer]] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:  # (certificate, key) PEM files: serve HTTPS, as Slack does
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, name: str) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}/services/T0FAKE/B0FAKE/{SECRET}{name}"

    def script(self, name: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[name] = list(answers)

    def payloads(self, name: str) -> list[Any]:
        with self.lock:
            return [r.payload for r in self.received if r.name == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_answer(self, name: str) -> Answer:
        with self.lock:
            now = time.monotonic()
            if now < self.outage_until:
                return SERVER_ERROR
            if self.rate_interval is not None:
                wait = self.last_accepted.get(name, -1e9) + self.rate_interval - now
                if wait > 0:
                    self.rate_limited += 1
                    retry = max(1, round(wait + 0.49))
                    body = json.dumps({"ok": False, "error": "rate_limited", "retry_after": retry})
                    return Answer(429, body, {"Retry-After": str(retry)})
            script = self.scripts.get(name) or [OK]
            answer = script.pop(0) if len(script) > 1 else script[0]
            if answer.status == 200:
                self.last_accepted[name] = now
            return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                name = self.path.rsplit("/", 1)[-1].removeprefix(SECRET)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                answer = fake._next_answer(name)
                if answer.status == 200:
                    with fake.lock:
                        fake.received.append(
                            Received(
                                name,
                                dict(self.headers),
                                json.loads(raw.decode("utf-8")),
                                self.path.startswith("http://"),
                                time.monotonic(),
                            )
                        )
                time.sleep(answer.delay)
                body = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
