"""Classification: an event's level (error, warning, ...) and scope (production, ...).

Level, first that applies: the config's `levels` override for the event ID, the built-in
catalogue, EVSEV, the message ID suffix (-E/-W/-I), the config's `fallback_level`.
Scope: the first `[[scopes]]` entry whose patterns match, else `default_scope`.
"""

from __future__ import annotations

from typing import NamedTuple

from jp1notify.catalog import CATALOG, SEVERITY_LEVELS, SUFFIX_LEVELS
from jp1notify.config import Config
from jp1notify.event import Event
from jp1notify.rules import unit_matches  # re-exported: rules.py owns it


class Classification(NamedTuple):
    level: str
    level_reason: str  # where the level came from, for dry runs and check-config
    scope: str


def classify(event: Event, config: Config) -> Classification:
    level, reason = classify_level(event, config)
    return Classification(level, reason, classify_scope(event, config))


def classify_level(event: Event, config: Config) -> tuple[str, str]:
    event_id = event.event_id
    if event_id in config.levels:
        return config.levels[event_id], f"config levels.{event_id}"
    if event_id in CATALOG:
        return CATALOG[event_id].level, f"built-in table for event {event_id}"
    severity = (event.severity or "").lower()
    if severity in SEVERITY_LEVELS:
        return SEVERITY_LEVELS[severity], f"EVSEV {event.severity}"
    suffix = event.message_id[-1] if event.message_id else ""
    if suffix in SUFFIX_LEVELS:
        return SUFFIX_LEVELS[suffix], f"message ID {event.message_id}"
    return config.fallback_level, "config fallback_level (nothing else identified the event)"


def classify_scope(event: Event, config: Config) -> str:
    for scope in config.scopes:
        if unit_matches(scope.matcher, event):
            return scope.name
    return config.default_scope
