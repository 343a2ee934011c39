"""A local fake of Slack's incoming webhooks: a real HTTP server on 127.0.0.1 that answers like
Slack (200 `ok`, plain-text error codes, 429 with Retry-After, slow answers) and records what it
received. Each webhook name gets a script of answers; the last one repeats.

It also misbehaves on purpose, as proxies and broken networks do: an answer may trickle its
header bytes (`trickle`), echo the webhook URL back (`{url}` in a body or header), or come only
for payloads holding some text (`refuse`: a poisoned message in a digest).
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
    body: str = "ok"  # "{url}" is replaced by the full URL the request was sent to
    headers: dict[str, str] = {}
    delay: float = 0.0  # seconds before answering (the payload counts as received at once)
    trickle: float = 0.0  # seconds between header bytes: a server that never quite answers


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


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a storm of clients connecting at once (benchmarks)
    # would see dropped connections and retransmits, a fault of the fake, not of the client.
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up before its answer (a storm's timeouts): not the fake's fault,
        and hundreds of tracebacks would bury the benchmark's table."""


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
        self.refusals: dict[str, tuple[str, Answer]] = {}  # name: (text in the payload, answer)
        self.requests = 0  # every request, answered or not
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
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

    def refuse(self, name: str, text: str, answer: Answer) -> None:
        """Answer `answer` to every post to `name` whose payload contains `text`."""
        with self.lock:
            self.refusals[name] = (text, answer)

    def payloads(self, name: str) -> list[Any]:
        with self.lock:
            return [r.payload for r in self.received if r.name == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_answer(self, name: str, raw: bytes) -> Answer:
        with self.lock:
            self.requests += 1
            refusal = self.refusals.get(name)
            if refusal and refusal[0].encode() in raw:
                return refusal[1]
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
                answer = fake._next_answer(name, raw)
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
                url = f"{fake.scheme}://{self.headers.get('Host')}{self.path}"
                if answer.trickle:
                    self._trickle(answer.trickle)
                    return
                body = answer.body.replace("{url}", url).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value.replace("{url}", url))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self, interval: float) -> None:
                """One header byte per `interval` seconds, for a minute: each read gets a byte in
                time, so only a total deadline ends the request."""
                line = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
                try:
                    for byte in line[: int(60 / interval)]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler
