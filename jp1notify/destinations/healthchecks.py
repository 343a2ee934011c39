"""`kind = "healthchecks"`: a Healthchecks check (healthchecks.io or self-hosted) as the
dead-man's switch of one critical jobnet.

Each event routed here is one ping of the check's ping URL (the destination's secret: its UUID
or ping key is the credential), a POST whose plain-text body Healthchecks shows in the check's log:
- 4102 jobnet started: `<ping URL>/start`, so that a run that never ends is caught by the grace time;
- 4103 normal end, 4108 warning end: `<ping URL>` (success; a recovery is one too);
- any other event whose level is error (4104 abnormal end, 4131, 4142, jp1notify's MISSED, ...):
  `<ping URL>/fail`, so Healthchecks alerts at once;
- anything else: `<ping URL>/log`, recorded in the check's log without changing its state.
The check's own schedule (Cron, time zone, grace) catches a jobnet that never started at all.

Start, success and fail of a jobnet run that has an execution ID carry `?rid=<uuid>`, a UUIDv5 of
`service:jobnet:exec_id` in RUN_NAMESPACE, so Healthchecks pairs a run's start and end (and
measures its duration) even when runs overlap; a nested jobnet has its own path, so its pings
never pair with its parent's.

Facts (../shared/reference/destinations.md section 5; healthchecks/healthchecks hc/api/views.py
`ping`, templates/docs/http_api.md): the answer is 200 "OK"; 404 "not found" for an unknown check;
400 "invalid url format" / "invalid uuid format"; 409 "ambiguous slug" (slug URLs). "If you ping a
check more than 5 times per minute, some of the requests may get rate limited and not recorded":
the open-source `ping` view has no rate limit, the hosted service's answer to a rate-limited ping
is not documented (others' clients treat a 200 "OK (rate limited)" as not recorded, and a 429 is
possible behind a proxy), so both are retried. The body is stored up to Ping-Body-Limit bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify.delivery import (
    DELIVERED,
    RETRY,
    Disposition,
    Verdict,
    cut_text,
    describe_body,
    retry_after,
)
from jp1notify.destinations import Item, Sent, Thread
from jp1notify.runs import START_EVENT

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.event import Event
    from jp1notify.message import Digest, DigestItem, Rendered

# The namespace of run IDs: uuid5(NAMESPACE_URL, "urn:jp1notify:healthchecks:run"). Fixed for
# ever: a start pinged by one version must pair with the end pinged by the next.
RUN_NAMESPACE = uuid.UUID("fba50d99-bc9a-572a-88d6-de5613180a32")
# The self-hosted default PING_BODY_LIMIT (hc/settings.py; the hosted service keeps 100,000):
# bytes beyond it are dropped by Healthchecks, so they are not sent.
BODY_LIMIT = 10_000
CUT_MARK = "…"
SUCCESS_EVENTS = frozenset({"4103", "4108"})  # normal end, warning end (runs.END_EVENTS)
WARNING_END = "4108"
# "more than 5 times per minute ... may get rate limited" (http_api.md): without a Retry-After,
# wait a fifth of a minute before the next ping of this check.
RATE_WAIT = 12.0
PING_URL = "(ping URL)"  # what the dry run shows instead of the secret


class Signal(StrEnum):
    """What a ping tells the check (Healthchecks' endpoints)."""

    START = "start"
    SUCCESS = "success"
    FAIL = "fail"
    LOG = "log"


# Each signal's path after the ping URL.
SUFFIXES = {Signal.START: "/start", Signal.SUCCESS: "", Signal.FAIL: "/fail", Signal.LOG: "/log"}
PAIRED = frozenset({Signal.START, Signal.SUCCESS, Signal.FAIL})  # signals that carry a run ID

SIGNAL_TEXT = {
    "en": {
        Signal.START: "Healthchecks signal: start",
        Signal.SUCCESS: "Healthchecks signal: success",
        Signal.FAIL: "Healthchecks signal: fail",
        Signal.LOG: "Healthchecks signal: log (the check's state does not change)",
        WARNING_END: "Healthchecks signal: success (the jobnet ended with warning)",
    },
    "ja": {
        Signal.START: "Healthchecks シグナル: start(開始)",
        Signal.SUCCESS: "Healthchecks シグナル: success(成功)",
        Signal.FAIL: "Healthchecks シグナル: fail(失敗)",
        Signal.LOG: "Healthchecks シグナル: log(チェックの状態は変わりません)",
        WARNING_END: "Healthchecks シグナル: success(ジョブネットは警告終了)",
    },
}
LEVEL_LABELS = {"en": "Level", "ja": "レベル"}


class Ping(NamedTuple):
    """One ping as sent (and as the dry run shows it)."""

    signal: Signal
    rid: str | None
    path: str  # after the ping URL: the signal's path and the run ID
    body: str
    cut: bool  # the body was cut to BODY_LIMIT


def ping_for(item: Item) -> Ping:
    """The ping of one item: a pure function of it."""
    signal = signal_of(item.event.event_id, item.classification.level)
    rid = run_id(item.event, signal)
    body, cut = ping_body(item, signal)
    return Ping(signal, rid, ping_path(signal, rid), body, cut)


def signal_of(event_id: str | None, level: str) -> Signal:
    """The signal of an event: its ID first (a jobnet's start and ends), then its level."""
    if event_id == START_EVENT:
        return Signal.START
    if event_id in SUCCESS_EVENTS:
        return Signal.SUCCESS
    return Signal.FAIL if level == "error" else Signal.LOG


def run_id(event: Event, signal: Signal) -> str | None:
    """The run ID pairing a jobnet run's pings, or None (a log ping, no execution ID)."""
    unit = event.unit
    if signal not in PAIRED or not unit.exec_id or not event.jobnet:
        return None
    return str(uuid.uuid5(RUN_NAMESPACE, f"{unit.service or ''}:{event.jobnet}:{unit.exec_id}"))


def ping_path(signal: Signal, rid: str | None) -> str:
    """What follows the ping URL: the signal's path and the run ID."""
    return SUFFIXES[signal] + (f"?rid={rid}" if rid else "")


def ping_body(item: Item, signal: Signal) -> tuple[str, bool]:
    """The ping's plain-text body (the event as the check's log shows it), within BODY_LIMIT
    bytes, and whether it was cut."""
    from jp1notify.message import LABELS

    event = item.event
    language = item.language if item.language in SIGNAL_TEXT else "en"
    labels = LABELS[language]
    level = item.classification.level
    kind = event.kind
    name = (kind.name_ja if language == "ja" else kind.name_en) if kind else None
    title = name or labels["unknown_event"].format(id=event.event_id or "?")
    signal_key = WARNING_END if event.event_id == WARNING_END else signal
    fields = [
        (labels["event"], " ".join(filter(None, (event.event_id, event.message_id)))),
        (labels["unit"], _unit(event)),
        (labels["exec_id"], event.unit.exec_id),
        (labels["host"], event.host),
        (labels["time"], " ".join(filter(None, (event.date, event.time)))),
    ]
    lines = [
        f"[{labels.get(level, level.upper())}] {title}",
        SIGNAL_TEXT[language][signal_key],
        *(f"{label}: {value}" for label, value in fields if value),
        f"{LEVEL_LABELS[language]}: {level}",
    ]
    if event.message:
        lines += ["", event.message]
    return fit_bytes("\n".join(lines) + "\n", BODY_LIMIT)


def _unit(event: Event) -> str | None:
    path = event.unit.path
    if not path:
        return None
    return f"{event.unit.service}:{path}" if event.unit.service else path


def fit_bytes(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` UTF-8 bytes, cut at a character boundary and marked with "…"."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    room = limit - len(CUT_MARK.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + CUT_MARK, True


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify Healthchecks' answer to a ping (the body and headers already redacted)."""
    text = body.strip()
    lower = text.lower()
    ok = 200 <= status < 300
    if status == 429 or (ok and "rate limit" in lower):
        wait = retry_after(headers, text) if "retry-after" in headers else RATE_WAIT
        return Verdict(
            RETRY,
            f"rate limited by Healthchecks (HTTP {status}; more than 5 pings a minute to one "
            "check are not recorded): the ping is sent again",
            wait,
        )
    if status == 404 or (ok and lower.startswith("ok") and "not found" in lower):
        return Verdict(Disposition.GONE, f"HTTP {status}: {NO_CHECK}")
    if ok and (text.startswith("OK") or status == 201):  # 201 "Created": auto-provisioned
        return Verdict(DELIVERED, "ok")
    refusal = REFUSALS.get(status)
    if refusal:
        disposition, hint = refusal(lower)
        return Verdict(
            disposition, f"Healthchecks answered HTTP {status} {cut_text(text)!r}: {hint}"
        )
    return _not_healthchecks(status, text, headers)


NO_CHECK = "Healthchecks has no check with this ping URL: copy it again from the check's page"


def _bad_request(lower: str) -> tuple[Disposition, str]:
    if "uuid" in lower:  # the run ID: jp1notify's own making
        return Disposition.INVALID, "it refused the run ID; report it with the --dry-run output"
    return Disposition.GONE, (
        "the ping URL's format is wrong (a slug must be lower-case): copy it again from the "
        "check's page"
    )


def _ambiguous(lower: str) -> tuple[Disposition, str]:
    return Disposition.GONE, (
        "several checks of the project have the slug of this ping URL: give the check a slug of "
        "its own, or use its UUID ping URL"
    )


REFUSALS = {400: _bad_request, 409: _ambiguous}


def _not_healthchecks(status: int, text: str, headers: Mapping[str, str]) -> Verdict:
    """An answer that is not one of Healthchecks' (a server error, a proxy, a captive portal):
    retried, so that the check's pings stay in order (a later ping never overtakes it)."""
    if status >= 500 or status == 408:
        wait = retry_after(headers, text) if "retry-after" in headers else None
        return Verdict(RETRY, f"Healthchecks answered HTTP {status}, {describe_body(text)}", wait)
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    what = f"an answer that is not Healthchecks' (HTTP {status}, {describe_body(text)})"
    if 300 <= status < 400:
        return Verdict(RETRY, f"{what}: Healthchecks does not redirect pings; check http.proxy")
    return Verdict(RETRY, f"{what}; a proxy or filter may be blocking it: check http.proxy")


class Healthchecks:
    """A destination of kind healthchecks, holding its ping URL."""

    threads = False
    digests = False  # one signal per event, in order

    def __init__(self, destination: Destination, config: Config, ping_url: str) -> None:
        self.name = destination.name
        self.config = config
        self.url = ping_url.rstrip("/")

    def render(self, item: Item) -> Rendered:
        """What the dry run shows: the signal, the run ID, the request (never the URL itself)."""
        from jp1notify.message import Rendered

        ping = ping_for(item)
        payload = {
            "signal": ping.signal.value,
            "rid": ping.rid,
            "request": f"POST {PING_URL}{ping.path}",
            "body": ping.body,
        }
        return Rendered(payload, ("body",) if ping.cut else ())

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        raise NotImplementedError("a Healthchecks check takes one ping per event (no digests)")

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        ping = ping_for(item)
        content = ping.body.encode("utf-8")
        return Sent(http.post(self.url + ping.path, {}, timeout, judge, content=content))

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        raise NotImplementedError("a Healthchecks check takes one ping per event (no digests)")
