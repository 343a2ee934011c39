"""`jp1notify watch`: notice what did not happen. Each `[[expect]]` entry names jobnets that must
end normally by a time of day on some weekdays; a deadline that passed without a normal end of
such a jobnet is alerted once, as an incident that the late normal end resolves.

The rules (docs/operators.md "Expected runs"):
- The deadline checked is the latest one at or before now (`by` on a listed day, in
  [message].timezone). Earlier deadlines are not looked at again: a watch that was not run for
  three days alerts the latest missed run, not three.
- A jobnet met its deadline when a normal end (4103) of it, or of a jobnet containing it, is
  recorded with its own time (EVDATE/EVTIME) after the previous deadline and not after now: the
  run that belongs to this deadline, on time or a little late but before watch looked.
  Ignored events count: an [[ignore]] rule for 4103 keeps them out of Slack, not out of the store.
- An expected jobnet is each literal path of `units`, and each jobnet jp1notify has recorded an
  event of (within outbox.retention_days) that a pattern of `units` matches.
- The alert is a synthetic event (catalog.MISSED_EVENT) recorded in the store like a JP1 event,
  dated at the deadline, keyed by expectation, jobnet and deadline: running watch again records
  nothing new. It opens an incident (or joins the open one of that jobnet), so the late normal
  end resolves it and tells the same destinations.

watch must run outside JP1 (Windows Task Scheduler, every 5 minutes): a stopped JP1 cannot say it
stopped. Each run also sends what is queued (like `flush`) and pings the heartbeat.
"""

from __future__ import annotations

import json
import socket
import time as clock
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify.catalog import MISSED_EVENT
from jp1notify.config import WEEKDAYS, Config, Expectation
from jp1notify.errors import HistoryError, StoreError
from jp1notify.patterns import UnitPattern
from jp1notify.text import cut

if TYPE_CHECKING:
    from jp1notify.event import Event
    from jp1notify.notify import Invocation, Outcome
    from jp1notify.store import Store

DAY = 86400.0
WATCHED_KEY = "watched_at"  # meta: when watch last ran (real time), for check-config


class Deadline(NamedTuple):
    """The deadline checked and the one before it (the start of its window)."""

    due: datetime
    previous: datetime


class Verdict(NamedTuple):
    """What watch found for one expected jobnet."""

    expectation: str
    jobnet: str
    deadline: datetime
    ended_at: float | None  # the normal end that met the deadline, if any
    alerted: bool = False  # a missed-run alert was recorded now (or would be, in a dry run)
    known: bool = False  # the alert was recorded by an earlier watch

    @property
    def missed(self) -> bool:
        return self.ended_at is None


def parse_now(text: str, zone: tzinfo | None) -> float:
    """`--now`: an ISO date-time; without an offset it is read in [message].timezone (the
    zone of `by`), else this machine's zone."""
    from jp1notify.history import in_range

    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
        epoch = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise HistoryError(
            f"--now {cut(repr(text), 60)}: give a date and time like 2026-11-24T07:00 (read in "
            "message.timezone) or 2026-11-24T07:00+09:00"
        ) from None
    return in_range(epoch, f"--now {text}")


def deadline(expectation: Expectation, now: float, zone: tzinfo | None) -> Deadline:
    """The latest deadline at or before `now`, and the one before it."""
    today = _local(now, zone).date()
    found: list[datetime] = []
    day = today
    while len(found) < 2:  # days is never empty: at most 14 days back
        if day.weekday() in expectation.days:
            moment = _at(day, expectation.by, zone)
            if moment.timestamp() <= now:
                found.append(moment)
        day -= timedelta(days=1)
    return Deadline(found[0], found[1])


def _local(epoch: float, zone: tzinfo | None) -> datetime:
    moment = datetime.fromtimestamp(epoch, zone) if zone else datetime.fromtimestamp(epoch)
    return moment if zone else moment.astimezone()


def _at(day: date, by: tuple[int, int], zone: tzinfo | None) -> datetime:
    moment = datetime.combine(day, time(*by))
    return moment.replace(tzinfo=zone) if zone else moment.astimezone()


def is_literal(pattern: UnitPattern) -> bool:
    """A pattern without wildcards names one jobnet."""
    return not any(c in pattern.glob for c in "*?")


def expected_jobnets(expectation: Expectation, seen: Sequence[str]) -> list[str]:
    """The literal paths of `units`, and the seen jobnets a pattern matches, minus exclusions."""
    from jp1notify.patterns import matches_any

    found = [p.glob.rstrip("/") or "/" for p in expectation.units if is_literal(p)]
    found += [j for j in seen if any(p.matches(j) for p in expectation.units if not is_literal(p))]
    unique = dict.fromkeys(found)
    return [j for j in unique if not matches_any(expectation.exclude_units, j)]


def missed_event(expectation: Expectation, jobnet: str, due: datetime, language: str) -> Event:
    """The synthetic event that says the run is missing, dated at the deadline."""
    from jp1notify.event import Event, UnitRef

    services = sorted(expectation.services or ())
    service = services[0] if len(services) == 1 else None
    days = _days_text(expectation)
    when = f"{due.strftime('%Y/%m/%d %H:%M')} ({days})"
    if language == "ja":
        text = (
            f"{jobnet} の正常終了が期限 {when} までに記録されていません（期待値「{expectation.name}」）。"
            "JP1 が起動していない可能性があります: スケジュール、カレンダー、スケジューラーサービスを確認してください。"
        )
    else:
        text = (
            f"No normal end of {jobnet} was recorded by its deadline {when} (expectation "
            f"'{expectation.name}'). JP1 may not have started it: check its schedule, calendar "
            "and the scheduler service."
        )
    return Event(
        event_id=MISSED_EVENT,
        extended_id=None,
        raw_id=MISSED_EVENT,
        message=text,
        message_id=None,
        date=due.strftime("%Y/%m/%d"),
        time=due.strftime("%H:%M:%S"),
        host=_hostname(),
        ip=None,
        severity=None,
        detail=None,
        user=None,
        group=None,
        process_id=None,
        unit=UnitRef(service, jobnet, None),
        env={},
        attributes={"expectation": expectation.name},
        self_job=None,
        missing=(),
        problems=(),
    )


def _days_text(expectation: Expectation) -> str:
    if len(expectation.days) == 7:
        return "daily"
    return ",".join(WEEKDAYS[d] for d in sorted(expectation.days))


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def missed_key(expectation: Expectation, jobnet: str, due: datetime) -> str:
    """One alert per expectation, jobnet and deadline, however often watch runs."""
    return f"missed|{expectation.name}|{jobnet}|{due.isoformat()}"


def check(config: Config, store: Store, now: float, record: bool) -> list[Verdict]:
    """Check every expectation; with `record`, record an alert for each missed run."""
    seen = store.jobnets_seen(now - config.outbox.retention_days * DAY)
    verdicts = []
    for expectation in config.expectations:
        window = deadline(expectation, now, config.timezone)
        for jobnet in expected_jobnets(expectation, seen):
            ended = store.normal_end(jobnet, expectation.services, window.previous.timestamp(), now)
            verdict = Verdict(expectation.name, jobnet, window.due, ended)
            if verdict.missed:
                key = missed_key(expectation, jobnet, window.due)
                known = store.has_event(key)
                if record and not known:  # False: another watch recorded it meanwhile
                    known = not _record(config, store, expectation, jobnet, window.due, key, now)
                verdict = verdict._replace(alerted=not known, known=known)
            verdicts.append(verdict)
    return verdicts


def _record(
    config: Config,
    store: Store,
    expectation: Expectation,
    jobnet: str,
    due: datetime,
    key: str,
    now: float,
) -> bool:
    """Record the missed-run alert with one message per destination, in an incident."""
    from jp1notify.classify import classify_scope
    from jp1notify.incidents import facts
    from jp1notify.store import EventOutcome, EventRecord, NewMessage

    event = missed_event(expectation, jobnet, due, config.language)
    scope = classify_scope(event, config)
    record = EventRecord(
        dedup_key=key,
        event_id=MISSED_EVENT,
        unit=jobnet,
        jobnet=jobnet,
        service=event.unit.service,
        exec_id=None,
        level=expectation.level,
        scope=scope,
        outcome=EventOutcome.ROUTED,
        rule=None,
        event_json=json.dumps(event.to_dict(), ensure_ascii=False),
        at=due.timestamp(),
    )
    route = f"expect {expectation.name}"
    messages = [NewMessage(d, route, expectation.mentions) for d in expectation.destinations]
    # received now (real time, as history shows it), even when --now evaluates another moment
    recorded = store.record(
        record, messages, clock.time(), facts(event, expectation.level, due.timestamp())
    )
    return not recorded.duplicate


def describe(verdict: Verdict, zone: tzinfo | None) -> str:
    """One line for the operator."""
    due = verdict.deadline.strftime("%Y-%m-%d %H:%M")
    head = f"{verdict.expectation!r} {verdict.jobnet}"
    if not verdict.missed:
        assert verdict.ended_at is not None
        ended = _local(verdict.ended_at, zone).strftime("%Y-%m-%d %H:%M")
        late = " (late)" if verdict.ended_at > verdict.deadline.timestamp() else ""
        return f"{head}: ended normally {ended}{late}, deadline {due}"
    if verdict.known:
        return f"{head}: MISSED deadline {due}; alerted already"
    return f"{head}: MISSED deadline {due}; alert recorded"


def dry_report(config: Config, verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """What `watch --dry-run` prints: each verdict and the messages a new alert would post."""
    from jp1notify.classify import Classification, classify_scope
    from jp1notify.destinations import Item, renderer_for

    out: list[dict[str, Any]] = []
    by_name = {e.name: e for e in config.expectations}
    for v in verdicts:
        entry: dict[str, Any] = {
            "expectation": v.expectation,
            "jobnet": v.jobnet,
            "deadline": v.deadline.isoformat(),
            "state": "ok" if not v.missed else "alerted already" if v.known else "missed",
            "ended_at": _local(v.ended_at, config.timezone).isoformat() if v.ended_at else None,
        }
        if v.missed and not v.known:
            e = by_name[v.expectation]
            event = missed_event(e, v.jobnet, v.deadline, config.language)
            c = Classification(e.level, f"expect {e.name}", classify_scope(event, config))
            entry["messages"] = []
            for name in e.destinations:
                destination = config.destinations[name]
                language = destination.language or config.language
                item = Item(0, event, c, f"expect {e.name}", e.mentions, language)
                payload = renderer_for(destination, config).render(item).payload
                entry["messages"].append({"destination": name, "payload": payload})
        out.append(entry)
    return {"config": str(config.path), "verdicts": out}


def watched_at(store: Store) -> float | None:
    """When watch last ran (real time), or None if never."""
    value = store.meta(WATCHED_KEY)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def watch(
    run: Invocation, config: Config, environ: Mapping[str, str], now: float, dry_run: bool
) -> Outcome:
    """Check the expectations at `now`; record the missed runs' alerts and send what is queued
    (a dry run records and sends nothing and prints what it would post)."""
    from jp1notify.notify import Ending, Outcome, drain, drain_problem, with_store

    def work(store: Store) -> tuple[list[Verdict], Any, int]:
        from jp1notify.store import State

        verdicts = check(config, store, now, record=not dry_run)
        if dry_run:
            return verdicts, None, 0
        store.set_meta(WATCHED_KEY, repr(clock.time()))
        report = drain(run, store, config, environ, eager=True)
        from jp1notify.destinations.alertmanager import resend_for

        resend_for(run, store, config, environ)  # Alertmanager forgets alerts not re-sent
        return verdicts, report, store.counts().get(State.PENDING, 0)

    try:
        verdicts, report, pending = with_store(run, config, work)
    except StoreError as exc:
        run.say(f"{exc}; expectations were not checked")
        from jp1notify.notify import store_ending

        return Outcome(store_ending(exc), None, {})
    if dry_run:
        print(json.dumps(dry_report(config, verdicts), ensure_ascii=False, indent=2))
        return Outcome(Ending.WATCHED, None, {"checked": len(verdicts)})
    for verdict in verdicts:
        if verdict.missed:
            run.say(describe(verdict, config.timezone))
    if not config.expectations:
        run.say("no [[expect]] entries in the config: nothing to check (queued messages sent)")
    if report is not None and report.holder and (report.sent or report.retry_reasons):
        last = f"; last failure: {report.retry_reasons[-1]}" if report.retry_reasons else ""
        run.say(
            f"watch: {report.sent} messages sent in {report.posts} posts; {pending} pending{last}"
        )
    details: dict[str, object] = {
        "checked": len(verdicts),
        "missed": sum(v.missed for v in verdicts),
        "alerted": sum(v.alerted for v in verdicts),
    }
    if report is not None:
        details.update(sent=report.sent, posts=report.posts, stopped=report.stopped)
    return Outcome(Ending.WATCHED, drain_problem(report), details)
