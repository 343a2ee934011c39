"""The main job: one JP1 event from the environment to Slack, through the outbox.

`notify` classifies and routes the event, records it in the store, and drains the outbox if
this process gets the sender lease (outbox.py); without a usable store it posts directly with
bounded retries. It says what happened on stderr (JP1 keeps it) and returns an `Outcome`; the
command line maps outcomes to exit codes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from jp1notify.classify import Classification, classify
from jp1notify.config import Config, ConfigError
from jp1notify.event import Event
from jp1notify.logfile import LogFile
from jp1notify.message import Rendered, render
from jp1notify.redaction import redact
from jp1notify.routing import Decision, Delivery, route

if TYPE_CHECKING:
    from jp1notify.delivery import Result
    from jp1notify.outbox import DrainReport
    from jp1notify.store import Recorded, Store


class Outcome(NamedTuple):
    """How an invocation ended, for the exit code and the log's end line.

    name: delivered, queued, duplicate, ignored, unrouted, dead, lost, store_error, config_error,
    flushed, busy. problem: "config" or "dead" when this process, sending for others, found a
    destination it cannot read or buried a message: the operator must act even if this
    invocation's own event went out.
    """

    name: str
    problem: str | None
    details: dict[str, object]


class Plan(NamedTuple):
    """One message ready to go: the routing decision's delivery and its rendered payload."""

    delivery: Delivery
    rendered: Rendered


class Invocation:
    """One run of `send`: its clock, its log and the secrets to keep out of every output."""

    def __init__(self, config: Config) -> None:
        self.started = time.monotonic()
        self.pid = os.getpid()
        self.secrets: list[str] = []
        self.log = LogFile(config.log_dir, config.log_retention_days, self.secrets)

    def log_line(self, phase: str, **fields: object) -> None:
        self.log.write(datetime.now().astimezone(), {"pid": self.pid, "phase": phase, **fields})

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def say(self, text: str) -> None:
        """A line for the operator on stderr (JP1 keeps it as the job's result)."""
        print(f"jp1notify: {redact(text, self.secrets)}", file=sys.stderr)


def notify(run: Invocation, config: Config, event: Event, environ: Mapping[str, str]) -> Outcome:
    """Classify, route, record, send: the main job for one JP1 event."""
    classification = classify(event, config)
    decision = route(event, classification, config)
    details: dict[str, object] = {"level": classification.level, "scope": classification.scope}
    details["routes"] = ",".join(f"{d.route.name}>{d.destination}" for d in decision.deliveries)
    if decision.ignored_by:
        run.say(f"event {describe(event)} ignored by {decision.ignored_by}")
        details["rule"] = decision.ignored_by
    elif decision.unrouted:
        run.say(
            f"warning: event {describe(event)} ({classification.level}, scope "
            f"{classification.scope}) matched no route and no ignore rule, so nobody was "
            "notified. Add a catch-all route (no conditions) or an [[ignore]] rule."
        )
    outcome = "ignored" if decision.ignored_by else "unrouted" if decision.unrouted else None
    import sqlite3

    from jp1notify.store import StoreError

    store = None
    try:
        store = open_store(run, config)
        recorded = _record(store, event, classification, decision, config)
    except (StoreError, sqlite3.Error) as exc:
        if store is not None:
            store.close()
        run.say(
            f"warning: the store is not usable ({exc}); sending without it, so an undelivered "
            f"event cannot be queued. Check that outbox.data_dir ({config.outbox.data_dir}) is "
            "a writable local folder."
        )
        if outcome:
            return Outcome(outcome, None, details)
        return _send_directly(run, config, event, classification, decision, environ, details)
    try:
        if recorded.duplicate:
            run.say(f"event {describe(event)} was already recorded; not sent again")
            outcome = "duplicate"
        report = drain(run, store, config, environ) if store.has_pending() else None
        states = store.message_states(recorded.message_ids) if recorded.message_ids else []
    except sqlite3.Error as exc:
        run.say(f"the event is recorded, but the store failed while sending: {exc}")
        return Outcome("store_error", None, details)
    finally:
        store.close()
    if report:
        details.update(posts=report.posts, sent=report.sent, stopped=report.stopped)
    return _own_outcome(run, event, states, report, outcome, details)


def _own_outcome(
    run: Invocation,
    event: Event,
    states: list[tuple[str, str, str | None]],
    report: DrainReport | None,
    outcome: str | None,
    details: dict[str, object],
) -> Outcome:
    """This event's messages decide the outcome; what this process buried is a problem too."""
    details["results"] = ",".join(f"{dest}:{state}" for dest, state, _ in states)
    own = {state for _, state, _ in states}
    if outcome is None:
        outcome = "dead" if "dead" in own else "queued" if "pending" in own else "delivered"
    others = " (another jp1notify process is sending)" if report and not report.holder else ""
    for destination, state, error in states:
        if state == "sent":
            run.say(f"event {describe(event)} delivered to {destination}")
        elif state == "pending":
            reason = f"; last failure: {error}" if error else ""
            run.say(
                f"event {describe(event)} queued for {destination}{others}{reason}. "
                "It goes out with the next event or `jp1notify flush`."
            )
    return Outcome(outcome, drain_problem(report), details)


def open_store(run: Invocation, config: Config) -> Store:
    """The store, moving a corrupt file aside (and saying so) rather than failing on it."""
    from jp1notify.store import Store, StoreError, quarantine

    try:
        return Store.open(config.outbox.data_dir)
    except StoreError as exc:
        if not exc.corrupt:
            raise
        moved = quarantine(config.outbox.data_dir)
        run.say(
            f"warning: the store was corrupt ({exc}); moved to {moved} and started afresh. "
            "Messages still pending in it were not sent: inspect it with the sqlite3 tool."
        )
        run.log_line("store", outcome="quarantined", moved_to=moved)
        return Store.open(config.outbox.data_dir)


def _record(
    store: Store, event: Event, classification: Classification, decision: Decision, config: Config
) -> Recorded:
    from jp1notify.store import record_event

    now = time.time()
    recorded = record_event(store, event, classification, decision, now)
    store.prune_daily(config.outbox.retention_days, now)
    return recorded


def drain(
    run: Invocation, store: Store, config: Config, environ: Mapping[str, str], eager: bool = False
) -> DrainReport:
    """Send what the store holds if this process gets the lease; say what went wrong."""
    from jp1notify.outbox import Sender

    report = Sender(store, config, environ, run.secrets, eager=eager).drain()
    for dead in report.dead:
        run.say(
            f"message {dead.message_id} to {dead.destination} is dead (will not be retried): "
            f"{dead.reason}. See `jp1notify history --state dead`."
        )
        run.log_line(
            "dead", message=dead.message_id, destination=dead.destination, reason=dead.reason
        )
    for problem in report.config_errors:
        run.say(
            f"cannot send: {problem}; the messages stay queued. Fix it (`jp1notify check-config` "
            "shows every destination), then run `jp1notify flush`."
        )
    for note in report.notes:
        run.say(note)
    return report


def _send_directly(
    run: Invocation,
    config: Config,
    event: Event,
    classification: Classification,
    decision: Decision,
    environ: Mapping[str, str],
    details: dict[str, object],
) -> Outcome:
    """Without a store: post now with bounded retries (the behaviour before the outbox)."""
    from jp1notify import delivery as slack

    results = _deliver(run, config, plan(config, event, classification, decision), environ)
    for result in results:
        attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
        if result.outcome == slack.DELIVERED:
            run.say(f"event {describe(event)} delivered to {result.destination} ({attempts})")
        else:
            run.say(
                f"event {describe(event)} NOT delivered to {result.destination} "
                f"({attempts}): {result.reason}"
            )
    outcomes = {r.outcome for r in results}
    details["results"] = ",".join(f"{r.destination}:{r.outcome}" for r in results)
    if "config" in outcomes:
        return Outcome("config_error", None, details)
    if slack.PERMANENT in outcomes:
        return Outcome("dead", None, details)
    if slack.RETRY in outcomes:
        run.say("the event could be neither delivered nor stored")
        return Outcome("lost", None, details)
    return Outcome("delivered", None, details)


def plan(
    config: Config, event: Event, classification: Classification, decision: Decision
) -> list[Plan]:
    plans = []
    for delivery in decision.deliveries:
        destination = config.destinations[delivery.destination]
        language = destination.language or config.language
        plans.append(
            Plan(
                delivery,
                render(
                    event,
                    classification,
                    delivery.route.name,
                    delivery.route.mentions,
                    language,
                    config,
                ),
            )
        )
    return plans


def _deliver(
    run: Invocation, config: Config, plans: list[Plan], environ: Mapping[str, str]
) -> list[Result]:
    from jp1notify import delivery as slack
    from jp1notify.config import resolve_webhook

    results = []
    with slack.Clients(config.http) as clients:
        if config.http.proxy:
            run.secrets.append(config.http.proxy)
        for plan in plans:
            name = plan.delivery.destination
            if plan.rendered.truncated:
                run.say(
                    f"message to {name} shortened to fit Slack: {', '.join(plan.rendered.truncated)}"
                )
            try:
                url = resolve_webhook(config.destinations[name], config, environ)
            except ConfigError as exc:
                results.append(slack.Result(name, "config", 0, exc.problems[0]))
                continue
            run.secrets.append(url)
            client = clients.for_url(url)
            verdict, attempts = slack.post(client, url, plan.rendered.payload, config.http)
            results.append(slack.Result(name, verdict.outcome, attempts, verdict.reason))
    return results


def dry_run_report(config: Config, event: Event) -> dict[str, object]:
    """What `send --dry-run` prints: the event, its classification, the routes, the payloads."""
    classification = classify(event, config)
    decision = route(event, classification, config)
    return {
        "config": str(config.path),
        "event": event.to_dict(),
        "classification": classification._asdict(),
        "ignored_by": decision.ignored_by,
        "unrouted": decision.unrouted,
        "messages": [
            {
                "route": p.delivery.route.name,
                "destination": p.delivery.destination,
                "webhook": config.destinations[p.delivery.destination].source.describe(),
                "truncated": list(p.rendered.truncated),
                "payload": p.rendered.payload,
            }
            for p in plan(config, event, classification, decision)
        ],
    }


def flush(run: Invocation, config: Config, environ: Mapping[str, str]) -> Outcome:
    """Send what is queued now (operators schedule `jp1notify flush` every few minutes)."""
    from jp1notify.store import StoreError

    try:
        store = open_store(run, config)
    except StoreError as exc:
        run.say(f"{exc}; check outbox.data_dir")
        return Outcome("store_error", None, {})
    try:
        report = drain(run, store, config, environ, eager=True)
        counts = store.counts()
        sender = store.lease_holder(time.time())
    finally:
        store.close()
    if not report.holder:
        run.say(
            f"another jp1notify process ({sender or 'just finished'}) is sending; it drains the queue"
        )
    else:
        run.say(
            f"flush: {report.sent} messages sent in {report.posts} posts; "
            f"{counts.get('pending', 0)} pending, {len(report.dead)} died now, "
            f"{counts.get('dead', 0)} dead in all"
            + (f"; last failure: {report.retry_reasons[-1]}" if report.retry_reasons else "")
        )
    details: dict[str, object] = {
        "sent": report.sent,
        "posts": report.posts,
        "stopped": report.stopped,
        "pending": counts.get("pending", 0),
    }
    name = "flushed" if report.holder else "busy"
    return Outcome(name, drain_problem(report), details)


def drain_problem(report: DrainReport | None) -> str | None:
    if report and report.config_errors:
        return "config"
    if report and report.dead:
        return "dead"
    return None


def describe(event: Event) -> str:
    parts = [event.event_id or event.raw_id or "?", event.unit.path or "(unit unknown)"]
    if event.unit.exec_id:
        parts.append(event.unit.exec_id)
    return " ".join(parts)
