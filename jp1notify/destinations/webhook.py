"""`kind = "webhook"`: a generic JSON POST to any HTTPS endpoint (a ticket system, a chat bridge,
an in-house alert router), in a documented, versioned schema: docs/webhook-schema.md (field by
field) and docs/webhook-schema.json (JSON Schema). SCHEMA names the version; additive changes
keep it, breaking ones make `jp1notify.event/v2`.

The URL is the secret (`url`, `url_env`, `url_file`); extra `headers` (an Authorization header)
are secrets too: their values are read from the config file when sending, never cached, and
redacted from every output (config.read_secret marks them).

The payload carries the event as parsed (untouched: the receiver escapes for its own renderer),
its classification, route, incident and run, and `text`, a plain-text rendering for receivers
that only show text. Rendering is pure: `sent_at` (the only clock reading) is filled in when the
request goes out, and is null in the dry run.

Answers: 2xx delivered; 408, 429 and 5xx retried (Retry-After honoured); 3xx and 407 retried (a
proxy or portal answered: webhooks are not followed across redirects); any other 4xx is final
for that message, with the status and a short excerpt of the (redacted) body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from jp1notify.delivery import DELIVERED, RETRY, Disposition, Verdict, describe_body, retry_after
from jp1notify.destinations import Item, Sent, Thread

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.incidents import Incident
    from jp1notify.message import Digest, DigestItem, Rendered
    from jp1notify.runs import Run

SCHEMA = "jp1notify.event/v1"
TEXT_LIMIT = 4000  # characters of `text`; the event itself is sent whole (JP1 bounds it)
DIGEST_LIMIT = 100  # events in one digest request; the rest go in the next one
CUT_MARK = "…"


def render_item(item: Item, config: Config, destination: str) -> dict[str, Any]:
    """The request body of one message: a pure function of the item."""
    recovery = item.recovery and item.incident is not None
    text, _ = _cut(_text(item, config, recovery), TEXT_LIMIT)
    return {
        "schema": SCHEMA,
        "kind": "recovery" if recovery else "event",
        "id": item.id or None,
        "destination": destination,
        "event": item.event.to_dict(),
        "events": None,
        "classification": {
            "level": item.classification.level,
            "scope": item.classification.scope,
        },
        "route": item.route,
        "incident": incident_dict(item.incident, config.timezone) if item.incident else None,
        "text": text,
        "run": run_dict(item.run),
        "language": item.language,
        "sent_at": None,
    }


def incident_dict(incident: Incident, zone: tzinfo | None) -> dict[str, Any]:
    downtime = incident.downtime
    return {
        "id": incident.id,
        "state": str(incident.state),
        "service": incident.service or None,
        "jobnet": incident.jobnet,
        "exec_id": incident.exec_id,
        "level": incident.level,
        "opened_at": iso(incident.opened_at, zone),
        "resolved_at": iso(incident.resolved_at, zone) if incident.resolved_at else None,
        "events": incident.events,
        "downtime_seconds": round(downtime, 3) if downtime is not None else None,
    }


def run_dict(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "seconds": run.seconds,
        "usual_seconds": run.usual,
        "known_runs": run.known,
        "slow": run.slow,
        "raised_from": run.raised_from,
    }


def iso(epoch: float, zone: tzinfo | None) -> str | None:
    """An instant as ISO 8601 with its offset, in the manager's zone (`message.timezone`)."""
    try:
        return datetime.fromtimestamp(epoch, zone or UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


def _text(item: Item, config: Config, recovery: bool) -> str:
    """The message as plain text: a title line, the facts, the JP1 message."""
    from jp1notify.message import LABELS, event_name, format_event_time

    language = item.language if item.language in LABELS else "en"
    labels = LABELS[language]
    event = item.event
    if recovery:
        from jp1notify.message import _recovered_after

        assert item.incident is not None
        title = labels["recovered_title"].format(ok=labels["success"], unit=item.incident.jobnet)
        lines = [title, _recovered_after(item.incident, language, config)]
    else:
        level = labels[item.classification.level]
        unit = event.unit.path or labels["unit_unknown"]
        lines = [f"[{level}] {event_name(event, language)}: {unit}"]
        facts = [
            (labels["exec_id"], event.unit.exec_id),
            (labels["host"], event.host),
            (labels["time"], format_event_time(event, config.timezone)),
            (labels["scope"], item.classification.scope),
        ]
        lines += [f"{label}: {value}" for label, value in facts if value]
    if item.run is not None:
        from jp1notify.runs import run_text

        lines.append(f"{labels['run_time']}: {run_text(item.run, language)}")
    if event.message:
        lines += ["", event.message]
    return "\n".join(lines)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: limit - len(CUT_MARK)] + CUT_MARK, True


def render_digest(
    items: Sequence[DigestItem], language: str, config: Config, destination: str
) -> Digest:
    """Many events in one request: `kind` "digest", `events` each with its level and run;
    `text` the same plain text as a Slack digest's title and lines."""
    from jp1notify.catalog import LEVELS
    from jp1notify.message import Digest

    included = list(range(min(len(items), DIGEST_LIMIT)))
    carried = [items[i] for i in included]
    worst = min((item.level for item in carried), key=LEVELS.index)
    payload = {
        "schema": SCHEMA,
        "kind": "digest",
        "id": None,
        "destination": destination,
        "event": None,
        "events": [
            {"event": i.event.to_dict(), "level": i.level, "run": run_dict(i.run)} for i in carried
        ],
        "classification": {"level": worst, "scope": None},
        "route": None,
        "incident": None,
        "text": _digest_text(carried, language, config),
        "run": None,
        "language": language,
        "sent_at": None,
    }
    return Digest(payload, tuple(included))


def _digest_text(items: Sequence[DigestItem], language: str, config: Config) -> str:
    from jp1notify.message import LABELS, event_name, format_event_time

    labels = LABELS[language if language in LABELS else "en"]
    lines = []
    for item in items:
        event = item.event
        when = format_event_time(event, config.timezone, short=True) or labels["time_unknown"]
        unit = event.unit.path or labels["unit_unknown"]
        lines.append(f"{when} [{labels[item.level]}] {event_name(event, language)}: {unit}")
    return _cut("\n".join(lines), TEXT_LIMIT)[0]


def sent_now(payload: dict[str, Any], clock: Any = None) -> dict[str, Any]:
    """The payload with `sent_at`: the one clock reading, at the edge."""
    moment = clock() if clock else datetime.now(UTC)
    return {**payload, "sent_at": moment.isoformat(timespec="seconds")}


# -- answers -------------------------------------------------------------------------------------


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify the endpoint's answer (body and headers already redacted)."""
    if 200 <= status < 300:
        return Verdict(DELIVERED, f"HTTP {status}")
    if status == 429:
        return Verdict(RETRY, f"rate limited (HTTP {status})", retry_after(headers, body))
    if status >= 500 or status == 408:
        wait = retry_after(headers, body) if "retry-after" in headers else None
        return Verdict(RETRY, f"the webhook answered HTTP {status}, {describe_body(body)}", wait)
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    if 300 <= status < 400:
        return Verdict(
            RETRY,
            f"redirected (HTTP {status}): jp1notify does not follow redirects; give the final URL, "
            "or check http.proxy if a captive portal answered",
        )
    return Verdict(
        Disposition.INVALID,
        f"the webhook refused the message: HTTP {status}, {describe_body(body)}; see what the "
        "receiving service expects (docs/webhook-schema.md describes what jp1notify sends)",
    )


class Webhook:
    """A destination of kind webhook, holding its URL and extra headers."""

    threads = False
    digests = True

    def __init__(self, destination: Destination, config: Config, url: str) -> None:
        from jp1notify.config import read_headers

        self.name = destination.name
        self.config = config
        self.url = url
        self.headers = read_headers(destination, config) if url else {}

    def render(self, item: Item) -> Rendered:
        from jp1notify.message import Rendered

        payload = render_item(item, self.config, self.name)
        cut = len(payload["text"]) >= TEXT_LIMIT and payload["text"].endswith(CUT_MARK)
        return Rendered(payload, ("text",) if cut else ())

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        return render_digest(items, language, self.config, self.name)

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        payload = sent_now(self.render(item).payload)
        return Sent(http.post(self.url, payload, timeout, judge, headers=self.headers))

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        return Sent(http.post(self.url, sent_now(payload), timeout, judge, headers=self.headers))
