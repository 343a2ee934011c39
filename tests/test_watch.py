"""Expected runs: `jp1notify watch --now ...` against JP1 events recorded by the installed command,
with the fake Slack webhook. Dates: 2026-11-24 is a Tuesday, 2026-11-28 a Saturday."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jp1notify.config import Expectation
from jp1notify.patterns import compile_unit_pattern
from jp1notify.watch import deadline, expected_jobnets

import fakeslack
from conftest import clean_env, jobnet_env, run

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.alerts]
webhook_url_env = "HOOK"
[destinations.night]
webhook_url_env = "HOOK_NIGHT"
[[routes]]
name = "problems"
levels = ["error", "warning"]
destination = "alerts"
[[ignore]]
name = "normal ends stay out of Slack"
event_ids = ["4103", "4102"]
[outbox]
max_wait_seconds = 2
{expect}
"""

EXPECT = """
[[expect]]
name = "nightly load"
units = ["/PROD/NIGHTLY/LOAD"]
by = "06:00"
days = ["mon", "tue", "wed", "thu", "fri"]
destination = ["alerts", "night"]
mention = "channel"
"""


def jobnet_event(kind: str, path: str, exec_id: str, date: str, time: str) -> dict[str, str]:
    event_id = {"start": "4102", "normal": "4103", "abnormal": "4104"}[kind]
    return jobnet_env(event_id, path, exec_id, date, time)


class Site:
    def __init__(self, tmp_path: Path, hook: fakeslack.FakeSlack) -> None:
        self.dir = tmp_path
        self.hook = hook
        self.config = tmp_path / "jp1notify.toml"
        self.configure(EXPECT)

    def configure(self, expect: str) -> None:
        self.config.write_text(CONFIG.format(expect=expect), encoding="utf-8")

    def env(self, event: dict[str, str] | None = None) -> dict[str, str]:
        return clean_env(
            JP1NOTIFY_CONFIG=str(self.config),
            HOOK=self.hook.url("alerts"),
            HOOK_NIGHT=self.hook.url("night"),
            **(event or {}),
        )

    def send(self, kind: str, path: str, date: str, time: str, exec_id: str = "@A100") -> None:
        result = run([], self.env(jobnet_event(kind, path, exec_id, date, time)))
        assert result.returncode == 0, result.stderr
        self.assert_clean(result)

    def watch(self, now: str, *extra: str) -> subprocess.CompletedProcess[str]:
        result = run(["watch", "--now", now, *extra], self.env())
        self.assert_clean(result)
        return result

    def alerts(self, name: str = "alerts") -> list[str]:
        return [json.dumps(p, ensure_ascii=False) for p in self.hook.payloads(name)]

    def missed(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.dir / "data" / "jp1notify.db") as db:
            return db.execute(
                "SELECT jobnet, dedup_key FROM events WHERE event_id = 'MISSED' ORDER BY id"
            ).fetchall()

    def assert_clean(self, result: subprocess.CompletedProcess[str]) -> None:
        assert "Traceback" not in result.stderr
        written = [result.stdout.encode(), result.stderr.encode()]
        written += [p.read_bytes() for p in self.dir.rglob("*") if p.is_file() and p != self.config]
        for data in written:
            assert fakeslack.SECRET.encode() not in data


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    hook = fakeslack.FakeSlack()
    yield Site(tmp_path, hook)
    hook.close()


def test_a_missed_weekday_run_is_alerted_once_and_its_late_end_resolves_it(site):
    # Monday's run ended on time; Tuesday's has not ended by 06:00.
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/23", "05:10:00")
    result = site.watch("2026-11-24T06:05")
    assert result.returncode == 0, result.stderr
    assert "MISSED deadline 2026-11-24 06:00" in result.stderr
    for name in ("alerts", "night"):  # every destination of the expectation, with its mention
        (alert,) = site.alerts(name)
        assert "<!channel>" in alert
        assert "Expected run missing" in alert and "/PROD/NIGHTLY/LOAD" in alert
        assert "2026/11/24 06:00" in alert
    # again, and again later the same morning: nothing more
    for now in ("2026-11-24T06:10", "2026-11-24T09:00"):
        assert site.watch(now).returncode == 0
    assert len(site.alerts()) == 1
    assert len(site.missed()) == 1
    # the late normal end resolves the incident: one recovery per destination, no mention
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/24", "07:15:00", "@A101")
    for name in ("alerts", "night"):
        recovery = site.alerts(name)[-1]
        assert "Recovered" in recovery and "<!channel>" not in recovery
    assert site.watch("2026-11-24T07:30").returncode == 0
    assert len(site.alerts()) == 2
    incidents = run(["incidents", "--json"], site.env())
    (row,) = [json.loads(line) for line in incidents.stdout.splitlines()]
    assert row["state"] == "resolved" and row["jobnet"] == "/PROD/NIGHTLY/LOAD"


def test_a_run_on_time_gives_no_alert(site):
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/24", "05:59:59")
    result = site.watch("2026-11-24T06:05")
    assert result.returncode == 0 and "MISSED" not in result.stderr
    assert site.alerts() == [] and site.missed() == []


def test_a_run_that_ended_after_the_deadline_but_before_watch_looked_is_not_missed(site):
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/24", "06:02:00")
    dry = site.watch("2026-11-24T06:05", "--dry-run")
    (verdict,) = json.loads(dry.stdout)["verdicts"]
    assert verdict["state"] == "ok" and verdict["ended_at"].startswith("2026-11-24T06:02")
    assert site.watch("2026-11-24T06:05").returncode == 0
    assert site.alerts() == []


def test_only_the_listed_days_are_checked(site):
    # Friday's run ended; on Saturday and Sunday the deadline checked is still Friday's.
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/27", "04:00:00")
    for now in ("2026-11-28T07:00", "2026-11-29T23:00", "2026-11-30T05:59"):
        assert site.watch(now).returncode == 0
    assert site.alerts() == []
    site.watch("2026-11-30T06:01")  # Monday: missed
    assert len(site.alerts()) == 1


def test_yesterdays_end_does_not_count_for_today(site):
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/23", "05:10:00")
    site.watch("2026-11-23T06:05")
    assert site.alerts() == []
    site.watch("2026-11-24T06:05")
    assert len(site.alerts()) == 1


def test_a_normal_end_of_the_containing_jobnet_counts(site):
    site.send("normal", "/PROD/NIGHTLY", "2026/11/24", "05:00:00")
    site.watch("2026-11-24T06:05")
    assert site.alerts() == []


def test_a_failed_run_that_is_still_down_joins_its_incident(site):
    site.send("abnormal", "/PROD/NIGHTLY/LOAD", "2026/11/24", "03:00:00")
    assert len(site.alerts()) == 1
    site.watch("2026-11-24T06:05")
    assert len(site.alerts()) == 2  # the missed deadline is said too
    incidents = run(["incidents", "--json"], site.env())
    (row,) = [json.loads(line) for line in incidents.stdout.splitlines()]
    assert row["events"] == 2 and row["state"] == "open"


def test_a_pattern_expects_every_matching_jobnet_seen(site):
    site.configure(
        EXPECT.replace('["/PROD/NIGHTLY/LOAD"]', '["/PROD/WEEKLY/*"]').replace(
            'days = ["mon", "tue", "wed", "thu", "fri"]', 'days = "daily"'
        )
    )
    site.send("normal", "/PROD/WEEKLY/A", "2026/11/24", "05:00:00")
    site.send("abnormal", "/PROD/WEEKLY/B", "2026/11/24", "05:00:00", "@A102")
    site.send("normal", "/PROD/OTHER/C", "2026/11/24", "05:00:00", "@A103")
    result = site.watch("2026-11-24T06:05")
    assert "/PROD/WEEKLY/B: MISSED" in result.stderr
    assert "/PROD/WEEKLY/A" not in result.stderr and "/PROD/OTHER/C" not in result.stderr
    assert [jobnet for jobnet, _ in site.missed()] == ["/PROD/WEEKLY/B"]


def test_a_dry_run_records_and_sends_nothing(site):
    dry = site.watch("2026-11-24T06:05", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    (verdict,) = json.loads(dry.stdout)["verdicts"]
    assert verdict["state"] == "missed"
    assert [m["destination"] for m in verdict["messages"]] == ["alerts", "night"]
    assert "<!channel>" in json.dumps(verdict["messages"][0]["payload"])
    assert site.alerts() == [] and site.missed() == []
    site.watch("2026-11-24T06:05")
    assert len(site.alerts()) == 1


def test_watch_sends_what_is_queued_and_an_unreachable_slack_keeps_the_alert_queued(site):
    site.hook.script("alerts", fakeslack.SERVER_ERROR, fakeslack.SERVER_ERROR)
    site.hook.script("night", *[fakeslack.SERVER_ERROR] * 20)
    result = site.watch("2026-11-24T06:05")
    assert result.returncode == 0, result.stderr
    assert site.missed()  # recorded, waiting in the outbox
    history = run(["history", "--json"], site.env())
    states = [
        m["state"] for line in history.stdout.splitlines() for m in json.loads(line)["messages"]
    ]
    assert "pending" in states or "sent" in states


def test_watch_usage_and_config_errors(site):
    bad = site.watch("tomorrow")
    assert bad.returncode == 64 and "--now" in bad.stderr
    site.configure(EXPECT.replace('destination = ["alerts", "night"]', 'destination = "nope"'))
    result = run(["check-config"], site.env())
    assert result.returncode == 78
    assert 'expect #1 "nightly load" destination: unknown destination' in result.stderr
    site.configure(EXPECT + EXPECT)
    result = run(["check-config"], site.env())
    assert result.returncode == 78 and "used twice" in result.stderr
    site.configure(EXPECT.replace('"06:00"', '"25:00"'))
    result = run(["watch"], site.env())
    assert result.returncode == 78 and "HH:MM" in result.stderr
    site.configure(EXPECT.replace('["mon", "tue", "wed", "thu", "fri"]', '["monday"]'))
    result = run(["check-config"], site.env())
    assert result.returncode == 78 and "days" in result.stderr and "mon" in result.stderr


def test_check_config_lists_expectations_and_says_when_watch_never_ran(site):
    result = run(["check-config"], site.env())
    assert result.returncode == 0, result.stderr
    assert "nightly load" in result.stdout and "/PROD/NIGHTLY/LOAD by 06:00" in result.stdout
    assert "mon,tue,wed,thu,fri" in result.stdout
    assert "has never run" in result.stdout
    site.watch("2026-11-24T05:00")
    result = run(["check-config"], site.env())
    assert "has never run" not in result.stdout and "last ran" in result.stdout


# -- the deadline arithmetic, as pure functions ------------------------------------------------

JST = timezone(timedelta(hours=9))


def expectation(days: frozenset[int] = frozenset(range(5)), units=("/PROD/NIGHTLY/LOAD",)):
    return Expectation(
        "x",
        tuple(compile_unit_pattern(u) for u in units),
        (compile_unit_pattern("/PROD/WEEKLY/SKIP"),),
        None,
        (6, 0),
        days,
        ("alerts",),
        (),
        "error",
    )


@pytest.mark.parametrize(
    ("now", "due", "previous"),
    [
        ("2026-11-24T06:00:00", "2026-11-24T06:00", "2026-11-23T06:00"),  # at the deadline
        ("2026-11-24T05:59:59", "2026-11-23T06:00", "2026-11-20T06:00"),  # Monday's; Friday's
        ("2026-11-28T12:00:00", "2026-11-27T06:00", "2026-11-26T06:00"),  # Saturday: Friday's
        ("2026-11-30T06:30:00", "2026-11-30T06:00", "2026-11-27T06:00"),  # Monday: Friday's before
    ],
)
def test_the_deadline_is_the_latest_one_on_a_listed_day(now, due, previous):
    moment = datetime.fromisoformat(now).replace(tzinfo=JST).timestamp()
    found = deadline(expectation(), moment, JST)
    assert found.due == datetime.fromisoformat(due).replace(tzinfo=JST)
    assert found.previous == datetime.fromisoformat(previous).replace(tzinfo=JST)


def test_expected_jobnets_are_the_literal_paths_and_the_matching_seen_ones():
    e = expectation(units=("/PROD/NIGHTLY/LOAD", "/PROD/WEEKLY/*"))
    seen = ["/PROD/WEEKLY/A", "/PROD/WEEKLY/SKIP", "/PROD/WEEKLY/A/NESTED", "/OTHER"]
    assert expected_jobnets(e, seen) == ["/PROD/NIGHTLY/LOAD", "/PROD/WEEKLY/A"]


# -- the heartbeat on watch's clock -----------------------------------------------------------

HEARTBEAT = """
[heartbeat]
url_env = "BEAT"
interval_minutes = 5
timeout_seconds = 1
"""


def test_watch_pings_the_heartbeat_once_per_interval_on_its_clock(site):
    from fakeping import CHECK, FakePing

    ping = FakePing()
    try:
        site.configure(EXPECT + HEARTBEAT)
        env = {**site.env(), "BEAT": ping.url}
        site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/24", "05:00:00")  # the send pings once
        first = len(ping.pings)
        for now in ("2026-11-24T10:00", "2026-11-24T10:02", "2026-11-24T10:04:59"):
            result = run(["watch", "--now", now], env)
            assert result.returncode == 0, result.stderr
        assert len(ping.pings) == first + 1
        for now in ("2026-11-24T10:05", "2026-11-24T10:07", "2026-11-24T10:10"):
            assert run(["watch", "--now", now], env).returncode == 0
        assert len(ping.pings) == first + 3
        assert run(["watch", "--now", "2026-11-24T10:12", "--dry-run"], env).returncode == 0
        assert len(ping.pings) == first + 3  # a dry run pings nothing
        assert all(p.path == "" for p in ping.pings)
        written = b"".join(p.read_bytes() for p in site.dir.rglob("*") if p.is_file())
        assert CHECK.encode() not in written.replace(site.config.read_bytes(), b"")
    finally:
        ping.close()


def test_an_unreachable_heartbeat_changes_no_exit_code_of_watch(site):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/ping/x"
    site.configure(EXPECT + HEARTBEAT)
    result = run(["watch", "--now", "2026-11-24T06:05"], {**site.env(), "BEAT": closed})
    assert result.returncode == 0, result.stderr
    assert "heartbeat" in result.stderr.lower()
    assert len(site.alerts()) == 1  # the missed run went out all the same


def test_the_weekly_report_counts_the_missed_runs_watch_alerted(site):
    site.watch("2026-11-24T06:05")
    site.watch("2026-11-25T06:05")
    site.send("normal", "/PROD/NIGHTLY/LOAD", "2026/11/25", "08:00:00", "@A101")
    report = run(["report", "--json", "--now", "2026-11-26T00:00"], site.env())
    assert report.returncode == 0, report.stderr
    (jobnet,) = json.loads(report.stdout)["jobnets"]
    assert jobnet["jobnet"] == "/PROD/NIGHTLY/LOAD" and jobnet["missed_runs"] == 2
    assert jobnet["incidents"] == 1 and jobnet["open_incidents"] == 0
    assert jobnet["downtime_seconds"] == 26 * 3600  # from the first deadline to the late end
