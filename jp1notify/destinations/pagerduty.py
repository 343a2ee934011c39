"""`kind = "pagerduty"`: a PagerDuty service, through its Events API v2 integration.

Each message is one event posted to the Events API (`events_url`, default EVENTS_URL); the
destination's secret is the integration's routing key (its Integration Key), which goes in the
JSON body (there is no auth header) and so never in the dry run, which shows ROUTING_KEY_SHOWN.
What each message becomes (facts: ../shared/reference/destinations.md section 3; PagerDuty's
developer-docs `docs/events-API-v2/02-Trigger-Events.md`):
- a problem event of an incident: `trigger` with the incident's dedup key (`incident_key`). The
  first opens the alert; PagerDuty folds later triggers with the same key into the open alert;
- the incident's recovery: `resolve` with the same key (a `resolve` without an open alert is
  dropped by PagerDuty, so a late or repeated one does no harm);
- an event without an incident (no jobnet: a scheduler service's event; or an info event):
  `trigger` with a key from the event's own identity (`event_key`), so that a retried post that
  got no answer never opens a second alert.
Severity: error -> error, warning -> warning, info and success -> info. `critical` is never sent:
JP1 has no level above error, and PagerDuty's default urgency rules already page at once for
error; a service that wants `critical` for some jobnets can raise it with Event Orchestration on
`component` (the jobnet) or `class` (the event ID).
There are no digests: PagerDuty groups by dedup key itself, and a digest could not resolve.
The payload is plain text (PagerDuty renders no markup in summary or custom_details); summary is
cut to SUMMARY_LIMIT characters, and custom_details dropped if the event exceeds PAYLOAD_LIMIT.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.event import Event
    from jp1notify.incidents import Incident
    from jp1notify.message import Digest, DigestItem, Rendered

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
EU_EVENTS_URL = "https://events.eu.pagerduty.com/v2/enqueue"
ROUTING_KEY_SHOWN = "(routing key)"  # what the dry run shows instead of the secret
ROUTING_KEY_LENGTH = 32  # "32 character Integration Key" (02-Trigger-Events.md)
SUMMARY_LIMIT = 1024  # payload.summary: "maximum of 1024 characters"
DEDUP_LIMIT = 255  # dedup_key: "maximum of 255 characters"
PAYLOAD_LIMIT = 512_000  # "an event's total size must be less than 512 KB" (01-Overview.md)
# 429 comes without Retry-After; PagerDuty suggests "retrying 3 times with each request being 30
# seconds apart" (05-Rate-Limits.md). A Retry-After, if some proxy sends one, is honoured.
RATE_WAIT = 30.0
KEY_PREFIX = "jp1notify"
CUT_MARK = "…"
SEVERITIES = {"error": "error", "warning": "warning", "info": "info", "success": "info"}
CLIENT = "jp1notify"


class Action(StrEnum):
    """The Events API's `event_action` values jp1notify sends (it never acknowledges)."""

    TRIGGER = "trigger"
    RESOLVE = "resolve"


def check_routing_key(key: str) -> str | None:
    """Why a routing key is unusable, or None: a phrase that never contains the key."""
    where = "the Integration Key of the service's Events API v2 integration"
    if "://" in key:
        return f"is a URL, not a routing key: give {where} (32 letters and digits)"
    if len(key) != ROUTING_KEY_LENGTH or not (key.isascii() and key.isalnum()):
        return (
            f"is not a PagerDuty routing key ({ROUTING_KEY_LENGTH} letters and digits): copy "
            f"{where} again from PagerDuty"
        )
    return None


# -- the dedup key ---------------------------------------------------------------------------


def dedup_key(item: Item) -> str:
    """The alert an item belongs to: its incident's, else the event's own."""
    if item.incident is not None:
        return incident_key(item.incident)
    return event_key(item.event)


def incident_key(incident: Incident) -> str:
    """`jp1notify:AJSROOT1:20261121T171305Z:57`: the scheduler service, when the incident's first
    problem happened (its own EVDATE/EVTIME, in UTC) and the store's incident number.

    Only what never changes in an incident goes in: its jobnet widens as nested jobnets join
    (incidents.enclosing) and its first event is pruned after outbox.retention_days, so neither
    can. The number alone is not enough: it restarts at 1 when the store is reset (a damaged
    store moved aside, a new data_dir) and may be reused once an old incident is pruned, and then
    a new incident would fold into an old, still open alert, and resolve it. With the first
    problem's time, a new store's incidents never meet an old store's alerts; the old store's
    open alerts are then resolved by hand in PagerDuty (no store remembers them)."""
    opened = datetime.fromtimestamp(incident.opened_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{KEY_PREFIX}:{incident.service or '-'}:{opened}:{incident.id}"
    return key if len(key) <= DEDUP_LIMIT else _hashed(key)


def event_key(event: Event) -> str:
    """`jp1notify:event:<hash>`: the event's identity (Event.dedup_key: the same event recorded
    twice has the same one), else all that it says."""
    identity = event.dedup_key or json.dumps(event.to_dict(), sort_keys=True, ensure_ascii=False)
    return _hashed(identity, "event")


def _hashed(text: str, what: str = "key") -> str:
    return f"{KEY_PREFIX}:{what}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:32]}"


# -- the event -------------------------------------------------------------------------------


def event_for(item: Item, config: Config, client: str | None, client_url: str | None) -> Rendered:
    """The Events API event of one item, without the routing key: a pure function of it."""
    from jp1notify.message import Rendered

    if item.recovery and item.incident is not None:
        return Rendered(_base(Action.RESOLVE, item), ())
    payload, truncated = _payload(item, config)
    event: dict[str, Any] = {
        **_base(Action.TRIGGER, item),
        "payload": payload,
        "client": client or CLIENT,
    }
    if client_url:
        event["client_url"] = client_url
    links = _links(item, config)
    if links:
        event["links"] = links
    if len(json.dumps(event, ensure_ascii=False).encode("utf-8")) > PAYLOAD_LIMIT:
        payload["custom_details"] = {"note": "details dropped: the event exceeded 512 KB"}
        truncated += ("custom_details",)
    return Rendered(event, truncated)


def _base(action: Action, item: Item) -> dict[str, Any]:
    return {
        "routing_key": ROUTING_KEY_SHOWN,
        "event_action": action.value,
        "dedup_key": dedup_key(item),
    }


def _payload(item: Item, config: Config) -> tuple[dict[str, Any], tuple[str, ...]]:
    from jp1notify.message import event_datetime

    event = item.event
    summary, cut = summary_of(item)
    moment = event_datetime(event, config.timezone)
    payload = {
        "summary": summary,
        "source": _printable(event.host or event.unit.service or "jp1notify"),
        "severity": SEVERITIES.get(item.classification.level, "error"),
        "timestamp": moment.isoformat() if moment else None,
        "component": event.jobnet,
        "group": event.unit.service,
        "class": event.event_id,
        "custom_details": custom_details(item, config),
    }
    return {k: v for k, v in payload.items() if v}, ("summary",) if cut else ()


def summary_of(item: Item) -> tuple[str, bool]:
    """`[ERROR] Jobnet ended abnormally: AJSROOT1:/PROD/DAILY/BACKUP (Host: jp1mgr01)`, in the
    destination's language, within SUMMARY_LIMIT characters, and whether it was cut."""
    from jp1notify.message import LABELS, event_name

    labels = LABELS[item.language if item.language in LABELS else "en"]
    event = item.event
    level = labels.get(item.classification.level, item.classification.level.upper())
    text = f"[{level}] {event_name(event, item.language)}: {_unit(event) or labels['unit_unknown']}"
    if event.host:
        text += f" ({labels['host']}: {event.host})"
    return _fit(_printable(text), SUMMARY_LIMIT)


def custom_details(item: Item, config: Config) -> dict[str, Any]:
    """What the alert's details show: the event, its incident, runbooks, context, run time.
    Keys are fixed English names (Event Orchestration rules may read them)."""
    from jp1notify.message import format_event_time

    event, classification = item.event, item.classification
    details: dict[str, Any] = {
        "event_id": event.event_id or event.raw_id,
        "message_id": event.message_id,
        "message": event.message,
        "unit": _unit(event),
        "exec_id": event.unit.exec_id,
        "host": event.host,
        "time": format_event_time(event, config.timezone),
        "level": classification.level,
        "scope": classification.scope,
        "route": item.route,
        "missing": list(event.missing),
        "incident": _incident_details(item.incident, config),
        "runbooks": _runbooks(item, config),
        "context": _context(item),
        "run_time": _run_time(item),
    }
    return {k: v for k, v in details.items() if v}


def _incident_details(incident: Incident | None, config: Config) -> dict[str, Any] | None:
    if incident is None:
        return None
    from jp1notify.message import format_moment

    opened = datetime.fromtimestamp(incident.opened_at, UTC).astimezone(config.timezone)
    return {
        "jobnet": incident.jobnet,
        "events": incident.events,
        "first_failed": format_moment(opened),
        "worst_level": incident.level,
    }


def _runbooks(item: Item, config: Config) -> list[dict[str, str]]:
    from jp1notify.guidance import expand, placeholder_values, runbooks_for

    values = placeholder_values(item.event)
    found = runbooks_for(item.event, item.classification, config)
    return [
        {"name": r.name, "text": expand(r.text, values)[0], **({"url": r.url} if r.url else {})}
        for r in found
    ]


def _links(item: Item, config: Config) -> list[dict[str, str]]:
    """Runbook links (written by the operator, checked by the config) as the alert's links."""
    from jp1notify.guidance import runbooks_for

    found = runbooks_for(item.event, item.classification, config)
    return [{"href": r.url, "text": r.name} for r in found if r.url]


def _context(item: Item) -> str | None:
    from jp1notify.guidance import ContextResult

    result = ContextResult.loads(item.context)
    if result is None:
        return None
    return result.text or result.note


def _run_time(item: Item) -> str | None:
    from jp1notify.runs import run_text

    return run_text(item.run, item.language) if item.run is not None else None


def _unit(event: Event) -> str | None:
    path = event.unit.path
    if not path:
        return None
    return f"{event.unit.service}:{path}" if event.unit.service else path


def _printable(text: str) -> str:
    """One line: control characters (line breaks, tabs, escapes) become spaces."""
    return "".join(c if c.isprintable() else " " for c in text)


def _fit(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: limit - len(CUT_MARK)] + CUT_MARK, True


# -- PagerDuty's answers ---------------------------------------------------------------------


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify an Events API answer (the body and headers already redacted): 202 accepted;
    400 this event is invalid; 429 slow down; 5xx try later (01-Overview.md)."""
    data = _answer(body)
    if status == 429:
        wait = retry_after(headers, body) if "retry-after" in headers else RATE_WAIT
        return Verdict(
            RETRY,
            f"rate limited by PagerDuty (HTTP 429; about 120 events a minute per routing key): "
            f"the event is sent again in {wait:g} s",
            wait,
        )
    if 200 <= status < 300 and data is not None and data.get("status") == "success":
        return Verdict(DELIVERED, "ok", data=data)
    if data is not None and status in REFUSALS:
        disposition, hint = REFUSALS[status](data)
        return Verdict(disposition, f"PagerDuty answered HTTP {status}: {hint}")
    return _not_pagerduty(status, body, headers)


def _answer(body: str) -> dict[str, Any] | None:
    """PagerDuty's JSON answer ({status, message, errors[] or dedup_key}), or None."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not ("status" in data or "errors" in data):
        return None
    return data


def _errors(data: dict[str, Any]) -> str:
    """PagerDuty's own reasons: `message` and up to three `errors`, printable and cut."""
    errors = data.get("errors")
    found = [e for e in errors if isinstance(e, str)][:3] if isinstance(errors, list) else []
    message = data.get("message")
    parts = [message, *found] if isinstance(message, str) and message else found
    return "; ".join(cut_text(p, 160) for p in parts) or "no reason given"


def _invalid(data: dict[str, Any]) -> tuple[Disposition, str]:
    said = _errors(data)
    if "routing" in said.lower():  # "Length of 'routing_key' is incorrect ..."
        return Disposition.GONE, f"{said}. Copy the Integration Key again from PagerDuty"
    return Disposition.INVALID, (
        f"PagerDuty refused this event ({said}); report it with the --dry-run output"
    )


def _too_large(data: dict[str, Any]) -> tuple[Disposition, str]:
    return Disposition.INVALID, (
        f"the event is too large for PagerDuty ({_errors(data)}); report it with the --dry-run output"
    )


def _refused(data: dict[str, Any]) -> tuple[Disposition, str]:
    return Disposition.GONE, (
        f"PagerDuty refused the request ({_errors(data)}): check that the service's Events API "
        "v2 integration still exists and that the routing key is its Integration Key"
    )


def _no_api(data: dict[str, Any]) -> tuple[Disposition, str]:
    return Disposition.GONE, (
        f"there is no Events API v2 at events_url ({_errors(data)}): remove events_url, or give "
        f"{EVENTS_URL} (EU service region: {EU_EVENTS_URL})"
    )


# Answers in PagerDuty's JSON with these statuses are its final word; anything else is retried.
REFUSALS = {400: _invalid, 413: _too_large, 401: _refused, 403: _refused, 404: _no_api}


def _not_pagerduty(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """A server error, or an answer that is not PagerDuty's (a proxy, a captive portal)."""
    if status >= 500 or status == 408:
        wait = retry_after(headers, body) if "retry-after" in headers else None
        return Verdict(RETRY, f"PagerDuty answered HTTP {status}, {describe_body(body)}", wait)
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    what = f"an answer that is not PagerDuty's (HTTP {status}, {describe_body(body)})"
    if 300 <= status < 400:
        return Verdict(RETRY, f"{what}: PagerDuty does not redirect events; check http.proxy")
    if status in (401, 403, 404) and not describe_body(body).startswith("an HTML page"):
        return _plain_refusal(status, body)
    if 200 <= status < 300:
        return Verdict(RETRY, f"{what}; check http.proxy and events_url")
    return Verdict(
        Disposition.REFUSED, f"{what}; a proxy or filter may be blocking it: check http.proxy"
    )


def _plain_refusal(status: int, body: str) -> Verdict:
    """401/403/404 in plain text (not a proxy's HTML page): PagerDuty's final word too."""
    data = {"message": cut_text(body.strip(), 160)} if body.strip() else {}
    disposition, hint = REFUSALS[status](data)
    return Verdict(disposition, f"PagerDuty answered HTTP {status}: {hint}")


class PagerDuty:
    """A destination of kind pagerduty, holding its routing key."""

    threads = False
    digests = False  # PagerDuty groups by dedup key itself

    def __init__(self, destination: Destination, config: Config, routing_key: str) -> None:
        self.name = destination.name
        self.config = config
        self.routing_key = routing_key
        self.url = destination.events_url or EVENTS_URL
        self.client = destination.client
        self.client_url = destination.client_url

    def render(self, item: Item) -> Rendered:
        """The event as sent, with ROUTING_KEY_SHOWN in place of the routing key."""
        return event_for(item, self.config, self.client, self.client_url)

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        raise NotImplementedError("PagerDuty takes one event per message (no digests)")

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        if item.recovery and item.incident is None:  # the store no longer has the incident
            return Sent(Verdict(Disposition.INVALID, GONE_INCIDENT))
        event = {**self.render(item).payload, "routing_key": self.routing_key}
        return Sent(http.post(self.url, event, timeout, judge))

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        raise NotImplementedError("PagerDuty takes one event per message (no digests)")


GONE_INCIDENT = (
    "the incident this recovery resolves is no longer in the store, so its alert cannot be "
    "named: resolve it by hand in PagerDuty"
)
