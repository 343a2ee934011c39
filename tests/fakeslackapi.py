"""A local fake of Slack's Web API for bot tokens: `chat.postMessage` and `chat.update` on a real
HTTP server on 127.0.0.1, answering like Slack (HTTP 200 with `{"ok": false, "error": ...}` for
errors, 429 + Retry-After when scripted) and keeping the channel's messages, threads and edits.

It misbehaves on purpose: `script(method, *answers)` queues answers for a method (the last one
repeats; `None` means "behave"), `delete(ts)` makes a parent vanish (chat.update then answers
message_not_found), and any request without the right bearer token gets `invalid_auth`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

TOKEN = "xoxb-1111-2222-SeCrEtBoTtOkEn0123"  # must never leak


class Reply(NamedTuple):
    status: int = 200
    body: dict[str, Any] = {"ok": True}
    headers: dict[str, str] = {}


def error(code: str, status: int = 200) -> Reply:
    return Reply(status, {"ok": False, "error": code})


class Message:
    def __init__(self, ts: str, payload: dict[str, Any]) -> None:
        self.ts = ts
        self.payload = payload
        self.edits: list[dict[str, Any]] = []
        self.deleted = False

    @property
    def current(self) -> dict[str, Any]:
        return self.edits[-1] if self.edits else self.payload

    @property
    def thread_ts(self) -> str | None:
        return self.payload.get("thread_ts")


class FakeSlackApi:
    def __init__(self, channel: str = "C0123ABCD") -> None:
        self.channel = channel
        self.messages: list[Message] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.scripts: dict[str, list[Reply | None]] = {}
        self.lock = threading.Lock()
        self.counter = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def script(self, method: str, *replies: Reply | None) -> None:
        with self.lock:
            self.scripts[method] = list(replies)

    def delete(self, ts: str) -> None:
        with self.lock:
            self.find(ts).deleted = True

    def find(self, ts: str) -> Message:
        return next(m for m in self.messages if m.ts == ts)

    def top_level(self) -> list[Message]:
        return [m for m in self.messages if m.thread_ts is None and not m.deleted]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == ts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, method: str, payload: dict[str, Any], auth: str) -> Reply:
        with self.lock:
            self.calls.append((method, payload))
            script = self.scripts.get(method)
            scripted = (script.pop(0) if len(script) > 1 else script[0]) if script else None
            if scripted is not None:
                return scripted
            if auth != f"Bearer {TOKEN}":
                return error("invalid_auth")
            if payload.get("channel") != self.channel:
                return error("channel_not_found")
            if method == "chat.postMessage":
                return self._post(payload)
            if method == "chat.update":
                return self._update(payload)
            return error("unknown_method", 404)

    def _post(self, payload: dict[str, Any]) -> Reply:
        thread = payload.get("thread_ts")
        if thread is not None:
            parent = next((m for m in self.messages if m.ts == thread), None)
            if parent is None or parent.deleted:
                return error("thread_not_found")
        self.counter += 1
        ts = f"1700000000.{self.counter:06d}"
        self.messages.append(Message(ts, payload))
        return Reply(body={"ok": True, "channel": self.channel, "ts": ts, "message": {}})

    def _update(self, payload: dict[str, Any]) -> Reply:
        target = next((m for m in self.messages if m.ts == payload.get("ts")), None)
        if target is None or target.deleted:
            return error("message_not_found")
        target.edits.append(payload)
        return Reply(body={"ok": True, "channel": self.channel, "ts": target.ts})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                method = self.path.rsplit("/", 1)[-1]
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(raw.decode("utf-8"))
                reply = fake._answer(method, payload, self.headers.get("Authorization", ""))
                body = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
