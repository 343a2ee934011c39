"""`kind = "pagerduty"` and a route's `hours` / `quiet_hours` / `days`: the installed `jp1notify`
posts to a real local fake of PagerDuty's Events API v2 (tests/fakepd.py), one process per JP1
event; the routing key never appears in any output, log, store or cache. The pure parts
(dedup keys, severity, summary, the table of answers, time windows) are tested as functions."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fakepd
import pytest
from fakepd import FakePagerDuty

from jp1notify.classify import Classification
from jp1notify.delivery import Disposition
from jp1notify.destinations import Item
from jp1notify.destinations import pagerduty as pd
from jp1notify.event import parse_event
from jp1notify.incidents import Incident, State
from jp1notify.rules import in_window, window

from conftest import clean_env, event_env, jobnet_env, make_config, run
from fakeslack import FakeSlack

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[http]
timeout_seconds = 1
max_attempts = 3
retry_budget_seconds = 4
[outbox]
data_dir = "data"
max_wait_seconds = 2
[log]
dir = "logs"
[destinations.pager]
kind = "pagerduty"
{key}
events_url = "{url}"
[destinations.notice]
webhook_url_env = "HOOK_NOTICE"
[[routes]]
name = "night pager"
levels = ["error", "warning"]
{window}
destination = "pager"
continue = true
[[routes]]
name = "everything"
destination = "notice"
"""
BY_ENV = 'routing_key_env = "PD_KEY"'
NIGHT = 'hours = "22:00-08:00"'
JOBNET = "/PROD/NIGHTLY/LOAD"
FRIDAY, SATURDAY, SUNDAY, MONDAY = "2026/11/20", "2026/11/21", "2026/11/22", "2026/11/23"


@pytest.fixture
def pager():
    fake = FakePagerDuty()
    yield fake
    fake.close()


@pytest.fixture
def setup(tmp_path: Path, pager: FakePagerDuty, slack: FakeSlack):
    """A config in tmp_path whose pagerduty destination posts to the fake (its routing key in an
    environment variable), and the environment of a jobnet event."""
    config = tmp_path / "jp1notify.toml"

    def write(window: str = NIGHT, key: str = BY_ENV) -> None:
        text = CONFIG.format(key=key, url=pager.url, window=window)
        config.write_text(text, encoding="utf-8")

    def env(
        event_id: str = "4104", time: str = "23:10:00", date: str = FRIDAY, **extra: str
    ) -> dict[str, str]:
        event = jobnet_env(event_id, JOBNET, "@A200", date, time)
        values = {"PD_KEY": fakepd.ROUTING_KEY, "HOOK_NOTICE": slack.url("notice"), **extra}
        values = {k: v for k, v in values.items() if v}
        return clean_env(JP1NOTIFY_CONFIG=str(config), **values, **event)

    write()
    return config, write, env


def logs(config: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8") for p in sorted((config.parent / "logs").glob("*.log"))
    )


def assert_no_routing_key(config: Path, *results: subprocess.CompletedProcess[str]) -> None:
    """The routing key is in no byte of stdout, stderr, or any file jp1notify wrote."""
    secret = fakepd.ROUTING_KEY.encode()
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
        assert secret not in (result.stdout + result.stderr).encode()
    written = [p for p in config.parent.rglob("*") if p.is_file() and p != config]
    assert any(p.parent.name == "data" for p in written)  # the store was written and scanned
    for path in written:
        assert secret not in path.read_bytes(), path


# -- through the installed command -----------------------------------------------------------


def test_recovery_false_never_keeps_an_alert_open(setup, pager, slack):
    """`recovery = false` quiets webhook destinations; PagerDuty's alert would page for ever."""
    config, write, env = setup
    write(window=NIGHT + "\nrecovery = false")
    for event in (env("4104", "23:10:00"), env("4103", "23:50:00")):
        assert run([], event).returncode == 0
    assert [e["event_action"] for e in pager.accepted()] == ["trigger", "resolve"]


def test_an_incident_is_one_alert_triggered_twice_then_resolved(setup, pager, slack):
    """Three processes, three events: the abnormal end opens the alert, the rerun's warning end
    joins it (same key), the normal end the next morning (outside the route's hours) resolves
    it: the recovery goes wherever the incident was posted."""
    config, _, env = setup
    results = [
        run([], env("4104", "23:10:00")),
        run([], env("4108", "23:40:00")),
        run([], env("4103", "09:05:00", date=SATURDAY)),
    ]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    trigger, again, resolve = pager.accepted()
    assert [e["event_action"] for e in (trigger, again, resolve)] == [
        "trigger",
        "trigger",
        "resolve",
    ]
    key = trigger["dedup_key"]
    assert key == again["dedup_key"] == resolve["dedup_key"]
    # the service, the first problem's own time in UTC (23:10 JST), the incident number
    assert re.fullmatch(r"jp1notify:AJSROOT1:20261120T141000Z:\d+", key), key
    (alert,) = pager.alerts
    assert len(alert.triggers) == 2 and alert.resolved == [True]
    assert [e["payload"]["severity"] for e in (trigger, again)] == ["error", "warning"]
    assert set(resolve) == {"routing_key", "event_action", "dedup_key"}
    assert len(slack.payloads("notice")) == 3  # the catch-all route still hears of each
    assert_no_routing_key(config, *results)


def test_a_trigger_carries_the_event_in_its_payload(setup, pager):
    config, _, env = setup
    result = run([], env("4104", "23:10:00"))
    assert result.returncode == 0, result.stderr
    (event,) = pager.accepted()
    assert event["routing_key"] == fakepd.ROUTING_KEY
    assert event["client"] == "jp1notify"
    payload = event["payload"]
    assert payload["summary"] == (
        "[ERROR] Jobnet ended abnormally: AJSROOT1:/PROD/NIGHTLY/LOAD (Host: jp1mgr01)"
    )
    assert payload["source"] == "jp1mgr01"
    assert payload["timestamp"] == "2026-11-20T23:10:00+09:00"
    assert (payload["component"], payload["group"], payload["class"]) == (
        JOBNET,
        "AJSROOT1",
        "4104",
    )
    details = payload["custom_details"]
    assert details["message"].startswith("KAVS0262-E")
    assert details["exec_id"] == "@A200" and details["route"] == "night pager"
    assert details["incident"]["events"] == 1
    assert "delivered to pager" in result.stderr
    assert_no_routing_key(config, result)


@pytest.mark.parametrize(
    ("date", "time", "paged"),
    [
        (FRIDAY, "21:59:59", False),
        (FRIDAY, "22:00:00", True),
        (SATURDAY, "07:59:59", True),
        (SATURDAY, "08:00:00", False),
        (SATURDAY, "12:00:00", False),
    ],
)
def test_hours_take_the_events_own_time_at_the_boundaries(setup, date, time, paged):
    config, _, env = setup
    result = run(["send", "--dry-run"], env("4104", time, date=date))
    assert result.returncode == 0, result.stderr
    destinations = [m["destination"] for m in json.loads(result.stdout)["messages"]]
    assert destinations == (["pager", "notice"] if paged else ["notice"])


@pytest.mark.parametrize(
    ("date", "time", "paged"),
    [
        (FRIDAY, "07:59:59", True),
        (FRIDAY, "08:00:00", False),
        (FRIDAY, "21:59:59", False),
        (FRIDAY, "22:00:00", True),
    ],
)
def test_quiet_hours_keep_a_route_silent_at_the_boundaries(setup, date, time, paged):
    config, write, env = setup
    write('quiet_hours = "08:00-22:00"')
    result = run(["send", "--dry-run"], env("4104", time, date=date))
    assert result.returncode == 0, result.stderr
    destinations = [m["destination"] for m in json.loads(result.stdout)["messages"]]
    assert destinations == (["pager", "notice"] if paged else ["notice"])


@pytest.mark.parametrize(
    ("date", "time", "paged"),
    [
        (FRIDAY, "23:00:00", True),  # Friday's night
        (SATURDAY, "02:00:00", True),  # still Friday's night
        (SUNDAY, "23:00:00", False),  # Sunday's night
        (MONDAY, "02:00:00", False),  # still Sunday's night
        (MONDAY, "22:00:00", True),
    ],
)
def test_days_choose_the_nights_by_the_day_they_start(setup, date, time, paged):
    config, write, env = setup
    write(f'{NIGHT}\ndays = ["mon", "tue", "wed", "thu", "fri"]')
    result = run(["send", "--dry-run"], env("4104", time, date=date))
    assert result.returncode == 0, result.stderr
    destinations = [m["destination"] for m in json.loads(result.stdout)["messages"]]
    assert destinations == (["pager", "notice"] if paged else ["notice"])


def test_an_event_without_a_jobnet_triggers_with_its_own_key(setup, pager):
    """A scheduler service's event has no incident: the key comes from the event's identity, so
    the same event sent again folds into the same alert."""
    config, _, env = setup
    values = env()
    service = event_env(
        EVID="4000:0", EVMSG="KAVS0200-E スケジューラーサービス(AJSROOT1)が異常停止しました"
    )
    values.update(service, EVDATE=FRIDAY, EVTIME="23:30:00")
    result = run([], values)
    assert result.returncode == 0, result.stderr
    (event,) = pager.accepted()
    assert event["dedup_key"] == pd.event_key(parse_event(values))
    assert event["dedup_key"].startswith("jp1notify:event:")
    assert "component" not in event["payload"]
    assert_no_routing_key(config, result)


def test_a_refused_event_dies_alone_with_pagerdutys_errors(setup, pager, slack):
    config, _, env = setup
    pager.answer_next(fakepd.INVALID)
    result = run([], env("4104"))
    assert result.returncode == 69, result.stderr  # as any final refusal (test_cli)
    assert "PagerDuty refused this event (Event object is invalid; 'payload.severity'" in (
        result.stderr
    )
    assert "report it with the --dry-run output" in result.stderr
    assert "results=pager:dead" in logs(config)
    assert len(slack.payloads("notice")) == 1  # the other destination is not held
    later = run([], env("4104", "23:50:00"))  # the destination is fine: the next one goes
    assert later.returncode == 0, later.stderr
    assert len(pager.accepted()) == 1
    assert_no_routing_key(config, result, later)


def test_rate_limiting_keeps_the_event_queued(setup, pager):
    config, _, env = setup
    pager.answer_next(fakepd.RATE_LIMITED)
    result = run([], env("4104"))
    assert result.returncode == 0, result.stderr
    assert "rate limited by PagerDuty (HTTP 429" in result.stderr
    assert "results=pager:pending" in logs(config)
    assert len(pager.received) == 1  # the next try waits 30 s, past max_wait_seconds
    flushed = run(["flush"], env("4104"))  # even an operator's flush waits out the 30 s
    assert len(pager.received) == 1, flushed.stderr
    assert_no_routing_key(config, result, flushed)


def test_a_server_error_is_retried_until_accepted(setup, pager):
    config, _, env = setup
    pager.answer_next(fakepd.SERVER_ERROR)
    result = run([], env("4104"))
    assert result.returncode == 0, result.stderr
    assert [r.status for r in pager.received] == [502, 202]
    assert pager.received[0].event == pager.received[1].event
    assert "results=pager:sent" in logs(config)
    assert_no_routing_key(config, result)


def test_a_forbidden_integration_kills_the_destinations_messages(setup, pager):
    config, _, env = setup
    pager.answer_next(fakepd.FORBIDDEN)
    result = run([], env("4104"))
    assert result.returncode == 69, result.stderr
    assert "check that the service's Events API v2 integration still exists" in result.stderr
    assert "results=pager:dead" in logs(config)
    assert_no_routing_key(config, result)


def test_the_dry_run_shows_the_event_but_never_the_routing_key(setup, pager):
    config, _, env = setup
    result = run(["send", "--dry-run"], env("4104", "23:10:00"))
    assert result.returncode == 0, result.stderr
    (message,) = [m for m in json.loads(result.stdout)["messages"] if m["destination"] == "pager"]
    assert message["kind"] == "pagerduty"
    assert message["webhook"] == "environment variable PD_KEY"
    event = message["payload"]
    assert event["routing_key"] == "(routing key)"
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "error"
    assert pager.received == []
    assert fakepd.ROUTING_KEY not in result.stdout + result.stderr


def test_a_literal_routing_key_stays_out_of_the_config_cache(setup, pager):
    config, write, env = setup
    write(key=f'routing_key = "{fakepd.ROUTING_KEY}"')
    results = [run([], env("4104", PD_KEY="")), run([], env("4103", "23:55:00", PD_KEY=""))]
    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert config.with_name("jp1notify.toml.cache").exists()  # the second run read it
    assert [e["event_action"] for e in pager.accepted()] == ["trigger", "resolve"]
    assert_no_routing_key(config, *results)


def test_check_config_lists_the_destination_and_the_routes_hours(setup):
    config, write, env = setup
    write(f'{NIGHT}\ndays = ["fri", "sat"]')
    result = run(["check-config"], env())
    assert result.returncode == 0, result.stdout
    assert "  pager: pagerduty, environment variable PD_KEY (readable), events URL http://" in (
        result.stdout
    )
    assert "hours 22:00-08:00 on fri, sat -> pager" in result.stdout
    assert "(hours are the event's own time, EVDATE/EVTIME, in Asia/Tokyo)" in result.stdout
    assert fakepd.ROUTING_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("R0b1c2d3", "is not a PagerDuty routing key (32 letters and digits)"),
        ("https://events.pagerduty.com/v2/enqueue", "is a URL, not a routing key"),
    ],
)
def test_check_config_refuses_a_routing_key_that_cannot_work(setup, key, said):
    config, _, env = setup
    result = run(["check-config"], env(PD_KEY=key))
    assert result.returncode == 78, result.stdout
    assert f"destinations.pager: the routing key from environment variable PD_KEY {said}" in (
        result.stdout
    )
    assert key not in result.stdout.replace(f"PD_KEY {said}", "")


@pytest.mark.parametrize(
    ("window", "said"),
    [
        (
            'hours = "22:00-8"',
            'hours: must be a window of the day as HH:MM-HH:MM, like "22:00-08:00"',
        ),
        ('hours = "24:00-08:00"', "hours: must be a window of the day as HH:MM-HH:MM"),
        ('quiet_hours = "08:00-08:00"', "quiet_hours: starts and ends at the same time"),
        ('days = ["fri"]', "days says on which days hours or quiet_hours apply"),
        (f'{NIGHT}\ndays = ["friday"]', "days #1: 'friday' is not allowed"),
    ],
)
def test_an_invalid_window_is_a_config_error_naming_the_key(setup, window, said):
    config, write, env = setup
    write(window)
    result = run(["check-config"], env())
    assert result.returncode == 78, result.stdout + result.stderr
    assert 'routes #1 "night pager"' in result.stdout + result.stderr
    assert said in result.stdout + result.stderr


def test_keys_of_pagerduty_are_refused_for_another_kind(tmp_path):
    path = tmp_path / "jp1notify.toml"
    path.write_text(
        '[destinations.x]\nwebhook_url_env = "HOOK"\nevents_url = "https://example.com/"\n'
        '[[routes]]\ndestination = "x"\n',
        encoding="utf-8",
    )
    result = run(["check-config", "--config", str(path)], clean_env())
    assert result.returncode == 78
    assert "events_url cannot be used with kind 'slack_webhook' (set kind = \"pagerduty\"" in (
        result.stdout + result.stderr
    )


# -- pure parts ------------------------------------------------------------------------------


CONFIG_VALUES = make_config(
    CONFIG.format(key=BY_ENV, url="https://events.pagerduty.com/v2/enqueue", window=NIGHT)
)


def item(level: str = "error", recovery: bool = False, incident: Incident | None = None) -> Item:
    event = parse_event(jobnet_env("4104", JOBNET, "@A200", FRIDAY, "23:10:00"))
    return Item(1, event, Classification(level, "", "other"), "r", (), "en", incident, recovery)


def incident(opened_at: float = 1_763_647_800.0, number: int = 57) -> Incident:
    return Incident(
        number, "AJSROOT1", JOBNET, "@A200", State.OPEN, "error", opened_at, None, 1,
        None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("level", "severity"),
    [("error", "error"), ("warning", "warning"), ("info", "info"), ("success", "info")],
)
def test_each_level_has_its_severity(level, severity):
    event = pd.event_for(item(level), CONFIG_VALUES, None, None).payload
    assert event["payload"]["severity"] == severity
    assert set(pd.SEVERITIES.values()) <= set(fakepd.SEVERITIES)


def test_an_incidents_key_holds_only_what_never_changes():
    key = pd.incident_key(incident())
    assert key == "jp1notify:AJSROOT1:20251120T141000Z:57"
    # its jobnet widening, or its first event pruned, changes nothing
    widened = incident()._replace(jobnet="/PROD", events=9, first=None)
    assert pd.incident_key(widened) == key
    # the same number in a reset store, opened at another time: another alert
    assert pd.incident_key(incident(opened_at=1_763_700_000.0)) != key
    assert pd.incident_key(incident()._replace(service="")) == ("jp1notify:-:20251120T141000Z:57")


def test_a_recovery_resolves_and_other_items_trigger():
    resolved = pd.event_for(item(recovery=True, incident=incident()), CONFIG_VALUES, None, None)
    assert resolved.payload == {
        "routing_key": "(routing key)",
        "event_action": "resolve",
        "dedup_key": "jp1notify:AJSROOT1:20251120T141000Z:57",
    }
    plain = pd.event_for(item(), CONFIG_VALUES, "JP1 east", "https://jp1.example.com/")
    assert plain.payload["event_action"] == "trigger"
    assert plain.payload["dedup_key"] == pd.event_key(item().event)
    assert (plain.payload["client"], plain.payload["client_url"]) == (
        "JP1 east",
        "https://jp1.example.com/",
    )


def test_a_long_summary_is_cut_to_pagerdutys_limit_on_one_line():
    event = item().event
    long = event._replace(unit=event.unit._replace(path="/" + "長" * 2000), host="a\nb")
    rendered = pd.event_for(item()._replace(event=long), CONFIG_VALUES, None, None)
    summary = rendered.payload["payload"]["summary"]
    assert len(summary) == pd.SUMMARY_LIMIT and summary.endswith("…")
    assert rendered.truncated == ("summary",)
    short = pd.summary_of(item()._replace(event=event._replace(host="a\nb")))[0]
    assert "\n" not in short and short.endswith("(Host: a b)")
    assert not fakepd.problems(rendered.payload | {"routing_key": fakepd.ROUTING_KEY})


@pytest.mark.parametrize(
    ("status", "body", "headers", "disposition", "said"),
    [
        (202, '{"status":"success","message":"Event processed","dedup_key":"k"}', {},
         Disposition.DELIVERED, "ok"),
        (400, fakepd.INVALID.body, {}, Disposition.INVALID, "'payload.severity' is invalid"),
        (400, '{"status":"invalid event","message":"Event object is invalid","errors":'
         '["Length of \'routing_key\' is incorrect (should be 32 characters)"]}', {},
         Disposition.GONE, "Copy the Integration Key again"),
        (400, "<html><title>Bad Request</title></html>", {}, Disposition.REFUSED,
         "not PagerDuty's"),
        (429, fakepd.RATE_LIMITED.body, {}, Disposition.RETRY, "in 30 s"),
        (429, "", {"retry-after": "5"}, Disposition.RETRY, "in 5 s"),
        (500, "", {}, Disposition.RETRY, "HTTP 500"),
        (503, "", {"retry-after": "7"}, Disposition.RETRY, "HTTP 503"),
        (401, '{"status":"Unauthorized","message":"Unauthorized"}', {}, Disposition.GONE,
         "integration still exists"),
        (403, fakepd.FORBIDDEN.body, {}, Disposition.GONE, "integration still exists"),
        (403, "<html><title>Blocked by policy</title>", {}, Disposition.REFUSED,
         "'Blocked by policy'"),
        (404, "Not Found", {}, Disposition.GONE, "no Events API v2 at events_url"),
        (413, '{"status":"invalid event","message":"too large"}', {}, Disposition.INVALID,
         "too large for PagerDuty"),
        (407, "", {}, Disposition.RETRY, "http.proxy"),
        (302, "", {"location": "https://portal.example/"}, Disposition.RETRY, "redirect"),
        (200, "<html>Login</html>", {}, Disposition.RETRY, "not PagerDuty's"),
        (202, '{"status":"throttle"}', {}, Disposition.RETRY, "not PagerDuty's"),
    ],
)  # fmt: skip
def test_each_answer_has_its_disposition(status, body, headers, disposition, said):
    verdict = pd.judge(status, body, headers)
    assert verdict.disposition is disposition
    assert said in verdict.reason


def test_rate_limits_wait_thirty_seconds_unless_told():
    assert pd.judge(429, "", {}).retry_after == pd.RATE_WAIT == 30.0
    assert pd.judge(429, "", {"retry-after": "5"}).retry_after == 5.0
    assert pd.judge(502, "", {}).retry_after is None


@pytest.mark.parametrize(
    ("key", "fine"),
    [
        (fakepd.ROUTING_KEY, True),
        ("e93facc04764012d7bfb002500d5d1a6", True),
        ("e93facc04764012d7bfb002500d5d1a", False),  # 31
        ("e93facc04764012d7bfb002500d5d1a6 ", False),
        ("e93facc0-4764-012d-7bfb-002500d5", False),
        ("https://events.pagerduty.com/x", False),
    ],
)
def test_a_routing_key_is_32_letters_and_digits(key, fine):
    problem = pd.check_routing_key(key)
    assert (problem is None) is fine
    assert problem is None or key not in problem


JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("text", "days", "at", "inside"),
    [
        ("22:00-08:00", None, "2026-11-20 21:59:59", False),
        ("22:00-08:00", None, "2026-11-20 22:00:00", True),
        ("22:00-08:00", None, "2026-11-21 00:00:00", True),
        ("22:00-08:00", None, "2026-11-21 07:59:59", True),
        ("22:00-08:00", None, "2026-11-21 08:00:00", False),
        ("08:00-22:00", None, "2026-11-20 08:00:00", True),
        ("08:00-22:00", None, "2026-11-20 21:59:59", True),
        ("08:00-22:00", None, "2026-11-20 22:00:00", False),
        ("00:00-06:00", ["sat"], "2026-11-21 05:00:00", True),
        ("00:00-06:00", ["sat"], "2026-11-22 05:00:00", False),
        ("22:00-08:00", ["fri"], "2026-11-21 07:00:00", True),  # Friday's night
        ("22:00-08:00", ["fri"], "2026-11-21 23:00:00", False),  # Saturday's
        ("22:00-08:00", ["sun"], "2026-11-23 07:59:59", True),  # Sunday's, on Monday
    ],
)
def test_a_window_holds_its_start_and_not_its_end(text, days, at, inside):
    moment = datetime.strptime(at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=JST)
    assert in_window(window(text, days), moment) is inside
