"""rules.py: what a scope, ignore rule or route matches, as a table of event x matcher."""

from __future__ import annotations

import pytest

from jp1notify import classify, config, routing
from jp1notify.classify import Classification
from jp1notify.config import Scope
from jp1notify.event import parse_event
from jp1notify.patterns import compile_unit_pattern
from jp1notify.rules import (
    Matcher,
    matches,
    matches_every_event,
    matches_every_unit,
    unit_matches,
)

from conftest import event_env

# KAVS0262-E for /PROD/DAILY/BACKUP on AJSROOT1, host jp1mgr01 (conftest.event_env)
PROD = parse_event(event_env())
DEV = parse_event(
    event_env(
        EVID="00004105:00000000",
        EVMSG="KAVS0268-W ジョブ(AJSROOT2:/DEV/nightly/JOB1:@B7)が警告終了しました",
        EVHOST="JP1DEV02",
    )
)
NO_UNIT = parse_event(event_env(EVMSG="something happened", EVHOST="None"))
ERROR_PROD = Classification("error", "test", "production")
WARNING_OTHER = Classification("warning", "test", "other")


def units(*patterns: str) -> tuple:
    return tuple(compile_unit_pattern(p) for p in patterns)


CASES = [
    # matcher, event, classification, expected
    (Matcher(), PROD, ERROR_PROD, True),
    (Matcher(), NO_UNIT, WARNING_OTHER, True),
    (Matcher(event_ids=frozenset({"4104"})), PROD, ERROR_PROD, True),
    (Matcher(event_ids=frozenset({"4104"})), DEV, ERROR_PROD, False),
    (Matcher(event_ids=frozenset({"4105"})), DEV, WARNING_OTHER, True),
    (Matcher(levels=frozenset({"error"})), PROD, ERROR_PROD, True),
    (Matcher(levels=frozenset({"error"})), PROD, WARNING_OTHER, False),
    (Matcher(scopes=frozenset({"production"})), DEV, ERROR_PROD, True),
    (Matcher(scopes=frozenset({"production"})), PROD, WARNING_OTHER, False),
    (Matcher(units=units("/PROD/**")), PROD, ERROR_PROD, True),
    (Matcher(units=units("/PROD/**")), DEV, ERROR_PROD, False),
    (Matcher(units=units("/PROD/**")), NO_UNIT, ERROR_PROD, False),  # unknown unit: no match
    (Matcher(units=units("/PROD/*")), PROD, ERROR_PROD, False),  # one level only
    (Matcher(units=units("/PROD/*", "/DEV/**")), DEV, ERROR_PROD, True),
    (Matcher(exclude_units=units("/PROD/DAILY/**")), PROD, ERROR_PROD, False),
    (Matcher(exclude_units=units("/PROD/DAILY/**")), DEV, ERROR_PROD, True),
    (Matcher(exclude_units=units("/PROD/DAILY/**")), NO_UNIT, ERROR_PROD, True),
    (Matcher(units=units("/**"), exclude_units=units("/DEV/**")), DEV, ERROR_PROD, False),
    (Matcher(services=frozenset({"AJSROOT1"})), PROD, ERROR_PROD, True),
    (Matcher(services=frozenset({"AJSROOT1"})), DEV, ERROR_PROD, False),
    (Matcher(services=frozenset({"AJSROOT1"})), NO_UNIT, ERROR_PROD, False),
    (Matcher(hosts=frozenset({"jp1dev02"})), DEV, ERROR_PROD, True),  # hosts: lower-case
    (Matcher(hosts=frozenset({"jp1dev02"})), PROD, ERROR_PROD, False),
    (Matcher(hosts=frozenset({""})), NO_UNIT, ERROR_PROD, True),  # no EVHOST is ""
    (  # every given condition must hold
        Matcher(
            event_ids=frozenset({"4104"}),
            levels=frozenset({"error"}),
            units=units("/PROD/**"),
            hosts=frozenset({"jp1mgr01"}),
        ),
        PROD,
        ERROR_PROD,
        True,
    ),
    (
        Matcher(event_ids=frozenset({"4104"}), levels=frozenset({"warning"})),
        PROD,
        ERROR_PROD,
        False,
    ),
]


@pytest.mark.parametrize(("matcher", "event", "classification", "expected"), CASES)
def test_matches(matcher, event, classification, expected):
    assert matches(matcher, event, classification) is expected


@pytest.mark.parametrize(("matcher", "event", "classification", "expected"), CASES)
def test_unit_matches_is_the_where_half(matcher, event, classification, expected):
    where = matcher._replace(event_ids=None, levels=None, scopes=None)
    assert unit_matches(where, event) is matches(where, event, classification)


def test_the_events_of_the_table_are_what_they_claim():
    assert (PROD.event_id, PROD.unit.path, PROD.unit.service, PROD.host) == (
        "4104",
        "/PROD/DAILY/BACKUP",
        "AJSROOT1",
        "jp1mgr01",
    )
    assert (DEV.event_id, DEV.unit.path, DEV.host) == ("4105", "/DEV/nightly/JOB1", "JP1DEV02")
    assert NO_UNIT.unit.path is None and NO_UNIT.host is None


def test_catch_all():
    assert Matcher().is_catch_all
    assert not Matcher(levels=frozenset({"error"})).is_catch_all


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        (Matcher(), True),
        (Matcher(levels=frozenset({"error", "warning", "info", "success"})), True),
        (Matcher(levels=frozenset({"error", "warning"})), False),
        (Matcher(units=units("/**")), True),
        (Matcher(units=units("**")), True),
        (Matcher(units=units("/*/**")), True),
        (Matcher(units=units("/*", "/*/*", "/*/*/*", "/*/*/*/*", "/*/*/*/*/*")), True),
        (Matcher(units=units("/*", "/*/*", "/*/*/*")), False),
        (Matcher(units=units("/PROD/**")), False),
        (Matcher(scopes=frozenset({"other", "production", "everything"})), True),  # all
        (Matcher(scopes=frozenset({"production"})), False),
        (Matcher(scopes=frozenset({"other", "production"})), False),
        (Matcher(scopes=frozenset({"everything"})), True),  # a scope that takes every unit
        (Matcher(event_ids=frozenset({"4104"})), False),
        (Matcher(services=frozenset({"AJSROOT1"})), False),
        (Matcher(hosts=frozenset({"jp1mgr01"})), False),
        (Matcher(exclude_units=units("/DEV/**")), False),
    ],
)
def test_matches_every_event(matcher, expected):
    scopes = (
        Scope("production", Matcher(units=units("/PROD/**"))),
        Scope("everything", Matcher(units=units("/**"))),
    )
    assert matches_every_event(matcher, "other", scopes) is expected


def test_matches_every_unit():
    assert matches_every_unit(units("/**"))
    assert not matches_every_unit(units("/PROD/**", "/DEV/**"))
    assert not matches_every_unit(())


def test_the_old_places_still_export_the_rules():
    from jp1notify import rules

    assert routing.matches is rules.matches
    assert classify.unit_matches is rules.unit_matches
    assert config.Matcher is rules.Matcher
    assert config.matches_every_event is rules.matches_every_event
    assert config.matches_every_unit is rules.matches_every_unit
    assert config._SAMPLE_PATHS is rules._SAMPLE_PATHS
