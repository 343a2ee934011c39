"""The command line: `jp1notify [send]`, `jp1notify check-config`. The only place that turns
outcomes and exceptions into exit codes (`EXIT_*`, table in the README).

`jp1notify` with no arguments is what scripts/notification.bat runs under JP1: read the event
from the environment, route it, send it. Operator diagnostics go to stderr, which JP1 keeps as
the job's result; stdout is for dry-run JSON and check-config summaries.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from jp1notify import __version__
from jp1notify.classify import Classification, classify
from jp1notify.config import Config, ConfigError, find_config, load_config
from jp1notify.envfile import EnvFileError, read_env_file
from jp1notify.event import Event, EventError, parse_event
from jp1notify.logfile import LogFile
from jp1notify.message import Rendered, render
from jp1notify.redaction import redact
from jp1notify.routing import Decision, Delivery, route

if TYPE_CHECKING:
    import argparse

    from jp1notify.delivery import Result
    from jp1notify.outbox import DrainReport
    from jp1notify.store import Recorded, Store

# Exit codes (sysexits.h values, so they differ from the 1 that many tools return; never 1, -1
# or 255, which JP1 and other programs use). Keep in step with the README's table.
EXIT_OK = 0  # delivered or safely queued; or ignored by a rule, a duplicate, matched no route
EXIT_USAGE = 64  # wrong command-line arguments
EXIT_EVENT = 65  # no usable JP1 event in the environment (or the --env-file is unreadable)
EXIT_UNDELIVERABLE = 69  # Slack refused permanently: a message is dead (channel gone, ...)
EXIT_INTERNAL = 70  # a bug in jp1notify; the traceback is on stderr
EXIT_LOST = 74  # the event could be neither delivered nor stored (store and Slack both failed)
EXIT_INTERRUPTED = 75  # stopped by Ctrl+C or a kill; what was recorded stays queued
EXIT_CONFIG = 78  # the config is invalid or a webhook URL cannot be read

DEBUG_ENV = "JP1NOTIFY_DEBUG"  # set to 1 to let unexpected exceptions propagate (tests)


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


def run() -> None:
    """The console entry point: main(), then leave without interpreter teardown.

    A JP1 event costs one process start; tearing down ~200 modules at exit is wasted time
    (10-20 ms). Everything that must reach disk is written and closed before main() returns.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    _tolerant_streams()
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        args = _parser().parse_args(_with_default_command(argv))
    else:  # what notification.bat runs: skip building the argument parser
        args = _Args(handler=cmd_send, config=None, env_file=None, dry_run=False)
    environ = os.environ
    try:
        return args.handler(args, environ)
    except ConfigError as exc:
        _say_config_error(exc)
        return EXIT_CONFIG
    except EnvFileError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_EVENT
    except KeyboardInterrupt:
        print("jp1notify: interrupted; recorded events stay queued", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if environ.get(DEBUG_ENV):
            raise
        print(
            f"jp1notify: internal error ({type(exc).__name__}: {redact(str(exc))}). "
            "This is a bug in jp1notify: please report it with the traceback below.",
            file=sys.stderr,
        )
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr)
        return EXIT_INTERNAL


def cmd_send(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    config = load_config(find_config(args.config, environ))
    source = read_env_file(Path(args.env_file)) if args.env_file else environ
    if args.dry_run:
        return _dry_run(config, source)
    run = Invocation(config)
    try:
        event = parse_event(source)
    except EventError as exc:
        run.log_line("end", outcome="unusable_event", elapsed_ms=run.elapsed_ms())
        run.say(str(exc))
        return EXIT_EVENT
    run.log_line(
        "start",
        event=event.event_id or event.raw_id,
        unit=event.unit.path,
        exec_id=event.unit.exec_id,
        host=event.host,
        source="env-file" if args.env_file else "environment",
    )
    code, outcome, details = _notify(run, config, event, environ)
    run.log_line("end", outcome=outcome, exit=code, elapsed_ms=run.elapsed_ms(), **details)
    if run.log.error:
        run.say(f"warning: {run.log.error}; set log.dir in the config to a writable folder")
    return code


def _notify(
    run: Invocation, config: Config, event: Event, environ: Mapping[str, str]
) -> tuple[int, str, dict[str, object]]:
    """Classify, route, record, send. Returns (exit code, outcome, fields for the log)."""
    classification = classify(event, config)
    decision = route(event, classification, config)
    details: dict[str, object] = {"level": classification.level, "scope": classification.scope}
    details["routes"] = ",".join(f"{d.route.name}>{d.destination}" for d in decision.deliveries)
    if decision.ignored_by:
        run.say(f"event {_describe(event)} ignored by {decision.ignored_by}")
        details["rule"] = decision.ignored_by
    elif decision.unrouted:
        run.say(
            f"warning: event {_describe(event)} ({classification.level}, scope "
            f"{classification.scope}) matched no route and no ignore rule, so nobody was "
            "notified. Add a catch-all route (no conditions) or an [[ignore]] rule."
        )
    outcome = "ignored" if decision.ignored_by else "unrouted" if decision.unrouted else None
    import sqlite3

    from jp1notify.store import StoreError

    try:
        store = _open_store(run, config)
        recorded = _record(store, event, classification, decision, config)
    except (StoreError, sqlite3.Error) as exc:
        run.say(
            f"warning: the store is not usable ({exc}); sending without it, so an undelivered "
            f"event cannot be queued. Check that outbox.data_dir ({config.outbox.data_dir}) is "
            "a writable local folder."
        )
        if outcome:
            return EXIT_OK, outcome, details
        return _send_directly(run, config, event, classification, decision, environ, details)
    try:
        if recorded.duplicate:
            run.say(f"event {_describe(event)} was already recorded; not sent again")
            outcome = "duplicate"
        report = _drain(run, store, config, environ) if store.has_pending() else None
        states = store.message_states(recorded.message_ids) if recorded.message_ids else []
    except sqlite3.Error as exc:
        run.say(f"the event is recorded, but the store failed while sending: {exc}")
        return EXIT_LOST, "store_error", details
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
) -> tuple[int, str, dict[str, object]]:
    """The exit code of `send`: this event's messages, and anything this process buried."""
    details["results"] = ",".join(f"{dest}:{state}" for dest, state, _ in states)
    own = {state for _, state, _ in states}
    if outcome is None:
        outcome = "dead" if "dead" in own else "queued" if "pending" in own else "delivered"
    others = " (another jp1notify process is sending)" if report and not report.holder else ""
    for destination, state, error in states:
        if state == "sent":
            run.say(f"event {_describe(event)} delivered to {destination}")
        elif state == "pending":
            reason = f"; last failure: {error}" if error else ""
            run.say(
                f"event {_describe(event)} queued for {destination}{others}{reason}. "
                "It goes out with the next event or `jp1notify flush`."
            )
    if report and report.config_errors:
        return EXIT_CONFIG, outcome, details
    if (report and report.dead) or outcome == "dead":
        return EXIT_UNDELIVERABLE, outcome, details
    return EXIT_OK, outcome, details


def _open_store(run: Invocation, config: Config) -> Store:
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


def _drain(
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
        run.say(f"cannot send: {problem}; the messages stay queued")
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
) -> tuple[int, str, dict[str, object]]:
    """Without a store: post now with bounded retries (the behaviour before the outbox)."""
    from jp1notify import delivery as slack

    results = _deliver(run, config, _plan(config, event, classification, decision), environ)
    for result in results:
        attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
        if result.outcome == slack.DELIVERED:
            run.say(f"event {_describe(event)} delivered to {result.destination} ({attempts})")
        else:
            run.say(
                f"event {_describe(event)} NOT delivered to {result.destination} "
                f"({attempts}): {result.reason}"
            )
    outcomes = {r.outcome for r in results}
    details["results"] = ",".join(f"{r.destination}:{r.outcome}" for r in results)
    if "config" in outcomes:
        return EXIT_CONFIG, "config_error", details
    if slack.PERMANENT in outcomes:
        return EXIT_UNDELIVERABLE, "dead", details
    if slack.RETRY in outcomes:
        run.say("the event could be neither delivered nor stored")
        return EXIT_LOST, "lost", details
    return EXIT_OK, "delivered", details


def _plan(
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


def _dry_run(config: Config, source: Mapping[str, str]) -> int:
    """Print what would be sent, as JSON on stdout; send nothing, write no log."""
    import json

    try:
        event = parse_event(source)
    except EventError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_EVENT
    classification = classify(event, config)
    decision = route(event, classification, config)
    report = {
        "config": str(config.path),
        "event": event.to_dict(),
        "classification": classification._asdict(),
        "ignored_by": decision.ignored_by,
        "unrouted": decision.unrouted,
        "messages": [
            {
                "route": plan.delivery.route.name,
                "destination": plan.delivery.destination,
                "webhook": config.destinations[plan.delivery.destination].source.describe(),
                "truncated": list(plan.rendered.truncated),
                "payload": plan.rendered.payload,
            }
            for plan in _plan(config, event, classification, decision)
        ],
    }
    print(redact(json.dumps(report, ensure_ascii=False, indent=2)))
    return EXIT_OK


def cmd_flush(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Send what is queued (operators schedule this in JP1 every few minutes)."""
    config = load_config(find_config(args.config, environ))
    run = Invocation(config)
    from jp1notify.store import StoreError

    try:
        store = _open_store(run, config)
    except StoreError as exc:
        run.say(f"{exc}; check outbox.data_dir")
        return EXIT_LOST
    try:
        report = _drain(run, store, config, environ, eager=True)
        counts = store.counts()
    finally:
        store.close()
    if not report.holder:
        run.say("another jp1notify process is sending; it will drain the queue")
    else:
        run.say(
            f"flush: {report.sent} messages sent in {report.posts} posts; "
            f"{counts.get('pending', 0)} pending, {len(report.dead)} died now, "
            f"{counts.get('dead', 0)} dead in all"
            + (f"; last failure: {report.retry_reasons[-1]}" if report.retry_reasons else "")
        )
    run.log_line(
        "flush",
        sent=report.sent,
        posts=report.posts,
        stopped=report.stopped,
        pending=counts.get("pending", 0),
        elapsed_ms=run.elapsed_ms(),
    )
    if report.config_errors:
        return EXIT_CONFIG
    return EXIT_UNDELIVERABLE if report.dead else EXIT_OK


def cmd_history(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from jp1notify.history import show_history

    config = load_config(find_config(args.config, environ))
    return show_history(config, args)


def cmd_check_config(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from jp1notify.summary import summarize

    config = load_config(find_config(args.config, environ))
    print(redact(summarize(config, environ)))
    return EXIT_OK


def _describe(event: Event) -> str:
    parts = [event.event_id or event.raw_id or "?", event.unit.path or "(unit unknown)"]
    if event.unit.exec_id:
        parts.append(event.unit.exec_id)
    return " ".join(parts)


def _say_config_error(exc: ConfigError) -> None:
    lines = [f"jp1notify: the config {exc.path} is not usable:"]
    lines += [f"  {redact(problem)}" for problem in exc.problems]
    lines.append("Fix the lines above, then check with: jp1notify check-config")
    print("\n".join(lines), file=sys.stderr)


class _Args:
    """The parsed command line (argparse.Namespace without importing argparse)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            print(f"jp1notify: {message}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    parser = Parser(prog="jp1notify", description="Send JP1/AJS3 events to Slack.")
    parser.add_argument("--version", action="version", version=f"jp1notify {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=Parser)
    send = commands.add_parser(
        "send", help="read a JP1 event and send it (the default: what notification.bat runs)"
    )
    _add_config_option(send)
    send.add_argument(
        "--env-file", metavar="PATH", help="read the event from this NAME=value file (dev mode)"
    )
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="print the event, routes and payloads as JSON; send nothing",
    )
    send.set_defaults(handler=cmd_send)
    check = commands.add_parser("check-config", help="validate the config and summarise its routes")
    _add_config_option(check)
    check.set_defaults(handler=cmd_check_config)
    flush = commands.add_parser("flush", help="send what is queued (schedule it in JP1)")
    _add_config_option(flush)
    flush.set_defaults(handler=cmd_flush)
    history = commands.add_parser("history", help="list recent events and their delivery state")
    _add_config_option(history)
    history.add_argument(
        "--jobnet", metavar="PATTERN", help="unit or jobnet path pattern: /PROD/**"
    )
    history.add_argument("--since", metavar="WHEN", help="2h, 30m, 7d, or 2026-11-22[T02:00]")
    history.add_argument("--state", choices=("pending", "sent", "dead"), help="message state")
    history.add_argument("--limit", type=int, default=50, help="most events shown (default 50)")
    history.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    history.set_defaults(handler=cmd_history)
    return parser


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $JP1NOTIFY_CONFIG, else config/jp1notify.toml beside the program)",
    )


def _with_default_command(argv: list[str]) -> list[str]:
    """`jp1notify` and `jp1notify --dry-run ...` mean `jp1notify send ...`."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        return ["send", *argv]
    return argv


def _tolerant_streams() -> None:
    """Never crash on a character the console code page (CP932) cannot show."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(errors="backslashreplace")
