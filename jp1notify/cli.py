"""The command line: `jp1notify [send]`, `flush`, `retry`, `history`, `incidents`, `report`, `check-config`. The only place that
turns outcomes and exceptions into exit codes (`EXIT_*`, table in the README).

`jp1notify` with no arguments is what scripts/notification.bat runs under JP1: read the event
from the environment and hand it to the main job (notify.py). Operator diagnostics go to stderr,
which JP1 keeps as the job's result; stdout is for dry-run JSON, summaries and history.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from jp1notify import DEBUG_ENV, __version__
from jp1notify.config import Config, find_config, load_config
from jp1notify.envfile import read_env_file
from jp1notify.errors import (
    CommandLineExit,
    ConfigError,
    EnvFileError,
    EventError,
    HistoryError,
    StoreError,
)
from jp1notify.event import Event, parse_event
from jp1notify.notify import Ending, Invocation, Outcome, Problem, notify
from jp1notify.redaction import redact
from jp1notify.text import cut

if TYPE_CHECKING:
    import argparse

    import httpx

# Exit codes (sysexits.h values, so they differ from the 1 that many tools return; never 1, -1
# or 255, which JP1 and other programs use). Keep in step with the README's table.
EXIT_OK = 0  # delivered or safely queued; or ignored by a rule, a duplicate, matched no route
EXIT_USAGE = 64  # wrong command-line arguments
EXIT_EVENT = 65  # no usable JP1 event in the environment (or the --env-file is unreadable)
EXIT_UNDELIVERABLE = 69  # Slack refused permanently: a message is dead (channel gone, ...)
EXIT_INTERNAL = 70  # a bug in jp1notify; the traceback is on stderr
EXIT_LOST = 74  # the event could be neither delivered nor stored; the store or the output failed
EXIT_TEMPFAIL = 75  # interrupted, out of time, or the store was locked: recorded events stay queued
EXIT_CONFIG = 78  # the config is invalid or a destination cannot be sent to as configured
EXIT_INTERRUPTED = EXIT_TEMPFAIL

# `history --state`: store.State's values, written out so that parsing the command line does
# not import the store (sqlite3); test_enums checks that they agree.
MESSAGE_STATES = ("pending", "sent", "dead")

# How the watchdog ends an overrunning process: lent by run(), the process entry point, and the
# only code that ends the process. main() called in-process (tests) starts no watchdog.
_end_process: Callable[[int], NoReturn] | None = None


def run() -> None:
    """The console entry point: main(), then leave without interpreter teardown.

    A JP1 event costs one process start; tearing down ~200 modules at exit is wasted time
    (10-20 ms). Everything that must reach disk is written and closed before main() returns.
    """
    global _end_process
    _end_process = os._exit
    code = main()
    code = _finish_output(code)
    os._exit(code)


def main(
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run one command and return its exit code; never ends the process (run() does). `argv`
    and `environ` default to the process's own; tests pass theirs to run it in-process, and
    `transport` (httpx.MockTransport) in place of the network."""
    _tolerant_streams()
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        args = _arguments(argv)
    except CommandLineExit as exc:  # a usage error (said on stderr), --help or --version
        return exc.code
    args.transport = transport
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
    except BrokenPipeError:
        return _output_closed()
    except OSError as exc:
        if not _is_output_error(exc):
            return _internal_error(exc, environ)
        print(f"jp1notify: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_LOST
    except Exception as exc:
        return _internal_error(exc, environ)


def _arguments(argv: list[str]) -> argparse.Namespace | _Args:
    if not argv:  # what notification.bat runs: skip building the argument parser
        return _Args(handler=cmd_send, config=None, env_file=None, dry_run=False)
    from jp1notify.actionargs import after_settings

    parser = _parser()
    argv, late = after_settings(_with_default_command(argv))
    args, stray = parser.parse_known_args(argv)
    stray += late
    if stray and not getattr(args, "settings", None):
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    args.stray = stray  # with --set: words a quote in a value split off (actionargs.py)
    return args


def _internal_error(exc: Exception, environ: Mapping[str, str]) -> int:
    if environ.get(DEBUG_ENV):
        raise exc
    print(
        f"jp1notify: internal error ({type(exc).__name__}: {redact(str(exc))}). "
        "This is a bug in jp1notify: please report it with the traceback below.",
        file=sys.stderr,
    )
    import traceback

    print(redact(traceback.format_exc()), file=sys.stderr)
    return EXIT_INTERNAL


def _is_output_error(exc: OSError) -> bool:
    """True for a failure to write our output (a full disk, an I/O error), which names no file;
    any other OSError reaching here is a bug."""
    import errno

    # EINVAL: what Windows reports for a pipe whose reader went away (`history | more`)
    return exc.filename is None and exc.errno in (
        errno.ENOSPC,
        errno.EIO,
        errno.EPIPE,
        errno.EINVAL,
    )


def _output_closed() -> int:
    """The reader of our output went away (`jp1notify history | head`): not a failure."""
    _silence_stdout()
    return EXIT_OK


def _finish_output(code: int) -> int:
    """Flush stdout and stderr; a failure here (a full disk, a closed pipe) still gets a
    documented exit code and no traceback."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:
        _silence_stdout()
        with contextlib.suppress(OSError):
            print(f"jp1notify: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        code = code or EXIT_LOST
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    return code


def _silence_stdout() -> None:
    """Point stdout at the null device so that nothing tries to write the lost output again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _start_watchdog(config: Config, command: str) -> None:
    """End the process with EXIT_TEMPFAIL if it outlives its documented bound (bounds.py). Every
    step is bounded on its own; this is the last line of defence, so JP1 never waits forever.
    Armed only under run(), which lends it the means to end the process."""
    end = _end_process
    if end is None:
        return
    import _thread  # built in: no import cost on the JP1 path

    from jp1notify.bounds import run_bound

    seconds = run_bound(config)

    def watch() -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            os.write(
                2,
                f"jp1notify: {command} stopped after {seconds:.0f}s, the longest it may run "
                "(README: Time bounds); recorded events stay queued for the next event or "
                "`jp1notify flush`\n".encode(),
            )
        end(EXIT_TEMPFAIL)

    _thread.start_new_thread(watch, ())


def cmd_send(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = getattr(args, "settings", None)
    if settings and args.env_file:
        print("jp1notify: send: give the event either by --set or by --env-file", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(find_config(args.config, environ), environ)
    source = read_env_file(Path(args.env_file)) if args.env_file else environ
    if settings:
        _warn_stray(args.stray)
    if args.dry_run:
        return _dry_run(config, source, args)
    _start_watchdog(config, "send")
    run = Invocation(config, getattr(args, "transport", None))
    try:
        event = _read_event(source, args)
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
        source="command-line" if settings else "env-file" if args.env_file else "environment",
    )
    outcome = notify(run, config, event, environ)
    code = exit_code(outcome)
    run.log_line(
        "end", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
    )
    _heartbeat(run, config, environ)
    if run.log.error:
        run.say(f"warning: {run.log.error}; set log.dir in the config to a writable folder")
    return code


def exit_code(outcome: Outcome) -> int:
    """The one mapping from how an invocation ended to the code JP1 sees: a problem met while
    sending for others (config > internal > dead) comes before this invocation's own ending."""
    if outcome.problem is not None:
        return _PROBLEM_CODES[outcome.problem]
    return _EXIT_CODES[outcome.name]


_PROBLEM_CODES = {
    Problem.CONFIG: EXIT_CONFIG,
    Problem.INTERNAL: EXIT_INTERNAL,
    Problem.DEAD: EXIT_UNDELIVERABLE,
}
_EXIT_CODES = {
    Ending.DELIVERED: EXIT_OK,
    Ending.QUEUED: EXIT_OK,
    Ending.DUPLICATE: EXIT_OK,
    Ending.IGNORED: EXIT_OK,
    Ending.UNROUTED: EXIT_OK,
    Ending.FLUSHED: EXIT_OK,
    Ending.BUSY: EXIT_OK,
    Ending.REQUEUED: EXIT_OK,
    Ending.WATCHED: EXIT_OK,
    Ending.DEAD: EXIT_UNDELIVERABLE,
    Ending.LOST: EXIT_LOST,
    Ending.STORE_ERROR: EXIT_LOST,
    Ending.STORE_LOCKED: EXIT_TEMPFAIL,
    Ending.CONFIG_ERROR: EXIT_CONFIG,
    Ending.USAGE: EXIT_USAGE,
}


def _read_event(source: Mapping[str, str], args: Any) -> Event:
    """The event from the --set options if any (JP1/IM and JP1/Base actions), else from the
    environment or the --env-file. Raises EventError if nothing is usable."""
    settings = getattr(args, "settings", None)
    if not settings:
        return parse_event(source)
    from jp1notify.actionargs import event_from_settings

    return event_from_settings(settings, args.stray)


def _warn_stray(stray: list[str]) -> None:
    if stray:
        print(
            f"jp1notify: warning: {len(stray)} word(s) outside any --set on the command line, "
            "probably split off a value by a double quote; sent anyway with a note. Pass such "
            "values with --set-b64 (docs/operators.md: 'JP1/IM automated actions'). Options "
            "after the first --set (--dry-run, --config) are read as such words: put them before.",
            file=sys.stderr,
        )


def _dry_run(config: Config, source: Mapping[str, str], args: Any) -> int:
    """Print what would be sent, as JSON on stdout; send nothing, write no log."""
    import json

    from jp1notify.notify import dry_run_report

    try:
        event = _read_event(source, args)
    except EventError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_EVENT
    print(redact(json.dumps(dry_run_report(config, event), ensure_ascii=False, indent=2)))
    return EXIT_OK


def cmd_flush(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Send what is queued (operators schedule this in JP1 every few minutes)."""
    from jp1notify.notify import flush

    config = load_config(find_config(args.config, environ), environ)
    _start_watchdog(config, "flush")
    run = Invocation(config, getattr(args, "transport", None))
    outcome = flush(run, config, environ)
    code = exit_code(outcome)
    run.log_line(
        "flush", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
    )
    _heartbeat(run, config, environ)
    return code


def cmd_watch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Check the [[expect]] entries: alert missed runs; send what is queued (schedule it outside
    JP1, every 5 minutes)."""
    import time

    from jp1notify.watch import parse_now, watch

    config = load_config(find_config(args.config, environ), environ)
    try:
        now = parse_now(args.now, config.timezone) if args.now else time.time()
    except HistoryError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.dry_run:
        _start_watchdog(config, "watch")
    run = Invocation(config, getattr(args, "transport", None))
    outcome = watch(run, config, environ, now, args.dry_run)
    code = exit_code(outcome)
    if not args.dry_run:
        run.log_line(
            "watch", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
        )
        if config.heartbeat is not None:  # on watch's clock: --now drives it in tests
            from jp1notify.heartbeat import beat

            beat(run, config, environ, now)
    return code


def _heartbeat(run: Invocation, config: Config, environ: Mapping[str, str]) -> None:
    """Ping [heartbeat] if due, once the command's own work is done: never changes its exit
    code (heartbeat.py). Not imported without a [heartbeat]: most events never pay for it."""
    if config.heartbeat is not None:
        from jp1notify.heartbeat import beat

        beat(run, config, environ, time.time())


def cmd_retry(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Put dead messages back in the queue (or move a removed destination's), then send."""
    from jp1notify.history import parse_since
    from jp1notify.notify import Selection, retry

    if not (args.all or args.id or args.since or args.source):
        print(
            "jp1notify: retry: say which messages: --all (every dead one), --id N, --since 2h, "
            "or --from DESTINATION (see `jp1notify history --state dead`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        since = parse_since(args.since, time.time()) if args.since else None
    except HistoryError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(find_config(args.config, environ), environ)
    _start_watchdog(config, "retry")
    run = Invocation(config, getattr(args, "transport", None))
    selection = Selection(tuple(args.id or ()), since, args.all, args.source, args.to)
    outcome = retry(run, config, environ, selection)
    code = exit_code(outcome)
    run.log_line(
        "retry", outcome=outcome.name, exit=code, elapsed_ms=run.elapsed_ms(), **outcome.details
    )
    return code


def cmd_history(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from jp1notify.history import show_history

    if getattr(args, "stats", False):
        from jp1notify.report import show_stats

        return _show(args, environ, show_stats)
    return _show(args, environ, show_history)


def cmd_report(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """The weekly review: figures per jobnet as a table, JSON, an HTML page or a Slack summary."""
    from jp1notify.report import show_report

    return _show(args, environ, lambda config, a: show_report(config, a, environ))


def cmd_incidents(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from jp1notify.history import show_incidents

    return _show(args, environ, show_incidents)


def _show(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    show: Callable[[Config, argparse.Namespace], int],
) -> int:
    """A listing of the store (history, incidents): its exit code, or the store's problem's."""
    from jp1notify.notify import store_ending

    config = load_config(find_config(args.config, environ), environ)
    try:
        return show(config, args)
    except StoreError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return _EXIT_CODES[store_ending(exc)]


def cmd_check_config(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Validate the config, summarise it and check locally what can be checked: 78 when it
    cannot deliver or queue here (the errors are listed), 0 with or without warnings."""
    from jp1notify.summary import summarize

    config = load_config(find_config(args.config, environ), environ)
    summary = summarize(config, environ)
    print(redact(summary.text))
    if not summary.errors:
        return EXIT_OK
    lines = ["Errors:", *(f"  - {redact(e)}" for e in summary.errors)]
    lines.append("Fix the lines above, then check again with: jp1notify check-config")
    print("\n".join(lines))
    return EXIT_CONFIG


def _say_config_error(exc: ConfigError) -> None:
    lines = [f"jp1notify: the config {cut(str(exc.path), 160)} is not usable:"]
    lines += [f"  {redact(problem)}" for problem in exc.problems]
    lines.append("Fix the lines above, then check with: jp1notify check-config")
    print("\n".join(lines), file=sys.stderr)


class _Args:
    """The parsed command line (argparse.Namespace without importing argparse)."""

    handler: Callable[[Any, Mapping[str, str]], int]
    transport: Any = None

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse that returns to main() instead of ending the process."""

        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            print(f"jp1notify: {message}", file=sys.stderr)
            raise CommandLineExit(EXIT_USAGE)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if message:  # --help and --version print their text before calling exit()
                self._print_message(message, sys.stderr)
            raise CommandLineExit(status)

    parser = Parser(prog="jp1notify", description="Send JP1/AJS3 events to Slack.")
    parser.add_argument("--version", action="version", version=f"jp1notify {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=Parser)
    send = commands.add_parser(
        "send",
        help="read a JP1 event and send it (the default: what notification.bat runs)",
        allow_abbrev=False,  # a word split off an event value must not pass for an option
    )
    _add_config_option(send)
    send.add_argument(
        "--env-file", metavar="PATH", help="read the event from this NAME=value file (dev mode)"
    )
    _add_set_options(send)
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="print the event, routes and payloads as JSON; send nothing (before any --set)",
    )
    send.set_defaults(handler=cmd_send)
    check = commands.add_parser("check-config", help="validate the config and summarise its routes")
    _add_config_option(check)
    check.set_defaults(handler=cmd_check_config)
    flush = commands.add_parser("flush", help="send what is queued (schedule it in JP1)")
    _add_config_option(flush)
    flush.set_defaults(handler=cmd_flush)
    watch = commands.add_parser(
        "watch",
        help="alert expected runs that did not end normally by their deadline ([[expect]]); "
        "schedule it every 5 minutes outside JP1",
    )
    _add_config_option(watch)
    watch.add_argument(
        "--now", metavar="ISO-TIME", help="check as if at this time: 2026-11-24T07:00 (tests)"
    )
    watch.add_argument(
        "--dry-run", action="store_true", help="print what would be alerted as JSON; record nothing"
    )
    watch.set_defaults(handler=cmd_watch)
    history = commands.add_parser("history", help="list recent events and their delivery state")
    _add_config_option(history)
    history.add_argument(
        "--jobnet", metavar="PATTERN", help="unit or jobnet path pattern: /PROD/**"
    )
    history.add_argument("--since", metavar="WHEN", help="2h, 30m, 7d, or 2026-11-22[T02:00]")
    history.add_argument("--state", choices=MESSAGE_STATES, help="message state")
    history.add_argument(
        "--limit", type=_count, default=50, help="most events shown (default 50, at most 100000)"
    )
    history.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    history.add_argument(
        "--stats",
        action="store_true",
        help="per jobnet: usual end time and duration, and [[expect]] entries (default --since 7d)",
    )
    history.add_argument("--now", metavar="ISO", help="with --stats: the end of the period")
    history.set_defaults(handler=cmd_history)
    _add_report_parser(commands)
    incidents = commands.add_parser(
        "incidents", help="list open incidents and recently resolved ones, with their downtime"
    )
    _add_config_option(incidents)
    incidents.add_argument("--since", metavar="WHEN", help="resolved since (default 7d)")
    incidents.add_argument(
        "--limit", type=_count, default=200, help="most incidents shown (default 200)"
    )
    incidents.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    incidents.set_defaults(handler=cmd_incidents)
    retry = commands.add_parser(
        "retry", help="put dead messages back in the queue (or move a removed destination's)"
    )
    _add_config_option(retry)
    retry.add_argument("--all", action="store_true", help="every dead message")
    retry.add_argument(
        "--id", type=_message_id, action="append", metavar="N", help="this message (repeatable)"
    )
    retry.add_argument(
        "--since", metavar="WHEN", help="dead messages of events since 2h, 2026-11-22"
    )
    retry.add_argument(
        "--from", dest="source", metavar="DEST", help="only messages of this destination"
    )
    retry.add_argument("--to", metavar="DEST", help="send them to this destination instead")
    retry.set_defaults(handler=cmd_retry)
    return parser


def _add_set_options(send: argparse.ArgumentParser) -> None:
    """--set, --set-b64, --set-url: the event on the command line (JP1/IM automated actions,
    JP1/Base local actions); appended in order to one list, the first one of a name wins."""
    from jp1notify.actionargs import OPTIONS, parse_setting
    from jp1notify.errors import SettingError

    helps = {
        "--set": "an event variable: --set EVID=$EVID (then the environment's EV* are ignored)",
        "--set-b64": "the same, the value Base64-encoded (UTF-8 or CP932): safest for EVMSG",
        "--set-url": "the same, the value percent-encoded (URL encoding)",
    }
    for option, encoding in OPTIONS.items():

        def parse(text: str, encoding: Any = encoding) -> Any:
            import argparse

            try:
                return parse_setting(text, encoding)
            except SettingError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        send.add_argument(
            option,
            dest="settings",
            action="append",
            type=parse,
            metavar="NAME=VALUE",
            help=helps[option],
        )


def _add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="the weekly review: failures, incidents, MTTR, missed runs per jobnet"
    )
    _add_config_option(report)
    report.add_argument(
        "--since", metavar="WHEN", default="7d", help="7d, 24h, or 2026-11-22[T02:00] (default 7d)"
    )
    report.add_argument("--now", metavar="ISO", help="the end of the period (default: now)")
    report.add_argument("--json", action="store_true", help="JSON instead of a table")
    report.add_argument("--html", metavar="FILE", help="write one self-contained HTML page")
    report.add_argument("--post", metavar="DEST", help="send a summary to this Slack destination")
    report.set_defaults(handler=cmd_report)


def _count(text: str) -> int:
    """A whole number from 1 to 100000 (argparse shows the error and exits 64)."""
    return _whole(text, 100_000)


def _message_id(text: str) -> int:
    return _whole(text, 2**63 - 1)  # SQLite's largest row id


def _whole(text: str, most: int) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"{text[:40]} is not between 1 and {most}")
    return value


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
