"""`jp1notify history`: recent events with their level, unit, routes and delivery state."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime

from jp1notify.config import Config
from jp1notify.patterns import PatternError, compile_unit_pattern
from jp1notify.store import Store, StoreError

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class HistoryError(ValueError):
    """A filter that cannot be understood; the message shows the accepted forms."""


def parse_since(text: str, now: float) -> float:
    """`2h`, `30m`, `7d`, `2026-11-22`, `2026-11-22T02:00` (local time) -> epoch seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - int(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise HistoryError(
            f"--since {text!r}: use a duration (30m, 2h, 7d) or a local date/time "
            "(2026-11-22 or 2026-11-22T02:00)"
        ) from None


def show_history(config: Config, args: argparse.Namespace) -> int:
    """Print the history (table or JSON lines). Returns the exit code."""
    try:
        since = parse_since(args.since, time.time()) if args.since else None
        pattern = compile_unit_pattern(args.jobnet) if args.jobnet else None
    except (HistoryError, PatternError) as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return 64
    if not (config.outbox.data_dir / "jp1notify.db").exists():
        print(f"jp1notify: no history yet in {config.outbox.data_dir}", file=sys.stderr)
        return 0
    try:
        store = Store.open(config.outbox.data_dir)
    except StoreError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return 74
    unit_filter = pattern.matches if pattern else None
    try:
        events = store.history(since, unit_filter, args.state, max(1, args.limit))
    finally:
        store.close()
    for event in reversed(events):  # oldest first, like a log
        print(json.dumps(event, ensure_ascii=False) if args.json else format_row(event))
    return 0


def format_row(event: dict[str, object]) -> str:
    when = datetime.fromtimestamp(float(event["received_at"])).strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[arg-type]
    unit = " ".join(str(x) for x in (event["unit"] or "?", event["exec_id"] or "") if x)
    head = f"{when}  {event['level']:<7}  {event['event_id'] or '?':<5}  {unit}"
    if event["outcome"] != "routed":
        rule = f" ({event['rule']})" if event["rule"] else ""
        return f"{head}  {event['outcome']}{rule}"
    deliveries = []
    for m in event["messages"]:  # type: ignore[attr-defined]
        text = f"{m['destination']} {m['state']} ({m['attempts']})"
        if m["state"] != "sent" and m["last_error"]:
            text += f": {m['last_error']}"
        deliveries.append(text)
    return f"{head}  {'; '.join(deliveries)}"
