"""`kind = "alertmanager"`: Prometheus Alertmanager (API v2), every instance of an HA cluster.

An incident is one alert, identified by its labels (Alertmanager deduplicates, groups, silences
and inhibits by them), so the labels hold only what stays the same for the incident's whole life:
- `alertname` "JP1JobnetProblem" (an incident) or "JP1Event" (an event without one: a scheduler
  service event, or a level no incident follows);
- `incident` (jp1notify's incident number: two incidents of one jobnet are two alerts),
  `jobnet` (of the first problem: an incident's own jobnet widens when a sibling joins), `service`
  (the scheduler service), `host` (of the first problem), and `severity`: critical (error) or
  warning, from the incident's worst level. When a warning incident turns into an error one the
  alert's identity changes: the alert sent then carries the `severity="warning"` twin resolved, so
  that Alertmanager does not keep it firing beside the critical one.
Annotations change freely: `summary` (one line), `description` (the latest JP1 message), `level`,
`scope`, `event_id`, `unit`, `route`, `runbook` / `runbook_url` (the first matching runbook).
`startsAt` is the first problem's own time (EVDATE/EVTIME); a recovery sends the same labels with
`endsAt` = the recovery's time (so does a problem message sent after its incident was resolved:
Alertmanager is told the incident's state as it stands, never to fire a resolved one) ("Firing alerts are resolved once their endsAt timestamp has
elapsed": alertmanager docs/alerts_api.md).

Alertmanager keeps alerts in memory and resolves one whose `endsAt` passes: "Clients are expected
to re-send firing alerts ... at regular intervals until the alert is resolved" (docs/alerts_api.md;
Prometheus itself sets endsAt = now + 4 x its resend delay). JP1 sends one event, not a stream, so
a firing alert's `endsAt` is the send time + `alert_lifetime_minutes` (default LIFETIME_MINUTES),
and `jp1notify flush` and `watch` (scheduled every few minutes) re-send every open incident's alert
to every instance (`resend`), and every incident resolved within the lifetime as resolved (a peer
that missed the recovery, or gossiped a stale firing state back: alertmanager issues 2447, 3551,
4008 in a cluster, ../shared/reference/destinations.md 4.2).

"The Alertmanager implementation expects all alerts to be sent to all Alertmanagers" (README, High
Availability; never a load balancer): `urls` lists every instance and each gets every alert. A
message is delivered when at least one instance accepted it (they gossip notifications, and the
re-send brings the others up to date); it is retried when none did.

Digests: none (`digests = False`). An incident is already one alert however many events it has,
and Alertmanager's own grouping (group_by, group_wait) folds a storm into one notification; a
digest would have to carry each event's incident, which the outbox's digest items do not. The
re-send, which does meet many alerts at once, posts them as one list per instance.

Answers (api/v2/openapi.yaml: 200 / 400 / 500; 0.25.0 answers 422 to a body it cannot validate):
the table is `judge`. Annotations are plain text that receivers' templates put into Slack mrkdwn,
Teams markdown or e-mail HTML: event text gets `<` `>` as full-width `＜` `＞` (no link or mention
markup survives) and no control characters, and is cut to ANNOTATION_LIMIT characters (said).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify.delivery import DELIVERED, RETRY, Disposition, Verdict, cut_text, describe_body
from jp1notify.delivery import retry_after as read_retry_after
from jp1notify.destinations import Item, Sent, Thread

if TYPE_CHECKING:
    import httpx

    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.incidents import Incident
    from jp1notify.message import Digest, DigestItem, Rendered
    from jp1notify.notify import Invocation
    from jp1notify.redaction import Secrets
    from jp1notify.store import Pending, Store

API_PATH = "/api/v2/alerts"
# A firing alert's endsAt is the send time plus this, unless alert_lifetime_minutes says
# otherwise: three times a `flush` scheduled every 5 minutes, so that two missed re-sends in a
# row do not resolve an open incident.
LIFETIME_MINUTES = 15
INCIDENT_ALERT = "JP1JobnetProblem"
EVENT_ALERT = "JP1Event"
SEVERITY = {"error": "critical", "warning": "warning"}  # else "info"
# Alertmanager sets no limit, but its receivers do (a Slack attachment's text: 3000 characters
# shown, https://docs.slack.dev/messaging/formatting-message-text#rules): an annotation longer
# than this is cut and marked.
ANNOTATION_LIMIT = 2000
SUMMARY_LIMIT = 300
LABEL_LIMIT = 300  # a label value: a grouping key, never a page of text
CUT_MARK = "…"
RESEND_BATCH = 500  # alerts per POST when re-sending
ENDS_AT = "(send time + {minutes} min)"  # what the dry run shows for a firing alert's endsAt
SENT_AT = "(send time)"  # and for an alert whose start is not known

SUMMARIES = {
    "en": {
        "problem": "{name}: {jobnet}",
        "resolved": "Resolved: {jobnet}",
        "event": "{name}: {unit}",
    },
    "ja": {
        "problem": "{name}: {jobnet}",
        "resolved": "復旧: {jobnet}",
        "event": "{name}: {unit}",
    },
}


# -- the alerts of one item: pure ------------------------------------------------------------


class Alert(NamedTuple):
    """One alert as posted: labels identify it; `ends_at` None means "firing: now + lifetime"."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float | None
    ends_at: float | None


def clean(text: str | None, limit: int) -> tuple[str, bool]:
    """Event text as an annotation: no control characters but line breaks and tabs, no `<` `>`
    (a receiver's Slack or HTML template would read markup in them), within `limit`."""
    if not text:
        return "", False
    out = "".join(
        c if c.isprintable() or c in "\n\t" else " "
        for c in text.replace("\r\n", "\n").replace("<", "＜").replace(">", "＞")
    )
    if len(out) <= limit:
        return out, False
    return out[: limit - len(CUT_MARK)] + CUT_MARK, True


def label(text: str | None) -> str:
    """A label value: one line, within LABEL_LIMIT."""
    value, _ = clean((text or "").replace("\n", " ").replace("\t", " "), LABEL_LIMIT)
    return value


def severity(level: str) -> str:
    return SEVERITY.get(level, "info")


def alerts_for(item: Item, config: Config) -> tuple[list[Alert], tuple[str, ...]]:
    """The alerts one item posts (an incident's, maybe with its resolved warning twin, or an
    event's own), and the names of the annotations that were cut."""
    incident = item.incident
    if incident is None:
        alert, cuts = _event_alert(item, config)
        return [alert], cuts
    alert, cuts = _incident_alert(item, incident, config)
    alerts = [alert]
    if alert.labels["severity"] == "critical" and incident.events > 1:
        twin = {**alert.labels, "severity": "warning"}
        alerts.append(Alert(twin, alert.annotations, alert.starts_at, _ends(incident, True)))
    return alerts, cuts


def _incident_alert(
    item: Item, incident: Incident, config: Config
) -> tuple[Alert, tuple[str, ...]]:
    first = incident.first or item.event
    labels = {
        "alertname": INCIDENT_ALERT,
        "incident": str(incident.id),
        "jobnet": label(first.jobnet or incident.jobnet),
        "service": label(incident.service),
        "host": label(first.host),
        "severity": severity(incident.level),
    }
    resolved = item.recovery or incident.state == "resolved"
    language = _language(item)
    template = SUMMARIES[language]["resolved" if resolved else "problem"]
    summary = template.format(name=_name(item, language), jobnet=incident.jobnet)
    annotations, cuts = _annotations(item, summary, config, level=incident.level)
    return Alert(labels, annotations, incident.opened_at, _ends(incident, resolved)), cuts


def _ends(incident: Incident, resolved: bool) -> float | None:
    """A resolved alert ends at the recovery's own time, never before it started (a recovery
    whose EVDATE lies before the first problem's would make Alertmanager refuse the alert)."""
    if not resolved:
        return None
    ended = incident.resolved_at if incident.resolved_at is not None else incident.opened_at
    return max(ended, incident.opened_at)


def _event_alert(item: Item, config: Config) -> tuple[Alert, tuple[str, ...]]:
    event = item.event
    labels = {
        "alertname": EVENT_ALERT,
        "event_id": label(event.event_id or event.raw_id or "?"),
        "unit": label(event.unit.path),
        "service": label(event.unit.service),
        "host": label(event.host),
        "severity": severity(item.classification.level),
        "message": str(item.id),  # each event its own alert: it fires once, for its lifetime
    }
    language = _language(item)
    summary = SUMMARIES[language]["event"].format(
        name=_name(item, language), unit=event.unit.path or event.host or ""
    )
    annotations, cuts = _annotations(item, summary, config, level=item.classification.level)
    from jp1notify.message import event_datetime

    at = event_datetime(event, config.timezone)
    starts = at.timestamp() if at is not None else None
    return Alert({k: v for k, v in labels.items() if v}, annotations, starts, None), cuts


def _language(item: Item) -> str:
    return item.language if item.language in SUMMARIES else "en"


def _name(item: Item, language: str) -> str:
    from jp1notify.message import event_name

    return event_name(item.event, language)


def _annotations(
    item: Item, summary: str, config: Config, level: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    event = item.event
    cuts: list[str] = []
    values = {
        "summary": (summary, SUMMARY_LIMIT),
        "description": (event.message, ANNOTATION_LIMIT),
        "level": (level, LABEL_LIMIT),
        "scope": (item.classification.scope, LABEL_LIMIT),
        "event_id": (" ".join(filter(None, (event.event_id, event.message_id))), LABEL_LIMIT),
        "unit": (event.unit.path, LABEL_LIMIT),
        "exec_id": (event.unit.exec_id, LABEL_LIMIT),
        "route": (item.route, LABEL_LIMIT),
        **_runbook(item, config),
    }
    annotations = {}
    for name, (text, limit) in values.items():
        value, cut = clean(text, limit)
        if value:
            annotations[name] = value
        if cut:
            cuts.append(name)
    return annotations, tuple(cuts)


def _runbook(item: Item, config: Config) -> dict[str, tuple[str | None, int]]:
    """The first matching runbook's steps and link (Prometheus' `runbook_url` convention)."""
    if item.recovery:
        return {}
    from jp1notify.guidance import expand, placeholder_values, runbooks_for

    found = runbooks_for(item.event, item.classification, config)
    if not found:
        return {}
    text, _ = expand(found[0].text, placeholder_values(item.event))
    url = next((r.url for r in found if r.url), None)
    return {"runbook": (text, ANNOTATION_LIMIT), "runbook_url": (url, ANNOTATION_LIMIT)}


def payload(alerts: Sequence[Alert], now: float | None, lifetime: float) -> list[dict[str, Any]]:
    """The JSON body: a list of alerts. A firing alert ends at `now` + `lifetime` seconds (the
    dry run, `now` None, shows ENDS_AT instead); times in RFC 3339, UTC."""
    body = []
    for alert in alerts:
        entry: dict[str, Any] = {"labels": alert.labels, "annotations": alert.annotations}
        # Always given: without it Alertmanager 0.25 takes endsAt as startsAt (api/v2/api.go)
        if alert.starts_at is not None:
            starts = alert.starts_at if now is None else min(alert.starts_at, now)
            entry["startsAt"] = rfc3339(starts)
        else:
            entry["startsAt"] = SENT_AT if now is None else rfc3339(now)
        if alert.ends_at is not None:
            entry["endsAt"] = rfc3339(alert.ends_at if now is None else min(alert.ends_at, now))
        elif now is None:
            entry["endsAt"] = ENDS_AT.format(minutes=f"{lifetime / 60:g}")
        else:
            entry["endsAt"] = rfc3339(now + lifetime)
        body.append(entry)
    return body


def rfc3339(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


# -- Alertmanager's answers ------------------------------------------------------------------


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify one instance's answer (the body and headers already redacted)."""
    text = body.strip()
    if describe_body(text).startswith("an HTML page") and status not in (401, 407):
        return _not_alertmanager(status, text, headers)  # API v2 never answers with a page
    if 200 <= status < 300:
        return Verdict(DELIVERED, "ok")
    if status in (400, 422):  # the payload: jp1notify's making
        return Verdict(
            Disposition.INVALID,
            f"Alertmanager refused the alert (HTTP {status} {cut_text(text)!r}); report it with "
            "the --dry-run output",
        )
    if status == 401:
        return Verdict(
            Disposition.UNUSABLE,
            "Alertmanager (or the proxy in front of it) refused the credentials (HTTP 401): check "
            "username and password of this destination",
        )
    if status in (404, 405):
        return Verdict(
            Disposition.UNUSABLE,
            f"no Alertmanager API v2 at this address (HTTP {status}): give urls as the base "
            "address, like http://am1:9093 (jp1notify adds /api/v2/alerts; Alertmanager 0.16 "
            "or later)",
        )
    return _not_alertmanager(status, text, headers)


def _not_alertmanager(status: int, text: str, headers: Mapping[str, str]) -> Verdict:
    """A server error, or an answer from something else on the way (a proxy, a captive
    portal's page, even with 200): retried, or refused with what to check."""
    if status >= 500 or status in (408, 429):
        wait = read_retry_after(headers, text) if "retry-after" in headers else None
        return Verdict(RETRY, f"Alertmanager answered HTTP {status}, {describe_body(text)}", wait)
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    what = f"an answer that is not Alertmanager's (HTTP {status}, {describe_body(text)})"
    if 300 <= status < 400:
        return Verdict(RETRY, f"{what}: Alertmanager does not redirect; check urls and http.proxy")
    if 200 <= status < 300:
        return Verdict(RETRY, f"{what}; check urls and http.proxy")
    return Verdict(Disposition.REFUSED, f"{what}; a proxy or filter may be blocking it")


# When no instance accepted: the verdict that says most about what to do.
PRECEDENCE = (
    Disposition.INVALID,
    Disposition.UNUSABLE,
    Disposition.GONE,
    Disposition.RETRY,
    Disposition.REFUSED,
)


def combine(verdicts: Sequence[tuple[str, Verdict]]) -> Sent:
    """One message's outcome over every instance (url, verdict): delivered when one accepted
    (the others get it at the next re-send, said in a note), else the most telling failure."""
    accepted = [url for url, v in verdicts if v.disposition is DELIVERED]
    failed = [(url, v) for url, v in verdicts if v.disposition is not DELIVERED]
    reasons = "; ".join(f"{url}: {v.reason}" for url, v in failed)
    if accepted:
        notes: tuple[str, ...] = ()
        if failed:
            notes = (
                f"accepted by {len(accepted)} of {len(verdicts)} Alertmanager instances ({reasons});"
                " `jp1notify flush` re-sends open alerts to every instance",
            )
        return Sent(Verdict(DELIVERED, "ok"), None, notes)
    worst = min(failed, key=lambda f: PRECEDENCE.index(f[1].disposition))[1]
    waits = [v.retry_after for _, v in failed if v.retry_after is not None]
    return Sent(
        Verdict(
            worst.disposition,
            f"no Alertmanager instance accepted it: {reasons}",
            max(waits) if waits else None,
            any(v.unanswered for _, v in failed),
        )
    )


# -- the destination -------------------------------------------------------------------------


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def lifetime_of(destination: Destination) -> float:
    return 60.0 * (destination.alert_lifetime_minutes or LIFETIME_MINUTES)


class Alertmanager:
    """A destination of kind alertmanager: its instances' URLs, and its basic-auth password
    (the secret, "" without basic auth)."""

    threads = False
    digests = False  # an incident is one alert; Alertmanager groups (module docstring)

    def __init__(self, destination: Destination, config: Config, password: str) -> None:
        self.name = destination.name
        self.config = config
        self.urls = tuple(u.rstrip("/") + API_PATH for u in destination.urls)
        self.bases = destination.urls
        self.lifetime = lifetime_of(destination)
        self.headers = basic_auth(destination.username, password) if destination.username else {}

    def render(self, item: Item) -> Rendered:
        """What the dry run shows: the body as posted to every instance (endsAt of a firing
        alert as a phrase: it depends on the send time)."""
        from jp1notify.message import Rendered

        alerts, cuts = alerts_for(item, self.config)
        shown = {"urls": list(self.bases), "alerts": payload(alerts, None, self.lifetime)}
        return Rendered(shown, cuts)

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        raise NotImplementedError("an Alertmanager destination takes one alert per incident")

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        import time

        alerts, _ = alerts_for(item, self.config)
        return self.post(http, alerts, time.time(), timeout)

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        raise NotImplementedError("an Alertmanager destination takes one alert per incident")

    def post(self, http: Http, alerts: Sequence[Alert], now: float, timeout: float) -> Sent:
        """POST the alerts to every instance, each on its own (one down never holds another)."""
        body = payload(alerts, now, self.lifetime)
        import json

        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", **self.headers}
        verdicts = [
            (base, http.post(url, {}, timeout, judge, headers, content=content))
            for base, url in zip(self.bases, self.urls, strict=True)
        ]
        return combine(verdicts)


# -- the re-send by `flush` and `watch` ------------------------------------------------------


class Resent(NamedTuple):
    """What re-sending one destination's alerts came to."""

    destination: str
    alerts: int
    sent: Sent | None  # None: its password could not be read (said in `problem`)
    problem: str | None = None


def resend(
    store: Store,
    config: Config,
    environ: Mapping[str, str],
    secrets: Secrets,
    transport: httpx.BaseTransport | None = None,
    now: float | None = None,
) -> list[Resent] | None:
    """Re-send every open incident's alert (and those resolved within the lifetime, resolved) to
    every instance of each alertmanager destination it was sent to. Holds the sender lease, so
    that a recovery being sent meanwhile is never overtaken by a stale firing alert; None when
    another process holds it (the next flush re-sends)."""
    import os
    import socket
    import time

    from jp1notify.bounds import LEASE_TTL, lease_ahead

    names = [n for n, d in config.destinations.items() if d.kind == "alertmanager"]
    if not names:
        return []
    holder = f"{socket.gethostname()}:{os.getpid()}:resend"
    if not store.take_lease(holder, time.time(), LEASE_TTL, lease_ahead(config)):
        return None
    try:
        return [
            _resend_one(
                store, config, environ, secrets, transport, name, now or time.time(), holder
            )
            for name in names
        ]
    finally:
        store.release_lease(holder)


def _resend_one(
    store: Store,
    config: Config,
    environ: Mapping[str, str],
    secrets: Secrets,
    transport: httpx.BaseTransport | None,
    name: str,
    now: float,
    holder: str,
) -> Resent:
    import time

    from jp1notify import delivery
    from jp1notify.bounds import DEADLINE_GRACE, LEASE_TTL
    from jp1notify.config import read_secret
    from jp1notify.errors import ConfigError

    destination = config.destinations[name]
    lifetime = lifetime_of(destination)
    rows = store.alerts_to_resend([name], now - lifetime)
    alerts = [a for row in rows for a in _stored_alerts(store, config, row)]
    if not alerts:
        return Resent(name, 0, None)
    try:
        password = read_secret(destination, config, environ, secrets)
    except ConfigError as exc:
        return Resent(name, len(alerts), None, exc.problems[0])
    channel = Alertmanager(destination, config, password)
    with delivery.Clients(config.http, transport) as clients:

        def renew(timeout: float) -> None:  # the lease outlasts each request
            store.renew_lease(holder, time.time() + timeout + DEADLINE_GRACE + LEASE_TTL)

        http = delivery.Http(clients, secrets, renew)
        outcomes = [
            channel.post(http, alerts[i : i + RESEND_BATCH], now, config.http.timeout)
            for i in range(0, len(alerts), RESEND_BATCH)
        ]
    worst = next((s for s in outcomes if s.verdict.disposition is not DELIVERED), outcomes[0])
    notes = tuple(n for s in outcomes for n in s.notes)
    return Resent(name, len(alerts), worst._replace(notes=notes))


def _stored_alerts(store: Store, config: Config, row: Pending) -> list[Alert]:
    """The alerts of a stored message, rendered as they stand now (a row this version cannot
    read is skipped: its incident's alert ends with its lifetime)."""
    import json

    from jp1notify.classify import Classification
    from jp1notify.event import Event

    try:
        event = Event.from_dict(json.loads(row.event_json))
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    language = config.destinations[row.destination].language or config.language
    item = Item(
        row.id,
        event,
        Classification(row.level, "", row.scope),
        row.route,
        (),
        language,
        store.incident(row.incident) if row.incident is not None else None,
        row.recovery,
    )
    return alerts_for(item, config)[0]


def resend_lines(results: list[Resent] | None) -> list[str]:
    """What `flush` and `watch` tell the operator about the re-send (stderr)."""
    if results is None:
        return [
            "another jp1notify process is sending: open alerts are re-sent to Alertmanager by "
            "the next `jp1notify flush`"
        ]
    lines = []
    for r in results:
        if r.problem:
            lines.append(f"cannot re-send {r.alerts} alerts to {r.destination}: {r.problem}")
        elif r.sent is not None and r.sent.verdict.disposition is not DELIVERED:
            lines.append(
                f"re-sending {r.alerts} alerts to {r.destination} failed: {r.sent.verdict.reason};"
                " Alertmanager resolves them when their endsAt passes unless the next "
                "`jp1notify flush` reaches it"
            )
        elif r.sent is not None:
            lines += [f"{r.destination}: {note}" for note in r.sent.notes]
    return lines


# -- check-config ----------------------------------------------------------------------------

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def describe_destination(destination: Destination) -> tuple[str, list[str]]:
    """check-config's account of an alertmanager destination (after its secret's source): its
    instances and alert lifetime, and a warning when a password would cross the network in
    plain http (allowed: Alertmanager is usually an internal http service)."""
    from urllib.parse import urlsplit

    urls = ", ".join(cut_text(u, 80) for u in destination.urls)
    user = f", basic auth as {cut_text(destination.username, 40)}" if destination.username else ""
    minutes = lifetime_of(destination) / 60
    text = (
        f", {len(destination.urls)} instance{'s' if len(destination.urls) != 1 else ''}: {urls}"
        f"{user}; firing alerts live {minutes:g} min unless `jp1notify flush` re-sends them"
    )
    warnings = [
        f"destinations.{destination.name}.urls: {cut_text(u, 80)} is plain http to another "
        "machine: the basic-auth password crosses the network readable; use https:// unless "
        "the network is trusted"
        for u in destination.urls
        if destination.username
        and u.lower().startswith("http://")
        and urlsplit(u).hostname not in _LOOPBACK
    ]
    return text, warnings


def resend_for(run: Invocation, store: Store, config: Config, environ: Mapping[str, str]) -> None:
    """`flush` and `watch`: re-send to the alertmanager destinations (if any), say what failed
    (stderr) and log what was re-sent."""
    if not any(d.kind == "alertmanager" for d in config.destinations.values()):
        return
    results = resend(store, config, environ, run.secrets, run.transport)
    for line in resend_lines(results):
        run.say(line)
    for r in results or ():
        outcome = r.sent.verdict.disposition if r.sent is not None else "unreadable"
        if r.alerts:
            run.log_line("resend", destination=r.destination, alerts=r.alerts, outcome=outcome)
