"""The main job: one JP1 event from the environment to Slack, through the outbox; and the
operator's `flush` and `retry`.

`notify` classifies and routes the event, records it in the store, and drains the outbox if
this process gets the sender lease (outbox.py); without a usable store it posts directly with
bounded retries. A store found damaged at any step is moved aside, the pending messages still
readable in it are carried over to a fresh one, and the step is done again. Everything is said on
stderr (JP1 keeps it); each command returns an `Outcome`, which the command line maps to an exit
code.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from jp1notify.classify import Classification, classify
from jp1notify.config import Config
from jp1notify.errors import ConfigError, RecordedButFailed, StoreError, StoreProblem
from jp1notify.event import Event, event_datetime
from jp1notify.logfile import LogFile
from jp1notify.redaction import Secrets, redact
from jp1notify.routing import Decision, Delivery, route
from jp1notify.text import cut

if TYPE_CHECKING:
    import httpx

    from jp1notify.delivery import Result
    from jp1notify.destinations import Item
    from jp1notify.message import Rendered
    from jp1notify.outbox import DrainReport
    from jp1notify.runs import Run
    from jp1notify.store import MessageState, Recorded, Store

T = TypeVar("T")


class Ending(StrEnum):
    """How an invocation ended (the log's `outcome=`; cli.exit_code maps each to an exit code)."""

    DELIVERED = "delivered"
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    UNROUTED = "unrouted"
    DEAD = "dead"
    LOST = "lost"  # neither delivered nor stored
    STORE_ERROR = "store_error"  # the store failed (not damage: that is recovered from)
    STORE_LOCKED = "store_locked"  # another process held the store too long
    CONFIG_ERROR = "config_error"
    FLUSHED = "flushed"
    BUSY = "busy"  # flush: another process is sending
    REQUEUED = "requeued"
    USAGE = "usage"  # the command named something that is not there
    WATCHED = "watched"  # watch: expectations checked (missed runs alerted), the queue sent


class Problem(StrEnum):
    """What this process found while sending for others: the operator must act even if this
    invocation's own event went out."""

    CONFIG = "config"  # a destination it cannot send to: unreadable webhook, not in the config
    DEAD = "dead"  # it buried a message
    INTERNAL = "internal"  # a bug met while sending (the messages stay queued)


class Outcome(NamedTuple):
    """How an invocation ended, for the exit code and the log's end line."""

    name: Ending
    problem: Problem | None
    details: dict[str, object]


class Plan(NamedTuple):
    """One message ready to go: the routing decision's delivery and its rendered payload."""

    delivery: Delivery
    rendered: Rendered


class Invocation:
    """One run of a command: its clock, its log and the secrets to keep out of every output."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.started = time.monotonic()
        self.pid = os.getpid()
        self.secrets = Secrets()
        self.transport = transport  # an httpx transport replacing the network (in-process tests)
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
    classification, measured = _measure(run, config, event, classify(event, config))
    decision = route(event, classification, config)
    details: dict[str, object] = {"level": classification.level, "scope": classification.scope}
    if measured is not None:
        details["run_seconds"] = round(measured.seconds)
        details["slow"] = measured.slow
    details["routes"] = ",".join(f"{d.route.name}>{d.destination}" for d in decision.deliveries)
    ending = _say_decision(run, event, classification, decision, details)
    hold = _context_hold(config, classification, decision)
    try:
        store, recorded = _open_and_record(
            run, config, event, classification, decision, hold, measured
        )
    except RecordedButFailed as exc:
        run.say(f"the event is recorded, but the store failed right after: {exc}")
        return Outcome(store_ending(exc.error), None, details)
    except StoreError as exc:
        run.say(
            f"warning: the store is not usable ({exc}); sending without it, so an undelivered "
            f"event cannot be queued. Check that outbox.data_dir ({cut(str(config.outbox.data_dir), 160)}) is "
            "a writable local folder."
        )
        if ending is Ending.UNROUTED:
            _say_unrouted(run, event, classification)
        if ending:
            return Outcome(ending, None, details)
        return _send_directly(
            run, config, event, classification, decision, environ, details, measured
        )
    if recorded.incident is not None:
        details["incident"] = recorded.incident
    if recorded.resolved:
        details["resolved"] = ",".join(str(i) for i in recorded.resolved)
    if ending is Ending.UNROUTED and recorded.message_ids:
        ending = None  # it resolved an incident: its recovery goes where the incident was posted
    elif ending is Ending.UNROUTED and not recorded.duplicate:  # a duplicate says what it did
        _say_unrouted(run, event, classification)
    try:
        if recorded.duplicate:
            run.say(describe_duplicate(event, *store.event_messages(recorded.key)))
            ending = Ending.DUPLICATE
        elif hold:
            store = _add_context(run, config, store, event, recorded.key)
        store, (report, elsewhere, states) = recovering(
            run, config, store, lambda s: _drain_and_look(run, s, config, environ, recorded.key)
        )
    except StoreError as exc:
        if exc.problem is StoreProblem.LOCKED:  # a storm: the event is safe in the queue
            run.say(
                f"event {describe(event)} recorded and queued; the store is too busy to send now "
                "(many events at once): the process sending for all of them, or the next "
                "`jp1notify flush`, sends it"
            )
            return Outcome(Ending.QUEUED, None, details)
        run.say(f"the event is recorded, but the store failed while sending: {exc}")
        return Outcome(store_ending(exc), None, details)
    finally:
        store.close()
    if report:
        details.update(posts=report.posts, sent=report.sent, stopped=report.stopped)
    elif elsewhere:
        details.update(posts=0, sent=0, stopped="busy")  # as a drain that found the lease held
    return _own_outcome(run, event, states, report, ending, details, elsewhere)


def _measure(
    run: Invocation, config: Config, event: Event, classification: Classification
) -> tuple[Classification, Run | None]:
    """A jobnet end's run, read before routing: how long it took against its usual (runs.py); a
    slow run's level is raised to [durations] slow_level, so that a route with
    `levels = ["warning"]` picks up a slow normal end. Other events pay nothing (no store read)."""
    from jp1notify.runs import END_EVENTS, raise_level

    if event.event_id not in END_EVENTS or not event.jobnet or not event.unit.exec_id:
        return classification, None
    measured = _read_run(run, config, event)
    level, measured = raise_level(classification.level, measured, config.durations)
    if level == classification.level:
        return classification, measured
    reason = (
        f"slow run: durations.slow_level raised it from {classification.level}"
        f" ({classification.level_reason})"
    )
    return Classification(level, reason, classification.scope), measured


def _read_run(run: Invocation, config: Config, event: Event) -> Run | None:
    """The event's run assessed against the jobnet's earlier normal runs, from two indexed
    reads of the store; None if its start was not recorded. A store that cannot be read costs
    only the run time: the event goes on as ever (recording it says what is wrong)."""
    from jp1notify.runs import assess
    from jp1notify.store import Store

    assert event.jobnet and event.unit.exec_id
    jobnet, service = event.jobnet, event.unit.service
    moment = event_datetime(event, config.timezone)
    ended = moment.timestamp() if moment else time.time()
    try:
        store = Store.open(config.outbox.data_dir)
        try:
            started = store.run_started(jobnet, service, event.unit.exec_id, ended)
            previous = (
                store.previous_durations(jobnet, service, config.durations.runs)
                if started is not None
                else []
            )
        finally:
            store.close()
    except StoreError as exc:
        run.log_line("run_time", outcome="unread", error=exc)
        return None
    if started is None:
        return None
    return assess(ended - started, previous, config.durations)


def _context_hold(config: Config, classification: Classification, decision: Decision) -> float:
    """Until when the event's messages wait for the context command (0: none runs). The wait
    keeps a process that holds the sender lease from sending them without their context; if
    this process dies, they go out when it ends."""
    if config.context is None or not decision.deliveries:
        return 0.0
    from jp1notify.context import applies, hold_seconds

    if not applies(config.context, classification.level):
        return 0.0
    return time.time() + hold_seconds(config.context)


def _run_context(run: Invocation, config: Config, event: Event) -> str:
    """Run the context command; say what went wrong. The stored form of its result."""
    from jp1notify.context import run_context

    assert config.context is not None
    started = time.monotonic()
    result = run_context(config.context, event)
    if result.note:
        run.say(f"warning: {result.note}")
    run.log_line(
        "context",
        outcome=result.code or "ok",
        ms=round((time.monotonic() - started) * 1000),
        lines=result.text.count("\n") + 1 if result.text else 0,
    )
    return result.dumps()


def _add_context(run: Invocation, config: Config, store: Store, event: Event, key: str) -> Store:
    """Run the context command for the recorded event, keep its output with it and let its
    messages go. Returns the store in use afterwards (a new one after a recovery)."""
    context = _run_context(run, config, event)
    store, _ = recovering(run, config, store, lambda s: s.set_context(key, context))
    return store


def _say_decision(
    run: Invocation,
    event: Event,
    classification: Classification,
    decision: Decision,
    details: dict[str, object],
) -> Ending | None:
    if decision.ignored_by:
        run.say(f"event {describe(event)} ignored by {decision.ignored_by}")
        details["rule"] = decision.ignored_by
        return Ending.IGNORED
    if decision.unrouted:
        return Ending.UNROUTED  # said once the store tells whether it resolved an incident
    return None


def _say_unrouted(run: Invocation, event: Event, classification: Classification) -> None:
    run.say(
        f"warning: event {describe(event)} ({classification.level}, scope "
        f"{classification.scope}) matched no route and no ignore rule, so nobody was "
        "notified. Add a catch-all route (no conditions) or an [[ignore]] rule."
    )


def _open_and_record(
    run: Invocation,
    config: Config,
    event: Event,
    classification: Classification,
    decision: Decision,
    hold_until: float = 0.0,
    measured: Run | None = None,
) -> tuple[Store, Recorded]:
    """Record the event (recovering a damaged store); then the daily housekeeping, which never
    turns a recorded event into a failure. Raises StoreError only if the event is not recorded."""
    from jp1notify.store import record_event

    moment = event_datetime(event, config.timezone)
    quiet = _quiet_routes(config)

    def record(store: Store) -> Recorded:
        return record_event(
            store,
            event,
            classification,
            decision,
            time.time(),
            at=moment.timestamp() if moment else None,
            quiet_routes=quiet,
            hold_until=hold_until,
            run=measured,
        )

    store = open_store(run, config)
    try:
        store, recorded = _record_patiently(run, config, store, record)
        if store.moved():  # another process moved a damaged store aside meanwhile
            store.close()
            store = open_store(run, config)
            store, recorded = recovering(run, config, store, record)
    except StoreError:
        store.close()
        raise
    try:
        store, _ = recovering(
            run, config, store, lambda s: s.prune_daily(config.outbox.retention_days, time.time())
        )
    except StoreError as exc:  # the event is recorded: this must not send it a second way
        run.say(f"warning: the daily clean-up of the store failed ({exc}); the event is recorded")
        store.close()
        try:
            store = open_store(run, config)  # the same file, or the one a recovery started
        except StoreError as error:
            raise RecordedButFailed(error) from error
    return store, recorded


def _quiet_routes(config: Config) -> frozenset[tuple[str, str]]:
    """The (route, destination) pairs told no recovery: `recovery = false` silences a webhook's
    recovery message; a bot's parent message is still resolved (else it says "open" for ever)."""
    from jp1notify.destinations import ALWAYS_RESOLVED

    return frozenset(
        (r.name, name)
        for r in config.routes
        if not r.recovery
        for name in r.destinations
        if name in config.destinations and config.destinations[name].kind not in ALWAYS_RESOLVED
    )


def _record_patiently(
    run: Invocation, config: Config, store: Store, record: Callable[[Store], T]
) -> tuple[Store, T]:
    """Record, waiting for the store's lock up to RECORD_TRIES busy timeouts. In a storm of
    hundreds of processes on a slow host one of them can wait longer than one busy timeout
    (SQLite's waiting is not first come, first served: seen with 500 events on 2 busy cores), and
    sending without the store then competes with the sender for Slack's rate and may lose the
    event. Recording is worth the wait; such a process then sends only for what is left of its
    run bound (bounds.sending_left), so run_bound holds."""
    from jp1notify.bounds import RECORD_TRIES

    for attempt in range(1, RECORD_TRIES + 1):
        try:
            return recovering(run, config, store, record)
        except StoreError as exc:
            if exc.problem is not StoreProblem.LOCKED or attempt == RECORD_TRIES:
                raise
            run.log_line("store", outcome="busy", attempt=attempt)
    raise AssertionError("unreachable")


def _drain_and_look(
    run: Invocation, store: Store, config: Config, environ: Mapping[str, str], key: str
) -> tuple[DrainReport | None, bool, list[MessageState]]:
    """Send if this process gets the lease; then this event's messages. The middle value: the
    lease was seen held by another process, which sends this event (nothing was tried here)."""
    from jp1notify.bounds import sending_left

    # A process that waited long to record (a storm) sends only for what is left of its run bound.
    budget = sending_left(config, time.monotonic() - run.started)
    pending = budget > 0 and store.has_pending()
    if pending and _sending_elsewhere(store, config):
        return None, True, store.event_messages(key)[1]
    report = drain(run, store, config, environ, budget=budget) if pending else None
    return report, False, store.event_messages(key)[1]


def _sending_elsewhere(store: Store, config: Config) -> bool:
    """The sender lease is held by another process: the read that Store.take_lease starts with,
    made before the outbox and httpx are imported. In a storm most processes record their event
    and leave here, at the cost of a bare Python start (benchmarks/startup.py, "records and
    leaves"). A holder with this process's pid (a dead process's lease, the pid reused) is left
    to take_lease, which takes it over."""
    from jp1notify.bounds import lease_ahead

    holder = store.lease_held(time.time(), lease_ahead(config))
    return holder is not None and not holder.endswith(f":{os.getpid()}")


def _own_outcome(
    run: Invocation,
    event: Event,
    states: list[MessageState],
    report: DrainReport | None,
    ending: Ending | None,
    details: dict[str, object],
    elsewhere: bool = False,
) -> Outcome:
    """This event's messages decide the outcome; what this process buried is a problem too."""
    from jp1notify.store import State

    details["results"] = ",".join(f"{s.destination}:{s.state}" for s in states)
    own = {s.state for s in states}
    if ending is None:
        ending = (
            Ending.DEAD
            if State.DEAD in own
            else Ending.QUEUED
            if State.PENDING in own
            else Ending.DELIVERED
        )
    busy = elsewhere or (report is not None and not report.holder)
    others = " (another jp1notify process is sending)" if busy else ""
    for s in states:
        if s.state == State.SENT and ending is not Ending.DUPLICATE:
            run.say(f"event {describe(event)} delivered to {s.destination}")
        elif s.state == State.PENDING and ending is not Ending.DUPLICATE:
            reason = f"; last failure: {s.error}" if s.error else ""
            run.say(
                f"event {describe(event)} queued for {s.destination}{others}{reason}. "
                "It goes out with the next event or `jp1notify flush`."
            )
    return Outcome(ending, drain_problem(report), details)


def describe_duplicate(event: Event, received_at: float | None, states: list[MessageState]) -> str:
    """What became of the earlier copy of a duplicate event, and how to send it again."""
    from jp1notify.store import State

    when = _local(received_at) if received_at else "earlier"
    head = f"event {describe(event)} was already recorded at {when}; not sent again."
    if not states:
        return (
            f"{head} It went to no destination then (ignored or unrouted; see `jp1notify history`)."
        )
    parts = []
    for s in states:
        if s.state == State.SENT:
            sent = f" at {_local(s.sent_at)}" if s.sent_at else ""
            parts.append(f"{s.destination}: sent{sent} (message {s.id})")
        elif s.state == State.DEAD:
            parts.append(f"{s.destination}: dead, {s.error} (message {s.id})")
        else:
            parts.append(f"{s.destination}: still queued (message {s.id})")
    resend = " ".join(f"--id {s.id}" for s in states if s.state != State.PENDING)
    hint = f" To send it again: jp1notify retry {resend}" if resend else ""
    return f"{head} Earlier copy: {'; '.join(parts)}.{hint}"


def _local(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except (ValueError, OverflowError, OSError):  # a damaged stored time
        return "(unknown time)"


def open_store(run: Invocation, config: Config) -> Store:
    """The store; a damaged one is moved aside and replaced (recover)."""
    from jp1notify.store import Store

    try:
        return Store.open(config.outbox.data_dir)
    except StoreError as exc:
        if not exc.corrupt:
            raise
        return recover(run, config, exc)


def recovering(
    run: Invocation, config: Config, store: Store, action: Callable[[Store], T]
) -> tuple[Store, T]:
    """Run `action` on the store; if it finds the store damaged, recover and run it once more.
    Returns the store in use afterwards (a new one after a recovery) and the result."""
    try:
        return store, action(store)
    except StoreError as exc:
        if not exc.corrupt:
            raise
        store.close()
        store = recover(run, config, exc, store.identity)
    try:
        return store, action(store)
    except BaseException:
        store.close()
        raise


def recover(
    run: Invocation, config: Config, exc: StoreError, damaged: tuple[int, int] | None = None
) -> Store:
    """Move a damaged store aside, start a fresh one, and carry over the pending messages that
    can still be read from the damaged file. Says what happened. `damaged` identifies the file
    found damaged: if another process already replaced it, its new store is used as it is."""
    from jp1notify.store import DB_NAME, Store, file_identity, quarantine, salvage

    if damaged is not None and file_identity(config.outbox.data_dir / DB_NAME) != damaged:
        run.say(f"warning: {exc}; another jp1notify process has already moved it aside")
        return Store.open(config.outbox.data_dir)
    try:
        moved = quarantine(config.outbox.data_dir)
    except OSError as error:
        raise StoreError(
            f"{exc}, and it cannot be moved aside ({error.strerror or error}): another program "
            "may hold it open. Stop it, or move jp1notify.db aside by hand"
        ) from error
    rescued, stopped = salvage(moved)
    store = Store.open(config.outbox.data_dir)
    count = store.adopt(rescued)
    lost = (
        f" Reading it stopped early ({stopped}): pending messages after that point were not "
        f"rescued; inspect {moved} with the sqlite3 tool."
        if stopped
        else ""
    )
    run.say(
        f"warning: {exc}. It was moved to {moved} and a new store was started; {count} pending "
        f"message{'s' if count != 1 else ''} carried over.{lost}"
    )
    run.log_line("store", outcome="quarantined", moved_to=moved, rescued=count)
    return store


def drain(
    run: Invocation,
    store: Store,
    config: Config,
    environ: Mapping[str, str],
    eager: bool = False,
    budget: float | None = None,
) -> DrainReport:
    """Send what the store holds if this process gets the lease; say what went wrong."""
    from jp1notify.outbox import Sender

    report = Sender(
        store, config, environ, run.secrets, eager=eager, transport=run.transport, budget=budget
    ).drain()
    for dead in report.dead:
        run.say(
            f"message {dead.message_id} to {dead.destination} is dead (will not be retried): "
            f"{dead.reason}. See `jp1notify history --state dead`; once fixed, "
            f"`jp1notify retry --id {dead.message_id}` sends it again."
        )
        run.log_line(
            "dead", message=dead.message_id, destination=dead.destination, reason=dead.reason
        )
    for problem in report.config_errors:
        run.say(
            f"cannot send: {problem}; the messages stay queued. Fix it (`jp1notify check-config` "
            "shows every destination), then run `jp1notify flush`."
        )
    for name, count in report.orphans:
        run.say(
            f"{count} message{'s' if count != 1 else ''} wait for destination {name!r}, which is no "
            f"longer in the config: they stay queued. Put [destinations.{name}] back, or move them "
            f"with `jp1notify retry --from {name} --to <destination>`."
        )
    for error in report.internal_errors:
        run.say(
            f"internal error while sending ({error}); the messages stay queued. This is a bug in "
            "jp1notify: please report it with this line and the log."
        )
        run.log_line("internal_error", error=error)
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
    measured: Run | None = None,
) -> Outcome:
    """Without a store: post now with bounded retries (the behaviour before the outbox)."""
    from jp1notify.delivery import DELIVERED, FINAL

    context = None
    if _context_hold(config, classification, decision):
        context = _run_context(run, config, event)
    results = _deliver(run, config, event, classification, decision, environ, context, measured)
    for result in results:
        attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
        if result.outcome == DELIVERED:
            run.say(f"event {describe(event)} delivered to {result.destination} ({attempts})")
        else:
            run.say(
                f"event {describe(event)} NOT delivered to {result.destination} "
                f"({attempts}): {result.reason}"
            )
    outcomes = {r.outcome for r in results}
    details["results"] = ",".join(f"{r.destination}:{r.outcome}" for r in results)
    if "unusable" in outcomes:
        return Outcome(Ending.CONFIG_ERROR, None, details)
    if outcomes & FINAL:
        return Outcome(Ending.DEAD, None, details)
    if outcomes - {DELIVERED}:
        run.say("the event could be neither delivered nor stored")
        return Outcome(Ending.LOST, None, details)
    return Outcome(Ending.DELIVERED, None, details)


def plan(
    config: Config,
    event: Event,
    classification: Classification,
    decision: Decision,
    context: str | None = None,
) -> list[Plan]:
    """Each delivery's message as its destination's kind renders it (without incident: the
    store places the event in one; the dry run and a direct send show the plain message)."""
    from jp1notify.destinations import renderer_for

    plans = []
    for delivery in decision.deliveries:
        destination = config.destinations[delivery.destination]
        item = _item(config, event, classification, delivery, context)
        plans.append(Plan(delivery, renderer_for(destination, config).render(item)))
    return plans


def _item(
    config: Config,
    event: Event,
    classification: Classification,
    delivery: Delivery,
    context: str | None,
    measured: Run | None = None,
) -> Item:
    """A delivery's message as the kinds take it, outside the outbox (no incident, no id)."""
    from jp1notify.destinations import Item

    destination = config.destinations[delivery.destination]
    language = destination.language or config.language
    route = delivery.route
    return Item(
        0,
        event,
        classification,
        route.name,
        route.mentions,
        language,
        context=context,
        run=measured,
    )


def _deliver(
    run: Invocation,
    config: Config,
    event: Event,
    classification: Classification,
    decision: Decision,
    environ: Mapping[str, str],
    context: str | None = None,
    measured: Run | None = None,
) -> list[Result]:
    """Send each delivery; all of them share one retry budget, so the run stays within its
    bound. No incident here: without a store, there is nothing to thread or resolve."""
    from jp1notify import delivery
    from jp1notify.bounds import patient_timeout
    from jp1notify.config import read_secret
    from jp1notify.delivery import Verdict
    from jp1notify.destinations import Channel, channel_for, shortened

    results = []
    deadline = time.monotonic() + config.http.retry_budget
    run.secrets.add_proxies(config.http.proxy, environ)
    with delivery.Clients(config.http, run.transport) as clients:
        http = delivery.Http(clients, run.secrets)
        for d in decision.deliveries:
            name = d.destination
            destination = config.destinations[name]
            try:
                secret = read_secret(destination, config, environ, run.secrets)
            except ConfigError as exc:
                results.append(
                    delivery.Result(name, delivery.Disposition.UNUSABLE, 0, exc.problems[0])
                )
                continue
            channel = channel_for(destination, config, secret)
            item = _item(config, event, classification, d, context, measured)
            cut = channel.render(item).truncated
            if cut:
                run.say(f"message {shortened(name, destination.kind, cut)}")

            def once(timeout: float, c: Channel = channel, i: Item = item) -> Verdict:
                return c.deliver(http, i, None, timeout).verdict

            verdict, attempts = delivery.post(
                once,
                config.http,
                deadline,
                patient=patient_timeout(config, 1),
            )
            results.append(delivery.Result(name, verdict.disposition, attempts, verdict.reason))
    return results


def dry_run_report(config: Config, event: Event) -> dict[str, object]:
    """What `send --dry-run` prints: the event, its classification, the routes, the payloads.
    A dry run executes nothing: the context command is named, not run."""
    classification = classify(event, config)
    decision = route(event, classification, config)
    would_run = bool(_context_hold(config, classification, decision))
    return {
        "config": str(config.path),
        "overrides": {o.variable: o.label for o in config.overrides},
        "event": event.to_dict(),
        "classification": classification._asdict(),
        "ignored_by": decision.ignored_by,
        "unrouted": decision.unrouted,
        "context": "context command not run in a dry run" if would_run else None,
        "messages": [
            {
                "route": p.delivery.route.name,
                "destination": p.delivery.destination,
                "kind": config.destinations[p.delivery.destination].kind,
                "webhook": config.destinations[p.delivery.destination].source.describe(),
                "truncated": list(p.rendered.truncated),
                "payload": p.rendered.payload,
            }
            for p in plan(config, event, classification, decision)
        ],
    }


def flush(run: Invocation, config: Config, environ: Mapping[str, str]) -> Outcome:
    """Send what is queued now (operators schedule `jp1notify flush` every few minutes). It also
    reads the whole store once, so that damage is found even where no event looks."""
    from jp1notify.store import State

    def work(store: Store) -> tuple[DrainReport, dict[str, int], str | None]:
        store.check()
        report = drain(run, store, config, environ, eager=True)
        from jp1notify.destinations.alertmanager import resend_for

        resend_for(run, store, config, environ)  # Alertmanager forgets alerts not re-sent
        return report, store.counts(), store.lease_holder(time.time())

    try:
        report, counts, sender = with_store(run, config, work)
    except StoreError as exc:
        run.say(f"{exc}; nothing was sent")
        return Outcome(store_ending(exc), None, {})
    if not report.holder:
        run.say(
            f"another jp1notify process ({sender or 'just finished'}) is sending; it drains the queue"
        )
    else:
        run.say(
            f"flush: {report.sent} messages sent in {report.posts} posts; "
            f"{counts.get(State.PENDING, 0)} pending, {len(report.dead)} died now, "
            f"{counts.get(State.DEAD, 0)} dead in all"
            + (f"; last failure: {report.retry_reasons[-1]}" if report.retry_reasons else "")
        )
    details: dict[str, object] = {
        "sent": report.sent,
        "posts": report.posts,
        "stopped": report.stopped,
        "pending": counts.get(State.PENDING, 0),
    }
    return Outcome(Ending.FLUSHED if report.holder else Ending.BUSY, drain_problem(report), details)


class Selection(NamedTuple):
    """Which messages `jp1notify retry` puts back in the queue."""

    ids: tuple[int, ...] = ()
    since: float | None = None
    all_dead: bool = False
    source: str | None = None
    to: str | None = None


def retry(
    run: Invocation, config: Config, environ: Mapping[str, str], selection: Selection
) -> Outcome:
    """Put dead (or chosen, or orphaned) messages back in the queue, then send at once."""
    if selection.to is not None and selection.to not in config.destinations:
        known = ", ".join(sorted(config.destinations))
        run.say(f"--to {cut(selection.to)}: no such destination in the config (known: {known})")
        return Outcome(Ending.USAGE, None, {})

    def work(store: Store) -> tuple[int, DrainReport]:
        orphans = _orphans(store, config)
        if selection.source in orphans and selection.to is None:
            run.say(
                f"destination {selection.source!r} is not in the config: add --to <destination> "
                "to move its messages to one that is"
            )
        count = store.requeue(
            ids=selection.ids,
            dead_since=selection.since,
            all_dead=selection.all_dead,
            source=selection.source,
            orphans_of=orphans,
            to=selection.to,
        )
        _say_requeued(run, count, selection)
        return count, drain(run, store, config, environ, eager=True)

    try:
        count, report = with_store(run, config, work)
    except StoreError as exc:
        run.say(f"{exc}; nothing was changed")
        return Outcome(store_ending(exc), None, {})
    if report.holder:
        run.say(f"retry: {report.sent} messages sent in {report.posts} posts")
    details: dict[str, object] = {"requeued": count, "sent": report.sent, "posts": report.posts}
    return Outcome(Ending.REQUEUED, drain_problem(report), details)


def _say_requeued(run: Invocation, count: int, selection: Selection) -> None:
    to = f" for destination {selection.to}" if selection.to else ""
    if count:
        run.say(f"{count} message{'s' if count != 1 else ''} put back in the queue{to}")
    else:
        run.say(
            "no message matched (pending messages are already queued); "
            "`jp1notify history --state dead` lists the dead ones with their ids"
        )


def _orphans(store: Store, config: Config) -> list[str]:
    """Destinations holding pending messages that are not in the config."""
    return [d.name for d in store.due(time.time(), 0) if d.name not in config.destinations]


def with_store(run: Invocation, config: Config, work: Callable[[Store], T]) -> T:
    """Open the store, do `work` with it (recovering a damaged store once), close it."""
    store = open_store(run, config)
    try:
        store, result = recovering(run, config, store, work)
    finally:
        store.close()
    return result


def store_ending(exc: StoreError) -> Ending:
    return Ending.STORE_LOCKED if exc.problem is StoreProblem.LOCKED else Ending.STORE_ERROR


def drain_problem(report: DrainReport | None) -> Problem | None:
    if report and (report.config_errors or report.orphans):
        return Problem.CONFIG
    if report and report.internal_errors:
        return Problem.INTERNAL
    if report and report.dead:
        return Problem.DEAD
    return None


def describe(event: Event) -> str:
    parts = [event.event_id or event.raw_id or "?", event.unit.path or "(unit unknown)"]
    if event.unit.exec_id:
        parts.append(event.unit.exec_id)
    return " ".join(parts)
