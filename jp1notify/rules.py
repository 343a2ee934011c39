"""What a rule matches: the conditions of a scope, an ignore rule or a route (and, as they come,
runbooks and expectations), and the one place that checks them against an event.

A `Matcher` holds the conditions, each None for "any"; every one given must hold. The functions
here are pure: they take values (the event, its classification, the matcher) and return a
bool, so a new condition touches this module and the config that fills it, nothing else.
`matches_every_event` is what the config checks to refuse a rule that would match (nearly)
everything, like an [[ignore]] without conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from jp1notify.catalog import LEVELS
from jp1notify.patterns import UnitPattern, matches_any

if TYPE_CHECKING:
    from jp1notify.classify import Classification
    from jp1notify.config import Scope
    from jp1notify.event import Event


class Matcher(NamedTuple):
    """Conditions of a scope, route or ignore rule; None means "any". All given ones must hold."""

    event_ids: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    scopes: frozenset[str] | None = None
    units: tuple[UnitPattern, ...] | None = None
    exclude_units: tuple[UnitPattern, ...] = ()
    services: frozenset[str] | None = None
    hosts: frozenset[str] | None = None

    @property
    def is_catch_all(self) -> bool:
        return self == Matcher()


def matches(m: Matcher, event: Event, classification: Classification) -> bool:
    """Every condition of a route or ignore rule holds for the classified event."""
    if m.event_ids is not None and event.event_id not in m.event_ids:
        return False
    if m.levels is not None and classification.level not in m.levels:
        return False
    if m.scopes is not None and classification.scope not in m.scopes:
        return False
    return unit_matches(m, event)


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
        and not m.exclude_units
        and (m.levels is None or m.levels >= frozenset(LEVELS))
        and (m.scopes is None or m.scopes >= every_scope or bool(m.scopes & universal))
        and (m.units is None or matches_every_unit(m.units))
    )


def matches_every_unit(patterns: Sequence[UnitPattern]) -> bool:
    return all(any(p.matches(path) for p in patterns) for path in _SAMPLE_PATHS)
