#!/usr/bin/env python3
"""Event-storm benchmark: N jp1notify processes fired within about one second against a local
fake Slack webhook that allows 1 request/second (429 + Retry-After beyond that), then an
outage run. Prints a Markdown table; docs/benchmarks.md keeps the results.

    .venv/bin/python benchmarks/storm.py                  # N = 50, 200, 500 and the outage runs
    .venv/bin/python benchmarks/storm.py --sizes 50 --no-outage
    .venv/bin/python benchmarks/storm.py --sizes 500 --no-outage --frozen --floor

--frozen runs the frozen build (dist/jp1notify/jp1notify, scripts/build.sh) instead of the
installed console script. --floor adds, side by side, a storm of stdlib-only Python processes
(one urllib POST each, the floor of any Python tool) fired the same way at a webhook that
accepts everything: its last exit and CPU per event are what any Python notifier would pay.

Columns: events fired; events visible in Slack (each event's unit found in an accepted post);
posts accepted; 429 answers; seconds from the first spawn until the last process exited and
until the last event was visible; the same after a `jp1notify flush` if anything was left;
CPU seconds per event (all jp1notify processes, user + system); exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, installed_command, workspace  # noqa: E402

from fakeslack import FakeSlack  # noqa: E402

UNIT = re.compile(r"/STORM/NET\d{4}")


def event_env(base: dict[str, str], i: int) -> dict[str, str]:
    return {
        **base,
        "EVID": "4104:0",
        "EVMSG": f"KAVS0262-E ジョブネット(AJSROOT1:/STORM/NET{i:04d}:@A{i})が異常終了しました",
        "EVDATE": "2026/11/22",
        "EVTIME": f"02:{i // 60 % 60:02d}:{i % 60:02d}",
        "EVHOST": "jp1mgr01",
        "EVIPADDR": "192.0.2.10",
    }


def visible(slack: FakeSlack) -> tuple[set[str], float | None]:
    """Units seen in accepted posts, and when the last new one appeared."""
    seen: set[str] = set()
    last = None
    for received in slack.received:
        units = set(UNIT.findall(json.dumps(received.payload, ensure_ascii=False)))
        if units - seen:
            last = received.at
        seen |= units
    return seen, last


COMMAND = installed_command()  # main() replaces it with the frozen build for --frozen
COLD = False  # --cold: no check-config before the storm, the config cache is empty
FLOOR = (
    "import json, os, urllib.request\n"
    "body = json.dumps({'text': os.environ['EVMSG']}).encode()\n"
    "request = urllib.request.Request(os.environ['HOOK'], data=body,"
    " headers={'Content-Type': 'application/json'})\n"
    "urllib.request.urlopen(request, timeout=60).read()\n"
)


SCHED_RESET_ON_FORK = 0x40000000  # Linux: children of a real-time process start as normal ones


def firing_priority() -> str:
    """Give this process (the firing loop and the fake webhook's threads) strict priority over
    the storm it starts, so that the processes competing for the same 2 cores cannot slow the
    firing itself: the events arrive within about a second, as JP1 fires them, and the webhook
    answers as promptly as a remote Slack would. Needs root (real-time scheduling); otherwise
    the storm's processes are started at nice 10, which helps less."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR | SCHED_RESET_ON_FORK, os.sched_param(1))
        return "real-time"
    except (AttributeError, OSError):
        return "nice"


PRIORITY = "normal"


class Fired:
    """A process started by fire(): its pid, and its exit code and CPU seconds once waited."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu = 0.0

    def wait(self) -> int:
        _, status, usage = os.wait4(self.pid, 0)
        self.cpu = usage.ru_utime + usage.ru_stime
        return os.waitstatus_to_exitcode(status)


def fire(command: list[str], env: dict[str, str]) -> Fired:
    """Start one event's process without waiting for it to start running: a fork, whose child
    replaces itself with the command when the scheduler gets to it (subprocess.Popen waits for
    that, which in a storm on 2 cores takes longer than the storm should). See firing_priority."""
    pid = os.fork()
    if pid == 0:  # the child: only system calls until it is the command
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            if PRIORITY == "nice":
                os.nice(10)
            os.execve(command[0], command, env)
        finally:
            os._exit(127)
    return Fired(pid)


def floor_storm(n: int) -> dict[str, object]:
    """N stdlib POST processes fired like a storm, at a webhook without a rate limit."""
    slack = FakeSlack()
    base = workspace("jp1notify-storm-floor-", slack.url("alerts"))
    start = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    for i in range(n):
        procs.append(
            fire(
                [sys.executable, "-c", FLOOR],
                event_env(base, i),
            )
        )
        time.sleep(max(0.0, start + (i + 1) / n - time.monotonic()))
    spawned = time.monotonic() - start
    codes = Counter(p.wait() for p in procs)
    last_exit = time.monotonic() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    time.sleep(0.2)
    seen, last_seen = visible(slack)
    slack.close()
    return {
        "n": n,
        "visible": len(seen),
        "posts": len(slack.received),
        "429s": 0,
        "spawned_s": round(spawned, 1),
        "last_exit_s": round(last_exit, 1),
        "last_visible_s": round(last_seen - start, 1) if last_seen else None,
        "codes": dict(codes),
        "cpu_per_event_s": round(cpu / n, 3),
    }


def storm(
    n: int, hook: str | None = None, outage: float = 0.0, refuse: bool = False
) -> dict[str, object]:
    slack = FakeSlack(rate_interval=1.0)
    good_hook = slack.url("alerts")
    base = workspace("jp1notify-storm-", good_hook)
    if refuse:  # Slack unreachable: the webhook points at a port nobody listens on
        base["HOOK"] = good_hook.replace(f":{slack.port}/", ":9/")
    # As on a site, where check-config ran after the last edit: the validated config is cached
    # (a storm right after an edit pays the validation in its first processes: see --cold).
    if not COLD:
        subprocess.run(COMMAND + ["check-config"], env=base, capture_output=True, check=True)
    start = time.monotonic()
    slack.outage_until = start + outage
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    for i in range(n):  # spread the spawns over about one second
        procs.append(
            fire(
                COMMAND,
                event_env(base, i),
            )
        )
        time.sleep(max(0.0, start + (i + 1) / n - time.monotonic()))
    spawned = time.monotonic() - start
    codes = Counter(p.wait() for p in procs)
    last_exit = time.monotonic() - start
    time.sleep(0.2)
    seen, last_seen = visible(slack)
    row: dict[str, object] = {
        "n": n,
        "visible": len(seen),
        "posts": len(slack.received),
        "429s": slack.rate_limited,
        "spawned_s": round(spawned, 1),
        "last_exit_s": round(last_exit, 1),
        "last_visible_s": round(last_seen - start, 1) if last_seen else None,
        "codes": dict(codes),
    }
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    row["cpu_per_event_s"] = round(cpu / n, 3)
    if len(seen) < n:
        while time.monotonic() < slack.outage_until:
            time.sleep(0.2)
        flush_env = {**base, "HOOK": good_hook}
        flush_start = time.monotonic()
        subprocess.run(COMMAND + ["flush"], env=flush_env, capture_output=True)
        seen, last_seen = visible(slack)
        row.update(
            after_flush_visible=len(seen),
            after_flush_posts=len(slack.received),
            flush_s=round(time.monotonic() - flush_start, 1),
        )
    slack.close()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--no-outage", action="store_true", help="skip the outage runs")
    parser.add_argument("--frozen", action="store_true", help="run dist/jp1notify/jp1notify")
    parser.add_argument("--floor", action="store_true", help="add stdlib-only POST storms")
    parser.add_argument(
        "--cold", action="store_true", help="start without the config cache (a storm after an edit)"
    )
    args = parser.parse_args()
    global COMMAND, COLD, PRIORITY
    COLD = args.cold
    PRIORITY = firing_priority()
    print(f"firing priority: {PRIORITY}", file=sys.stderr)
    if args.frozen:
        frozen = ROOT / "dist" / "jp1notify" / "jp1notify"
        if not frozen.exists():
            raise SystemExit(f"{frozen} is missing: build it first with scripts/build.sh")
        COMMAND = [str(frozen)]
    kind = "frozen" if args.frozen else "from source"
    runs = []
    for n in args.sizes:
        runs.append((f"storm N={n} ({kind})", storm(n)))
        if args.floor:
            runs.append((f"stdlib POST storm N={n} (floor)", floor_storm(n)))
    if not args.no_outage:
        runs.append(("outage: 500 for 20 s, N=50", storm(50, outage=20.0)))
        runs.append(("outage: connection refused, N=50", storm(50, refuse=True)))
    header = (
        "| run | fired | visible | posts | 429s | last exit s | last visible s | after flush: visible"
        " / posts / s | CPU s/event | exit codes | all spawned s |"
    )
    print(header)
    print("|" + "---|" * 11)
    for name, r in runs:
        flushed = (
            f"{r['after_flush_visible']} / {r['after_flush_posts']} / {r['flush_s']}"
            if "after_flush_visible" in r
            else "-"
        )
        print(
            f"| {name} | {r['n']} | {r['visible']} | {r['posts']} | {r['429s']} | {r['last_exit_s']}"
            f" | {r['last_visible_s']} | {flushed} | {r['cpu_per_event_s']} | {r['codes']}"
            f" | {r['spawned_s']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
