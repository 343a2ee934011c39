"""`jp1notify history`: recent events with their level, unit, routes and delivery state."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, tzinfo
from typing import Any

from jp1notify.config import Config
from jp1notify.errors import HistoryError, PatternError, StoreError
from jp1notify.message import format_moment, parse_event_time
from jp1notify.patterns import compile_unit_pattern
from jp1notify.store import EventOutcome, State, Store
from jp1notify.text import cut

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DATE_TIME = "%Y/%m/%d %H:%M:%S"  # as JP1 writes EVDATE and EVTIME
# The moments a --now or a report's --since may name: Windows' localtime() refuses a negative
# epoch, and a day or a time zone added to a date near year 1 or 9999 overflows (a traceback).
EARLIEST = 946684800.0  # 2000-01-01T00:00Z
LATEST = 221845392000.0  # 9000-01-01T00:00Z


def in_range(epoch: float, text: str) -> float:
    """`epoch` if it lies between EARLIEST and LATEST; else a HistoryError naming `text`."""
    if not EARLIEST <= epoch <= LATEST:
        raise HistoryError(
            f"{cut(repr(text), 60)} is not a time jp1notify can use: give one between the years "
            "2000 and 9000"
        )
    return epoch


def parse_since(text: str, now: float) -> float:
    """`2h`, `30m`, `7d`, `2026-11-22`, `2026-11-22T02:00` (local time) -> epoch seconds."""
    match = _DURATION.fullmatch(text.strip())
    try:
        if match:
            return now - float(int(match[1]) * _UNIT_SECONDS[match[2]])
        return datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError):
        raise HistoryError(
            f"--since {cut(repr(text), 60)}: use a duration (30m, 2h, 7d) or a local date/time "
            "(2026-11-22 or 2026-11-22T02:00)"
        ) from None


def show_history(config: Config, args: argparse.Namespace) -> int:
    """Print the history (table or JSON lines). Returns the exit code; raises StoreError if the
    store cannot be read (a damaged one is only reported: `send` and `flush`, which run as the
    JP1 job's user, move it aside)."""
    try:
        since = parse_since(args.since, time.time()) if args.since else None
        pattern = compile_unit_pattern(args.jobnet) if args.jobnet else None
    except (HistoryError, PatternError) as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return 64
    if not os.path.exists(config.outbox.data_dir / "jp1notify.db"):  # False for unusable paths too
        print(
            f"jp1notify: no history yet in {cut(str(config.outbox.data_dir), 160)}", file=sys.stderr
        )
        return 0
    unit_filter = pattern.matches if pattern else None
    try:
        store = Store.open(config.outbox.data_dir)
        try:
            events = store.history(since, unit_filter, args.state, args.limit)
        finally:
            store.close()
    except StoreError as exc:
        if exc.corrupt:
            exc.args = (f"{exc}; the next `jp1notify flush` moves it aside and starts afresh",)
        raise
    zone = config.timezone
    for event in reversed(events):  # oldest first, like a log
        if args.json:
            print(json.dumps(json_row(event, zone), ensure_ascii=False))
        else:
            print(format_row(event, zone))
    return 0


def format_row(event: dict[str, Any], zone: tzinfo | None = None) -> str:
    """One table line: the event's own time, level, event ID, unit, then where it went.

    `zone` is `[message] timezone` (None: this machine's), the zone of EVDATE/EVTIME."""
    incident = f"[incident #{event['incident']}]" if event.get("incident") else None
    parts = (event["unit"] or "(unit unknown)", event["exec_id"], incident)
    unit = " ".join(str(x) for x in parts if x)
    head = f"{format_when(event, zone)}  {event['level']:<7}  {event['event_id'] or '?':<5}  {unit}"
    # an unrouted normal end may still have messages: the recoveries of incidents it resolved
    if event["outcome"] != EventOutcome.ROUTED and not event["messages"]:
        rule = f" ({event['rule']})" if event["rule"] else ""
        return f"{head}  {event['outcome']}{rule}"
    deliveries = []
    for m in event["messages"]:
        number = f" #{m['id']}" if m.get("id") is not None else ""
        text = f"{m['destination']} {m['state']} ({m['attempts']}){number}"
        if m["state"] != State.SENT and m["last_error"]:
            text += f": {m['last_error']}"
        deliveries.append(text)
    return f"{head}  {'; '.join(deliveries)}"


def json_row(event: dict[str, Any], zone: tzinfo | None = None) -> dict[str, Any]:
    """The row for `--json`: as the store gave it, with the stored event (if any) as an object
    and `event_time`, its EVDATE/EVTIME in ISO 8601 with the offset, or null."""
    row = dict(event)
    if isinstance(row.get("event"), str):
        row["event"] = _stored_event(row) or row["event"]
    moment = event_time(event, zone)
    row["event_time"] = moment.isoformat() if moment else None
    return row


def format_when(event: dict[str, Any], zone: tzinfo | None = None) -> str:
    """`2026/11/22 02:13:05 JST`, the event's own time; `... (received 02:14:07)` when it reached
    jp1notify in another second; `received 2026/11/22 02:14:07 JST` when it has no usable time."""
    received = _received(event["received_at"], zone)
    moment = event_time(event, zone)
    if moment is None:
        return f"received {format_moment(received, short=True) if received else '(unknown time)'}"
    shown = format_moment(moment, short=True)
    if received is None:
        return shown
    if int(received.timestamp()) == int(moment.timestamp()):
        return shown
    same_day = received.date() == moment.date()
    return f"{shown} (received {received.strftime('%H:%M:%S' if same_day else _DATE_TIME)})"


def event_time(event: dict[str, Any], zone: tzinfo | None = None) -> datetime | None:
    """EVDATE/EVTIME of a history row's stored event (`event`: a dict as `Event.to_dict()`
    returns, or its JSON text), in `zone`; None if the row has no event or no usable time."""
    data = _stored_event(event)
    if data is None:
        return None
    date, time_ = data.get("date"), data.get("time")
    if not isinstance(date, str) or not isinstance(time_, str):
        return None
    return parse_event_time(date, time_, zone)


def _stored_event(event: dict[str, Any]) -> dict[str, Any] | None:
    data = event.get("event")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _received(timestamp: Any, zone: tzinfo | None) -> datetime | None:
    """When jp1notify recorded the event, or None for a stored time no clock can show (a
    damaged row)."""
    try:
        moment = datetime.fromtimestamp(float(timestamp), zone)
        return moment if zone else moment.astimezone()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def show_incidents(config: Config, args: argparse.Namespace) -> int:
    """`jp1notify incidents`: open incidents, and those resolved since --since (default 7d),
    with their duration and event count; a table, or JSON lines."""
    try:
        since = parse_since(args.since or "7d", time.time())
    except HistoryError as exc:
        print(f"jp1notify: {exc}", file=sys.stderr)
        return 64
    if not os.path.exists(config.outbox.data_dir / "jp1notify.db"):
        print(
            f"jp1notify: no incidents yet in {cut(str(config.outbox.data_dir), 160)}",
            file=sys.stderr,
        )
        return 0
    store = Store.open(config.outbox.data_dir)
    try:
        found = store.incidents(since, args.limit)
    finally:
        store.close()
    now = time.time()
    for incident, sent in found:
        row = incident_row(incident, sent, now, config.timezone)
        print(json.dumps(row, ensure_ascii=False) if args.json else format_incident(row))
    if not found and not args.json:
        print("no open incident, and none resolved in that period")
    return 0


def incident_row(incident: Any, sent: int, now: float, zone: tzinfo | None) -> dict[str, Any]:
    """An incident as `incidents --json` prints it (times in ISO 8601 with the offset)."""
    end = incident.resolved_at if incident.resolved_at is not None else now
    return {
        "id": incident.id,
        "state": incident.state.value,
        "level": incident.level,
        "service": incident.service or None,
        "jobnet": incident.jobnet,
        "exec_id": incident.exec_id,
        "opened_at": _iso(incident.opened_at, zone),
        "resolved_at": _iso(incident.resolved_at, zone),
        "duration_seconds": round(max(0.0, end - incident.opened_at)),
        "events": incident.events,
        "messages_sent": sent,
    }


def format_incident(row: dict[str, Any]) -> str:
    from jp1notify.incidents import duration_text

    took = duration_text(row["duration_seconds"], "en")
    since = (row["opened_at"] or "?").replace("T", " ")
    if row["state"] == "open":
        how = f"OPEN for {took}"
    else:
        how = f"resolved after {took}"
    unit = " ".join(x for x in (row["jobnet"], row["exec_id"]) if x)
    return (
        f"#{row['id']:<5} {row['level']:<7} {unit}  {how} (since {since}), "
        f"{row['events']} event{'s' if row['events'] != 1 else ''}, "
        f"{row['messages_sent']} message{'s' if row['messages_sent'] != 1 else ''} sent"
    )


def _iso(epoch: float | None, zone: tzinfo | None) -> str | None:
    moment = _received(epoch, zone) if epoch is not None else None
    return moment.isoformat(timespec="seconds") if moment else None
