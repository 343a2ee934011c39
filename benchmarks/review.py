#!/usr/bin/env python3
"""The commands that read a month of history: `report` (text, --json, --html), `history
--stats` and `watch` (expectations over every jobnet), on a store filled like a busy site's:
--jobnets jobnets, each with a start and a normal end every night for --days days, and every
tenth night a failure (an incident, resolved by the next night's end). Wall time and peak
memory of each command (installed console script), medians of --runs runs.

    .venv/bin/python benchmarks/review.py --jobnets 300 --days 30

The store is filled through Store.record (as the send path records), which takes a while once;
the figures are for the commands only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import installed_command, workspace  # noqa: E402
from startup import measure  # noqa: E402

JST = timezone(timedelta(hours=9))
EXPECT = """
[[expect]]
name = "every nightly jobnet"
units = ["/PROD/**"]
by = "06:00"
destination = "alerts"
"""


def fill(data_dir: Path, jobnets: int, days: int, end: datetime) -> int:
    """Record the site's history; returns the number of events."""
    from jp1notify.classify import Classification
    from jp1notify.event import parse_event
    from jp1notify.routing import Decision
    from jp1notify.store import Store, record_event

    store = Store.open(data_dir)
    quiet = Decision("quiet", ())
    count = 0
    try:
        for day in range(days, 0, -1):
            night = (end - timedelta(days=day)).replace(hour=2, minute=0, second=0)
            for j in range(jobnets):
                path = f"/PROD/GROUP{j % 10}/NET{j:04d}"
                exec_id = f"@A{day * 1000 + j}"
                failed = (j + day) % 10 == 0
                events = [("4102", 0), ("4104" if failed else "4103", 600 + j % 60)]
                for event_id, offset in events:
                    at = night + timedelta(seconds=offset + j)
                    event = parse_event(
                        {
                            "EVID": f"{event_id}:0",
                            "EVMSG": f"KAVS0000-I unit (AJSROOT1:{path}:{exec_id})",
                            "EVDATE": at.strftime("%Y/%m/%d"),
                            "EVTIME": at.strftime("%H:%M:%S"),
                            "EVHOST": "jp1mgr01",
                        }
                    )
                    level = "error" if event_id == "4104" else "info"
                    decision = Decision(None, ()) if event_id == "4104" else quiet
                    record_event(
                        store,
                        event,
                        Classification(level, "", "other"),
                        decision,
                        at.timestamp(),
                        at=at.timestamp(),
                    )
                    count += 1
    finally:
        store.close()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobnets", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = workspace("jp1notify-review-", "http://127.0.0.1:9/unused")
    config = Path(env["JP1NOTIFY_CONFIG"])
    config.write_text(config.read_text(encoding="utf-8") + EXPECT, encoding="utf-8")
    end = datetime(2026, 11, 30, 12, 0, tzinfo=JST)
    started = time.monotonic()
    events = fill(config.parent / "data", args.jobnets, args.days, end)
    print(f"store: {events} events, filled in {time.monotonic() - started:.0f} s", file=sys.stderr)
    now = end.strftime("%Y-%m-%dT%H:%M")
    html = config.parent / "review.html"
    commands = {
        "report --since 30d": ["report", "--since", "30d", "--now", now],
        "report --json": ["report", "--json", "--since", "30d", "--now", now],
        "report --html": ["report", "--html", str(html), "--since", "30d", "--now", now],
        "history --stats": ["history", "--stats", "--since", "30d", "--now", now],
        "watch --dry-run": ["watch", "--dry-run", "--now", now],
    }
    check = subprocess.run(
        installed_command() + commands["report --json"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    figures = json.loads(check.stdout)
    assert figures["totals"]["jobnets"] == args.jobnets, figures["totals"]
    print(
        f"| command ({args.jobnets} jobnets, {args.days} days, {events} events) "
        "| median wall s | median peak RSS MiB | runs |"
    )
    print("|---|---|---|---|")
    for name, argv in commands.items():
        results = [measure(installed_command() + argv, env) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in results)
        rss = statistics.median(r[1] for r in results)
        print(f"| `{name}` | {wall:.2f} | {rss:.1f} | {args.runs} |")


if __name__ == "__main__":
    main()
