"""Linear time on any input: values cut at JP1's own limits before parsing, and unit
references, unit patterns and redaction that never backtrack over the whole text.

The inputs below took seconds to minutes with the regular expressions they replace
(docs/benchmarks.md, "Parsing and matching on hostile input"); the tests assert results only.
"""

from __future__ import annotations

import pytest

from jp1notify.event import (
    EXTRA_LIMIT,
    FIELDS,
    LIMITS,
    UNIT_PATH_LIMIT,
    Problem,
    UnitRef,
    describe_problems,
    parse_event,
    parse_unit_in_message,
    parse_unit_name,
)
from jp1notify.patterns import compile_unit_pattern, matches_any
from jp1notify.redaction import REDACTED, redact

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack

MB = 1024 * 1024
STARS = "/PROD/*a*a*a*a*a*a*a*b"


# -- values cut at JP1's limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "limit"), [*LIMITS.items(), ("EVENV3", EXTRA_LIMIT), ("EV:OBJECT_NAME", EXTRA_LIMIT)]
)
def test_each_value_is_cut_at_jp1s_limit_and_the_cut_is_noted(var, limit):
    event = parse_event({"EVID": "4104:0", "EVMSG": "KAVS0262-E (/A) x", var: "7" * (limit + 5)})
    values = {**event.env, **{f"EV:{k}": v for k, v in event.attributes.items()}}
    values.update({v: getattr(event, f) for v, f in FIELDS.items()})
    assert values[var] == "7" * limit
    assert Problem("cut", var, str(limit + 5)) in event.problems
    note = f"{var} was cut to JP1's limit of {limit} characters (it had {limit + 5})"
    assert note in describe_problems(event, "en")


def test_a_value_at_the_limit_is_whole():
    message = "KAVS0262-E (/A) " + "x" * (LIMITS["EVMSG"] - 16)
    event = parse_event({"EVID": "4104:0", "EVMSG": message})
    assert event.message == message and event.problems == ()


def test_a_megabyte_evmsg_is_cut_and_still_parsed():
    message = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/N:@A1)が異常終了しました" + "(/" * (MB // 2)
    event = parse_event({"EVID": "4104:0", "EVMSG": message})
    assert event.unit == UnitRef("AJSROOT1", "/PROD/N", "@A1")
    assert len(event.message or "") == LIMITS["EVMSG"]
    assert Problem("cut", "EVMSG", str(len(message))) in event.problems
    assert any("EVMSG は JP1 の上限 1023 文字" in line for line in describe_problems(event, "ja"))


def test_a_unit_path_longer_than_jp1s_is_cut():
    path = "/" + "/".join(["N" * 30] * 40)  # 1239 characters: more than 930
    event = parse_event({"EVID": "4104:0", "EV:OBJECT_NAME": f"AJSROOT1:{path}"})
    assert event.unit.path == path[:UNIT_PATH_LIMIT]
    assert Problem("unit_cut", "EV:OBJECT_NAME", str(len(path))) in event.problems


# -- unit references: hostile messages of a megabyte ----------------------------------------------


@pytest.mark.parametrize(
    "noise", ["(/", "（/", "(/a:", "(S:/:", ":@A)", "(AJSROOT1:", "(S:/a(/b", "((", "))"]
)
def test_unit_reference_in_a_megabyte_of_noise(noise):
    text = noise * (MB // len(noise))
    assert parse_unit_in_message(text) == UnitRef()
    found = parse_unit_in_message(text + " (AJSROOT1:/G/N:@A9) ended")
    assert found == UnitRef("AJSROOT1", "/G/N", "@A9")


def test_unit_reference_after_a_megabyte_of_parentheses_is_found():
    text = "KAVS0265-E " + "(/" * (MB // 2) + ": job (AJSROOT1:/G/N(2)/J:@A7) ended"
    assert parse_unit_in_message(text) == UnitRef("AJSROOT1", "/G/N(2)/J", "@A7")
    plain = "KAVS0262-E " + "(x" * (MB // 2) + " jobnet (/G/N) ended"
    assert parse_unit_in_message(plain) == UnitRef(None, "/G/N", None)


def test_unit_name_of_a_megabyte():
    assert parse_unit_name("/" + "a:" * (MB // 2)) == UnitRef()
    assert parse_unit_name("AJSROOT1:/" + "a" * MB) == UnitRef("AJSROOT1", "/" + "a" * MB, None)


# -- unit patterns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a" * 80, False),  # 80 s with the regular expression
        ("a" * MB, False),
        ("a" * MB + "b", True),
        ("ab" * (MB // 2), True),
        ("ba" * (MB // 2), False),
    ],
)
def test_many_star_pattern_on_long_names(name, expected):
    assert compile_unit_pattern(STARS).matches("/PROD/" + name) is expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/**/a/**/a/**/b", "/a" * (MB // 2), False),
        ("/**/a/**/a/**/b", "/a" * (MB // 2) + "/b", True),
        ("/**/*a*/**/?/**/b", "/a" * (MB // 2), False),
        ("/*?a?a?a?b", "/" + "a" * MB, False),
        ("/*?a?a?a?b", "/" + "xa" * (MB // 2) + "xb", True),
        ("/**", "/x" * (MB // 2), True),
    ],
)
def test_segment_patterns_on_a_megabyte_path(pattern, path, expected):
    assert compile_unit_pattern(pattern).matches(path) is expected


def test_matches_any_and_unknown_path():
    patterns = (compile_unit_pattern(STARS), compile_unit_pattern("/DEV/**"))
    assert matches_any(patterns, "/DEV/x/y") and not matches_any(patterns, None)
    assert not compile_unit_pattern("**").matches(None)


# -- redaction ---------------------------------------------------------------------------------------


def test_redaction_of_a_megabyte_of_schemes_without_spaces():
    text = "http://" * (MB // 7)
    assert redact(text) == text  # no webhook path: nothing to hide
    assert redact(text + "hooks.slack.com/services/T1/B2/secret") == REDACTED


def test_redaction_of_a_megabyte_of_webhook_urls():
    url = "https://hooks.slack.com/services/T0AAA/B0BBB/ccccDDDD"
    text = f"{url} " * (MB // (len(url) + 1))
    out = redact(text)
    assert "ccccDDDD" not in out and out.count(REDACTED) == MB // (len(url) + 1)


def test_redaction_of_a_megabyte_of_proxy_credentials_and_tokens():
    out = redact("://u:p@" * (MB // 7) + " xoxb-" + "1" * MB)
    assert "u:p" not in out and "xoxb-1" not in out


# -- the installed command -----------------------------------------------------------------------------

CONFIG = f"""
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
[log]
dir = "logs"
[[scopes]]
name = "stars"
units = ["{STARS}"]
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
scopes = ["stars"]
destination = "alerts"
"""


def test_send_routes_a_hostile_event_by_a_many_star_pattern(tmp_path, slack: FakeSlack):
    """Took 80 s per event before (the pattern against an 80-character name); a 100 KB EVMSG
    (about the most one environment variable may hold on Linux) is cut and said so."""
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG, encoding="utf-8")
    message = f"KAVS0262-E jobnet (AJSROOT1:/PROD/{'a' * 80}b:@A1) ended " + "(/" * 50_000
    env = clean_env(
        JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env(EVMSG=message)
    )
    result = run([], env)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    notes = payload["attachments"][0]["fields"][-1]["value"]
    assert f"EVMSG was cut to JP1's limit of 1023 characters (it had {len(message)})" in notes
