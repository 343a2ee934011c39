"""What a rule matches: the conditions of a scope, an ignore rule or a route (and, as they come,
runbooks and expectations), and the one place that checks them against an event.

A `Matcher` holds the conditions, each None for "any"; every one given must hold. The functions
here are pure: they take values (the event, its classification, the matcher, the event's local
time) and return a bool, so a new condition touches this module and the config that fills it,
nothing else. `matches_every_event` is what the config checks to refuse a rule that would match
(nearly) everything, like an [[ignore]] without conditions.

A route may hold time windows (`hours`, `quiet_hours`, `days`): they are checked against the
event's own local time, which the caller passes in (routing.event_moment: EVDATE/EVTIME in
[message].timezone, else now); without one, windows are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from jp1notify.catalog import LEVELS
from jp1notify.patterns import UnitPattern, matches_any

if TYPE_CHECKING:
    from datetime import datetime

    from jp1notify.classify import Classification
    from jp1notify.config import Scope
    from jp1notify.event import Event


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


class Window(NamedTuple):
    """A window of the day, local time: from `start` (included) to `end` (not included), in
    minutes after midnight; it wraps midnight when `end` <= `start` ("22:00-08:00"). With
    `days`, only windows that start on those weekdays (Monday 0): a night window belongs to the
    day it starts, so "weekday nights" take Friday night and not Sunday night."""

    start: int
    end: int
    days: frozenset[int] | None = None

    @property
    def text(self) -> str:
        """`22:00-08:00`, with `on mon, tue` when it has days (check-config)."""
        clock = f"{_clock(self.start)}-{_clock(self.end)}"
        if self.days is None:
            return clock
        return f"{clock} on {', '.join(DAY_NAMES[d] for d in sorted(self.days))}"


def window(text: str, days: Iterable[str] | None = None) -> Window:
    """A window from the config's `HH:MM-HH:MM` (checked by the schema) and day names."""
    start, _, end = text.replace(" ", "").partition("-")
    chosen = frozenset(DAY_NAMES.index(d) for d in days) if days is not None else None
    return Window(_minutes(start), _minutes(end), chosen)


def _minutes(clock: str) -> int:
    hour, _, minute = clock.partition(":")
    return int(hour) * 60 + int(minute)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def in_window(w: Window, at: datetime) -> bool:
    """Is the local time `at` inside the window (to the second)?"""
    second = at.hour * 3600 + at.minute * 60 + at.second
    start, end = w.start * 60, w.end * 60
    if start < end:
        inside, day = start <= second < end, at.weekday()
    elif second >= start:  # the evening part of a window that wraps midnight
        inside, day = True, at.weekday()
    else:  # its morning part belongs to the day before
        inside, day = second < end, (at.weekday() - 1) % 7
    return inside and (w.days is None or day in w.days)


class Matcher(NamedTuple):
    """Conditions of a scope, route or ignore rule; None means "any". All given ones must hold."""

    event_ids: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    scopes: frozenset[str] | None = None
    units: tuple[UnitPattern, ...] | None = None
    exclude_units: tuple[UnitPattern, ...] = ()
    services: frozenset[str] | None = None
    hosts: frozenset[str] | None = None
    hours: Window | None = None  # routes only: matches inside this window
    quiet_hours: Window | None = None  # routes only: never matches inside this window

    @property
    def is_catch_all(self) -> bool:
        return self == Matcher()

    @property
    def has_window(self) -> bool:
        return self.hours is not None or self.quiet_hours is not None


def matches(
    m: Matcher, event: Event, classification: Classification, at: datetime | None = None
) -> bool:
    """Every condition of a route or ignore rule holds for the classified event; `at` is the
    event's local time, for a route's windows (None: they are not checked)."""
    if m.event_ids is not None and event.event_id not in m.event_ids:
        return False
    if m.levels is not None and classification.level not in m.levels:
        return False
    if m.scopes is not None and classification.scope not in m.scopes:
        return False
    return unit_matches(m, event) and (at is None or time_matches(m, at))


def time_matches(m: Matcher, at: datetime) -> bool:
    """The route's windows: inside `hours` (if given) and outside `quiet_hours` (if given)."""
    if m.hours is not None and not in_window(m.hours, at):
        return False
    return m.quiet_hours is None or not in_window(m.quiet_hours, at)


def unit_matches(m: Matcher, event: Event) -> bool:
    """The conditions on where the event comes from: units, services, hosts."""
    path = event.unit.path
    if m.units is not None and not matches_any(m.units, path):
        return False
    if matches_any(m.exclude_units, path):
        return False
    if m.services is not None and event.unit.service not in m.services:
        return False
    return m.hosts is None or (event.host or "").lower() in m.hosts


# Unit patterns that together match all of these (one to five levels, different names) match
# (nearly) every unit an operator will meet: '/**', '**', '/*/**', or '/*', '/*/*', ... level by
# level to five levels (group/jobnet/job is three; nested jobnets add one each).
_SAMPLE_PATHS = (
    "/A",
    "/PROD/DAILY",
    "/本番/夜間/バックアップ",
    "/本番/夜間/バックアップ/COPY_1",
    "/G1/G2/NET/SUB/JOB",
)


def matches_every_event(m: Matcher, default_scope: str, scopes: tuple[Scope, ...] = ()) -> bool:
    """True if (nearly) every event meets the conditions: none given, or only ones that always
    hold (all four levels, every scope or a scope that takes every unit, unit patterns that
    together take every unit, like '/**')."""
    every_scope = {default_scope, *(s.name for s in scopes)}
    universal = {s.name for s in scopes if matches_every_event(s.matcher, default_scope)}
    return (
        m.event_ids is None
        and m.services is None
        and m.hosts is None
        and not m.has_window
        and not m.exclude_units
        and (m.levels is None or m.levels >= frozenset(LEVELS))
        and (m.scopes is None or m.scopes >= every_scope or bool(m.scopes & universal))
        and (m.units is None or matches_every_unit(m.units))
    )


def matches_every_unit(patterns: Sequence[UnitPattern]) -> bool:
    return all(any(p.matches(path) for p in patterns) for path in _SAMPLE_PATHS)
