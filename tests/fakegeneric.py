"""A local fake of any JSON endpoint (a Teams Workflows trigger, a generic webhook): a real HTTP
server on 127.0.0.1 that records each request (method, path with query, headers, JSON body) and
answers from a script per path; the last answer repeats.

The paths look like a Workflows trigger URL: the `sig=` query is the secret part, as in Power
Automate's URLs (destinations.md 2.2).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# The secret parts of the fake URLs and headers: never in any output, log or stored file.
SIG = "Zq9sEcReTsIgNaTuRe0123456789abcdefXYZ"
TOKEN = "Bearer tOkEn-5ecret-abcdef0123456789"
FLOW_PATH = "/workflows/0d9f7d3c/triggers/manual/paths/invoke"


class Answer(NamedTuple):
    status: int = 202
    body: str = ""
    headers: dict[str, str] = {}


ACCEPTED = Answer()
OK = Answer(200, "")
BAD_CARD = Answer(400, '{"error":{"code":"InvalidRequestContent","message":"bad card"}}')
FLOW_OFF = Answer(403, '{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"off"}}')
NOT_FOUND = Answer(404, '{"error":{"code":"WorkflowNotFound","message":"gone"}}')
THROTTLED = Answer(429, "", {"Retry-After": "1"})
SERVER_ERROR = Answer(502, "<html><title>Bad Gateway</title></html>")


class Request(NamedTuple):
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the JSON body, parsed
    status: int  # what the fake answered


class FakeGeneric:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = FLOW_PATH) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}{path}?api-version=1&sp=%2Ftriggers%2Frun&sig={SIG}"

    def script(self, path: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[path] = list(answers)

    def bodies(self, path: str = FLOW_PATH, status: int | None = None) -> list[Any]:
        with self.lock:
            return [
                r.body
                for r in self.requests
                if r.path == path and (status is None or r.status == status)
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, path: str, default: Answer) -> Answer:
        with self.lock:
            script = self.scripts.get(path) or [default]
            return script.pop(0) if len(script) > 1 else script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                parts = urlsplit(self.path)
                default = ACCEPTED if parts.path == FLOW_PATH else OK
                answer = fake._answer(parts.path, default)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake.lock:
                    fake.requests.append(
                        Request(self.command, parts.path, parts.query, headers, body, answer.status)
                    )
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
