import pytest

from jp1notify.catalog import CATALOG
from jp1notify.classify import classify
from jp1notify.event import parse_event

from conftest import MINIMAL, make_config

CONFIG = make_config(
    """
fallback_level = "info"
default_scope = "misc"
"""
    + MINIMAL
    + """
[levels]
"4107" = "warning"
[[scopes]]
name = "production"
units = ["/PROD/**"]
exclude_units = ["/PROD/SANDBOX/**"]
[[scopes]]
name = "second-service"
services = ["AJSROOT2"]
"""
)


def event(evid=None, msg="KAVS0262-E jobnet (AJSROOT1:/PROD/N:@A1) ended", **extra):
    env = {"EVMSG": msg, **extra}
    if evid:
        env["EVID"] = evid
    return parse_event(env)


@pytest.mark.parametrize("event_id", sorted(CATALOG))
def test_every_catalogued_event_gets_its_table_level(event_id):
    if event_id == "4107":
        return  # overridden below
    result = classify(event(f"{event_id}:0", msg="KAVS0000-I text"), CONFIG)
    assert result.level == CATALOG[event_id].level
    assert result.level_reason == f"built-in table for event {event_id}"


@pytest.mark.parametrize(
    ("evid", "msg", "extra", "level", "reason"),
    [
        ("4107:0", "KAVS0265-E x", {}, "warning", "config levels.4107"),
        ("4123:0", "KAVS0276-I x", {}, "warning", "built-in table for event 4123"),  # not the -I
        ("4199:0", "KAVS9999-I x", {"EVSEV": "Critical"}, "error", "EVSEV Critical"),
        ("4199:0", "KAVS9999-W x", {}, "warning", "message ID KAVS9999-W"),
        (
            "4199:0",
            "no id",
            {},
            "info",
            "config fallback_level (nothing else identified the event)",
        ),
        (None, "KAVS0262-E x", {}, "error", "message ID KAVS0262-E"),
    ],
)
def test_level_precedence(evid, msg, extra, level, reason):
    result = classify(event(evid, msg, **extra), CONFIG)
    assert (result.level, result.level_reason) == (level, reason)


@pytest.mark.parametrize(
    ("msg", "scope"),
    [
        ("x (AJSROOT1:/PROD/DAILY/NET:@A1)", "production"),
        ("x (AJSROOT1:/PROD/SANDBOX/NET:@A1)", "misc"),
        ("x (AJSROOT2:/DEV/NET:@A1)", "second-service"),
        ("x without unit", "misc"),
    ],
)
def test_scope_from_patterns(msg, scope):
    assert classify(event("4104:0", msg), CONFIG).scope == scope
