#!/usr/bin/env python3
"""Start-up benchmark: wall time, CPU time and peak memory of one invocation, spawn to exit, for
  - the frozen jp1notify (dist/jp1notify/jp1notify) posting one event to a local fake Slack,
  - the same from source (the installed console script),
  - both again as a process of a storm that records its event and leaves, because another
    process holds the sender lease (the benchmark sets the lease in the store before each such
    run, as a holder would; these use their own config and store, whose queue only grows),
  - a stdlib-only Python script doing one urllib POST (the floor for any Python tool),
interleaved, medians over --runs runs (default 15). Prints a Markdown table for docs/benchmarks.md.

    scripts/build.sh && .venv/bin/python benchmarks/startup.py

Each run posts a new event (so none is a duplicate) and waits 1.1 s before the next, so that
Slack's pace (1 message per second per webhook, kept by jp1notify) never delays a run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, installed_command, workspace  # noqa: E402

from fakeslack import FakeSlack  # noqa: E402

FLOOR_NAME = "stdlib urllib POST (floor)"
FLOOR = (
    "import json, os, urllib.request\n"
    "body = json.dumps({'text': os.environ['EVMSG']}).encode()\n"
    "request = urllib.request.Request(os.environ['HOOK'], data=body,"
    " headers={'Content-Type': 'application/json'})\n"
    "urllib.request.urlopen(request, timeout=10).read()\n"
)


class Sample(NamedTuple):
    wall: float  # seconds, spawn to exit
    cpu: float  # user + system seconds of the child
    rss: float  # peak resident set, MiB


def measure(command: list[str], env: dict[str, str]) -> Sample:
    """One child, from spawn to exit."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} exited {child.returncode}: {child.stderr.read().decode()}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # Linux: KiB


def hold_lease(env: dict[str, str]) -> None:
    """Make the store's sender lease held by another (imaginary) process for 30 s, as in a
    storm, so that the next jp1notify records its event and leaves."""
    folder = Path(env["JP1NOTIFY_CONFIG"]).parent
    db = sqlite3.connect(folder / "data" / "jp1notify.db")
    with db:
        db.execute(
            "UPDATE lease SET holder = 'benchmark:0', expires_at = ? WHERE name = 'sender'",
            (time.time() + 30,),
        )
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--frozen", default=str(ROOT / "dist" / "jp1notify" / "jp1notify"))
    args = parser.parse_args()
    if not Path(args.frozen).exists():
        raise SystemExit(f"{args.frozen} is missing: build it first with scripts/build.sh")
    slack = FakeSlack()
    sending = workspace("jp1notify-startup-", slack.url("alerts"))
    leaving = workspace("jp1notify-startup-leave-", slack.url("alerts"))
    variants = {  # name: (command, environment, lease held by another process)
        "frozen jp1notify": ([args.frozen], sending, False),
        "jp1notify from source": (installed_command(), sending, False),
        "frozen, records and leaves": ([args.frozen], leaving, True),
        "from source, records and leaves": (installed_command(), leaving, True),
        FLOOR_NAME: ([sys.executable, "-c", FLOOR], sending, False),
    }
    results: dict[str, list[Sample]] = {name: [] for name in variants}
    counter = 0
    for _ in range(args.runs + 1):  # the first round warms caches (config, .pyc, disk): dropped
        for name, (command, base, held) in variants.items():
            counter += 1
            env = {
                **base,
                "EVID": "4104:0",
                "EVMSG": f"KAVS0262-E ジョブネット(AJSROOT1:/BENCH/NET{counter:05d}:@A1)が異常終了しました",
                "EVDATE": "2026/11/22",
                "EVTIME": "02:13:05",
            }
            time.sleep(1.1)
            if held and results[name]:  # the first run creates the store
                hold_lease(base)
            results[name].append(measure(command, env))
    slack.close()
    expected = (args.runs + 1) * 3 + 2  # the senders, and the first run of each leaving variant
    if len(slack.received) != expected:
        raise SystemExit(
            f"the fake Slack received {len(slack.received)} posts, expected {expected}"
        )
    floor = results[FLOOR_NAME][1:]
    floor_wall = statistics.median(s.wall for s in floor)
    floor_cpu = statistics.median(s.cpu for s in floor)
    print(
        "| variant | median wall s | x floor | median CPU s | x floor | median peak RSS MiB | runs |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, samples in results.items():
        kept = samples[1:]
        wall = statistics.median(s.wall for s in kept)
        cpu = statistics.median(s.cpu for s in kept)
        rss = statistics.median(s.rss for s in kept)
        print(
            f"| {name} | {wall:.3f} | {wall / floor_wall:.2f} | {cpu:.3f} | {cpu / floor_cpu:.2f}"
            f" | {rss:.1f} | {len(kept)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
