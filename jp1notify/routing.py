"""Routing: which destinations an event goes to, or which rule says to drop it.

Order of decisions, like Alertmanager's routing tree flattened to a list:
1. the loop guard (`self_guard`): events about the notifier's own jobnet are dropped, since each
   notification would otherwise trigger another (docs/jp1.md);
2. `[[ignore]]` rules, the first that matches drops the event;
3. `[[routes]]` in order: the first match wins; `continue = true` lets matching go on (fan out).
A destination reached by several routes gets one message (the first route's mentions win).
A route with `hours` or `quiet_hours` matches by the event's own local time (`event_moment`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from jp1notify.classify import Classification
from jp1notify.config import Config, Route
from jp1notify.event import Event, parent_path, parse_unit_name
from jp1notify.rules import matches  # re-exported: rules.py owns it


class Delivery(NamedTuple):
    """One message to send: the route that chose it and the destination it goes to."""

    route: Route
    destination: str


class Decision(NamedTuple):
    ignored_by: str | None  # "self_guard", an ignore rule's name, or None
    deliveries: tuple[Delivery, ...]

    @property
    def unrouted(self) -> bool:
        return self.ignored_by is None and not self.deliveries


def route(
    event: Event, classification: Classification, config: Config, now: datetime | None = None
) -> Decision:
    """`now` stands in for the event's time when it has none, for routes with hours (default:
    the clock)."""
    if config.self_guard and is_own_event(event):
        return Decision("self_guard", ())
    for rule in config.ignore:
        if matches(rule.matcher, event, classification):
            return Decision(rule.name, ())
    timed = any(r.matcher.has_window for r in config.routes)
    at = event_moment(event, config, now) if timed else None
    deliveries: list[Delivery] = []
    for candidate in config.routes:
        if not matches(candidate.matcher, event, classification, at):
            continue
        taken = {d.destination for d in deliveries}
        deliveries += [Delivery(candidate, d) for d in candidate.destinations if d not in taken]
        if not candidate.continue_:
            break
    return Decision(None, tuple(deliveries))


def event_moment(event: Event, config: Config, now: datetime | None = None) -> datetime:
    """The local time a route's hours are checked against: the event's own (EVDATE/EVTIME in
    [message].timezone), else `now` (default: the clock), in the same zone. An event queued
    for minutes is routed by when it happened, not by when jp1notify ran."""
    from jp1notify.event import event_datetime

    moment = event_datetime(event, config.timezone)
    if moment is not None:
        return moment
    current = now or datetime.now(UTC)
    return current.astimezone(config.timezone) if config.timezone else current.astimezone()


def is_own_event(event: Event) -> bool:
    """True if the event is about the jobnet that runs this notifier job (AJSJOBNAME).

    AJSJOBNAME holds the job's full unit name; whether it carries the scheduler service prefix
    is unconfirmed, so both forms parse. Events of that job, of its jobnet and of units under it
    are the notifier's own.
    """
    if not event.self_job or not event.unit.path:
        return False
    own_job = parse_unit_name(event.self_job).path
    if not own_job:
        return False
    own_jobnet = parent_path(own_job)
    path = event.unit.path
    return path == own_jobnet or path.startswith(own_jobnet + "/")
