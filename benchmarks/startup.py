#!/usr/bin/env python3
"""Start-up benchmark: wall time and peak memory of one invocation, spawn to exit, for
  - the frozen jp1notify (dist/jp1notify/jp1notify) posting one event to a local fake Slack,
  - the same from source (the installed console script),
  - a stdlib-only Python script doing one urllib POST (the floor for any Python tool),
interleaved, medians over --runs runs (default 15). Prints a Markdown table for docs/benchmarks.md.

    scripts/build.sh && .venv/bin/python benchmarks/startup.py

Each run posts a new event (so none is a duplicate) and waits 1.1 s before the next, so that
Slack's pace (1 message per second per webhook, kept by jp1notify) never delays a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, installed_command, workspace  # noqa: E402

from fakeslack import FakeSlack  # noqa: E402

FLOOR = (
    "import json, os, urllib.request\n"
    "body = json.dumps({'text': os.environ['EVMSG']}).encode()\n"
    "request = urllib.request.Request(os.environ['HOOK'], data=body,"
    " headers={'Content-Type': 'application/json'})\n"
    "urllib.request.urlopen(request, timeout=10).read()\n"
)


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child, from spawn to exit."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} exited {child.returncode}: {child.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--frozen", default=str(ROOT / "dist" / "jp1notify" / "jp1notify"))
    args = parser.parse_args()
    if not Path(args.frozen).exists():
        raise SystemExit(f"{args.frozen} is missing: build it first with scripts/build.sh")
    variants = {
        "frozen jp1notify": [args.frozen],
        "jp1notify from source": installed_command(),
        "stdlib urllib POST (floor)": [sys.executable, "-c", FLOOR],
    }
    slack = FakeSlack()
    base = workspace("jp1notify-startup-", slack.url("alerts"))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    counter = 0
    for _ in range(
        args.runs + 1
    ):  # the first round warms caches (config, .pyc, disk) and is dropped
        for name, command in variants.items():
            counter += 1
            env = {
                **base,
                "EVID": "4104:0",
                "EVMSG": f"KAVS0262-E ジョブネット(AJSROOT1:/BENCH/NET{counter:05d}:@A1)が異常終了しました",
                "EVDATE": "2026/11/22",
                "EVTIME": "02:13:05",
            }
            time.sleep(1.1)
            results[name].append(measure(command, env))
    slack.close()
    expected = (args.runs + 1) * len(variants)
    if len(slack.received) != expected:
        raise SystemExit(
            f"the fake Slack received {len(slack.received)} posts, expected {expected}"
        )
    floor = statistics.median(w for w, _ in results["stdlib urllib POST (floor)"][1:])
    print("| variant | median wall s | x floor | median peak RSS MiB | runs |")
    print("|---|---|---|---|---|")
    for name, samples in results.items():
        walls = [w for w, _ in samples[1:]]
        rss = [m for _, m in samples[1:]]
        wall = statistics.median(walls)
        print(
            f"| {name} | {wall:.3f} | {wall / floor:.2f} | {statistics.median(rss):.1f} | {len(walls)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
