"""A local fake of PagerDuty's Events API v2: a real HTTP server on 127.0.0.1 serving
`POST /v2/enqueue` that checks each event as PagerDuty documents it and keeps alerts by dedup key.

- 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` for a valid event;
- 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a
  routing key that is not 32 characters, an unknown event_action, a trigger without summary,
  source or a known severity, a summary over 1,024 characters or a dedup key over 255;
- alerts: a trigger opens one for its (routing key, dedup key) unless one is open, which it joins;
  a resolve closes the open one, or is dropped when there is none (02-Trigger-Events.md);
- a script of answers (status, body, headers) replaces the next answers, for faults.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

# The routing key of every test: must never leak into an output, log or stored file.
ROUTING_KEY = "R0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
SEVERITIES = ("critical", "error", "warning", "info")


class Answer(NamedTuple):
    status: int
    body: str
    headers: dict[str, str] = {}


RATE_LIMITED = Answer(429, '{"status":"throttle event","message":"Requests for this service are arriving too quickly."}')  # fmt: skip
SERVER_ERROR = Answer(502, "<html><title>502 Bad Gateway</title></html>")
FORBIDDEN = Answer(403, '{"status":"Forbidden","message":"Forbidden"}')
INVALID = Answer(
    400,
    '{"status":"invalid event","message":"Event object is invalid",'
    "\"errors\":[\"'payload.severity' is invalid (must be one of the following: 'critical', "
    "'warning', 'error' or 'info')\"]}",
)


class Received(NamedTuple):
    event: dict[str, Any]
    status: int  # what the fake answered
    content_type: str


class Alert(NamedTuple):
    dedup_key: str
    triggers: list[dict[str, Any]]  # the trigger events folded into it
    resolved: list[bool]  # [True] once resolved (a list: NamedTuples are immutable)


class FakePagerDuty:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.alerts: list[Alert] = []
        self.script: list[Answer] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"

    def answer_next(self, *answers: Answer) -> None:
        with self.lock:
            self.script = list(answers)

    def accepted(self) -> list[dict[str, Any]]:
        """The events answered 202, in the order they came."""
        with self.lock:
            return [r.event for r in self.received if r.status == 202]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- PagerDuty's behaviour ---------------------------------------------------------------

    def handle(self, body: bytes, content_type: str) -> Answer:
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        with self.lock:
            answer = self.script.pop(0) if self.script else None
            if answer is None:
                answer = self._process(event)
            self.received.append(Received(event, answer.status, content_type))
        return answer

    def _process(self, event: Any) -> Answer:
        errors = problems(event)
        if errors:
            return Answer(400, json.dumps(_invalid(errors)))
        key = event.get("dedup_key") or uuid.uuid4().hex
        self._apply(event, key)
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return Answer(202, json.dumps(body))

    def _apply(self, event: dict[str, Any], key: str) -> None:
        open_alert = next((a for a in self.alerts if a.dedup_key == key and not a.resolved), None)
        if event["event_action"] == "trigger":
            if open_alert is None:
                self.alerts.append(Alert(key, [event], []))
            else:
                open_alert.triggers.append(event)
        elif event["event_action"] == "resolve" and open_alert is not None:
            open_alert.resolved.append(True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v2/enqueue":
                    answer = Answer(404, '{"status":"Not Found","message":"Not Found"}')
                else:
                    answer = fake.handle(body, self.headers.get("Content-Type", ""))
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _invalid(errors: list[str]) -> dict[str, Any]:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def problems(event: Any) -> list[str]:
    """What PagerDuty would refuse in an event (02-Trigger-Events.md, 01-Overview.md)."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' is too long")
    if action == "trigger":
        errors += _payload_problems(event.get("payload"))
    elif action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing")
    return errors


def _payload_problems(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing"]
    errors = [f"'payload.{k}' is missing" for k in ("summary", "source") if not payload.get(k)]
    if len(str(payload.get("summary", ""))) > 1024:
        errors.append("'payload.summary' is too long (max 1024 characters)")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid")
    return errors
