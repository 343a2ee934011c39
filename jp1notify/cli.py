"""The command line: `jp1notify [send]`, `flush`, `history`, `check-config`. The only place that
turns outcomes and exceptions into exit codes (`EXIT_*`, table in the README).

`jp1notify` with no arguments is what scripts/notification.bat runs under JP1: read the event
from the environment and hand it to the main job (notify.py). Operator diagnostics go to stderr,
which JP1 keeps as the job's result; stdout is for dry-run JSON, summaries and history.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from jp1notify import __version__
from jp1notify.config import Config, ConfigError, find_config, load_config
from jp1notify.envfile import EnvFileError, read_env_file
from jp1notify.event import EventError, parse_event
from jp1notify.notify import Invocation, Outcome, notify
from jp1notify.redaction import redact

if TYPE_CHECKING:
    import argparse

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
    args: argparse.Namespace | _Args
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
    outcome = notify(run, config, event, environ)
    code = exit_code(outcome)
    run.log_line(
        "end", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
    )
    if run.log.error:
        run.say(f"warning: {run.log.error}; set log.dir in the config to a writable folder")
    return code


def exit_code(outcome: Outcome) -> int:
    """The one mapping from how an invocation ended to the code JP1 sees."""
    if outcome.problem == "config":
        return EXIT_CONFIG
    if outcome.problem == "dead":
        return EXIT_UNDELIVERABLE
    return _EXIT_CODES[outcome.name]


_EXIT_CODES = {
    "delivered": EXIT_OK,
    "queued": EXIT_OK,
    "duplicate": EXIT_OK,
    "ignored": EXIT_OK,
    "unrouted": EXIT_OK,
    "flushed": EXIT_OK,
    "busy": EXIT_OK,
    "dead": EXIT_UNDELIVERABLE,
    "lost": EXIT_LOST,
    "store_error": EXIT_LOST,
    "config_error": EXIT_CONFIG,
}


def _dry_run(config: Config, source: Mapping[str, str]) -> int:
    """Print what would be sent, as JSON on stdout; send nothing, write no log."""
    import json

    from jp1notify.notify import dry_run_report

    try:
        event = parse_event(source)
    except EventError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_EVENT
    print(redact(json.dumps(dry_run_report(config, event), ensure_ascii=False, indent=2)))
    return EXIT_OK


def cmd_flush(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Send what is queued (operators schedule this in JP1 every few minutes)."""
    from jp1notify.notify import flush

    config = load_config(find_config(args.config, environ))
    run = Invocation(config)
    outcome = flush(run, config, environ)
    code = exit_code(outcome)
    run.log_line(
        "flush", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
    )
    return code


def cmd_history(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from jp1notify.history import show_history

    config = load_config(find_config(args.config, environ))
    return show_history(config, args)


def cmd_check_config(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Validate the config, summarise it and check locally what can be checked: 78 when it
    cannot deliver or queue here (the errors are listed), 0 with or without warnings."""
    from jp1notify.summary import summarize

    config = load_config(find_config(args.config, environ))
    summary = summarize(config, environ)
    print(redact(summary.text))
    if not summary.errors:
        return EXIT_OK
    lines = ["Errors:", *(f"  - {redact(e)}" for e in summary.errors)]
    lines.append("Fix the lines above, then check again with: jp1notify check-config")
    print("\n".join(lines))
    return EXIT_CONFIG


def _say_config_error(exc: ConfigError) -> None:
    lines = [f"jp1notify: the config {exc.path} is not usable:"]
    lines += [f"  {redact(problem)}" for problem in exc.problems]
    lines.append("Fix the lines above, then check with: jp1notify check-config")
    print("\n".join(lines), file=sys.stderr)


class _Args:
    """The parsed command line (argparse.Namespace without importing argparse)."""

    handler: Callable[[Any, Mapping[str, str]], int]

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
