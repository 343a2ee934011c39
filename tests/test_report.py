"""`jp1notify report` and `history --stats`: a store filled by the installed command, one process
per JP1 event over a week (EVDATE/EVTIME in Asia/Tokyo), as JP1 would have run it; the figures
read back through the command line (JSON, text, HTML, a Slack summary to the fake Slack)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from jp1notify import report
from jp1notify.config import Destination, WebhookSource
from jp1notify.store import EventRecord, Store

import fakeslack
from conftest import JOBNET_MESSAGES, MINIMAL, clean_env, make_config, run

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = "2026-11-29T09:00+09:00"  # the end of the period; --since 7d: from 11/22 09:00
HOSTILE = "/<script>alert(1)</script>"
BACKUP = "/PROD/DAILY/BACKUP"
ETL = "/PROD/NIGHT/ETL"
SUMMARY = "/PROD/WEEKLY/SUMMARY"
MISSING = "/PROD/DAILY/REPORT"

CONFIG = """
[message]
language = "{language}"
timezone = "Asia/Tokyo"
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[destinations.weekly]
webhook_url_env = "HOOK_WEEKLY"
[[routes]]
levels = ["error", "warning"]
destination = "alerts"
[outbox]
data_dir = "data"
"""

MESSAGES = JOBNET_MESSAGES


def _events() -> list[tuple[str, str, str, str, str]]:
    """(event ID, jobnet, execution ID, EVDATE, EVTIME), in the order JP1 would send them."""
    events = [("4104", BACKUP, "@A121", "2026/11/21", "03:00:00")]  # before the period
    ends = ["02:00:00", "02:02:00", None, "02:01:00", "01:59:00", "02:03:00", "02:00:00"]
    for day, end in zip(range(23, 30), ends, strict=True):
        run_id, date = f"@A1{day}", f"2026/11/{day}"
        events.append(("4102", BACKUP, run_id, date, "01:00:00"))
        if end is None:  # 11/25: fails at 01:30, rerun from 01:40 ends at 02:30 (down 1 h)
            events += [
                ("4104", BACKUP, run_id, date, "01:30:00"),
                ("4102", BACKUP, run_id, date, "01:40:00"),
                ("4103", BACKUP, run_id, date, "02:30:00"),
            ]
        else:
            events.append(("4103", BACKUP, run_id, date, end))
    # around midnight: 23:55, 00:05, 00:00, 23:58, 00:02 (usual end 00:00, latest 00:05)
    for day, end_day, end in [
        (23, 23, "23:55:00"),
        (24, 25, "00:05:00"),
        (25, 26, "00:00:00"),
        (26, 26, "23:58:00"),
        (27, 28, "00:02:00"),
    ]:
        events.append(("4102", ETL, f"@E{day}", f"2026/11/{day}", "23:00:00"))
        events.append(("4103", ETL, f"@E{day}", f"2026/11/{end_day}", end))
    events.append(("4104", HOSTILE, "@X1", "2026/11/27", "10:00:00"))  # never recovers
    events.append(("4108", SUMMARY, "@S1", "2026/11/28", "05:00:00"))
    return events


class Site(NamedTuple):
    dir: Path
    config: Path
    slack: fakeslack.FakeSlack

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(
            JP1NOTIFY_CONFIG=str(self.config),
            HOOK_ALERTS=self.slack.url("alerts"),
            HOOK_WEEKLY=self.slack.url("weekly"),
            **extra,
        )

    def command(self, *args: str) -> Any:
        result = run(list(args), self.env())
        assert "Traceback" not in result.stderr
        assert fakeslack.SECRET not in result.stdout + result.stderr
        return result

    def report_json(self, since: str = "7d") -> dict[str, Any]:
        result = self.command("report", "--since", since, "--now", NOW, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("report")
    config = folder / "jp1notify.toml"
    config.write_text(CONFIG.format(language="en"), encoding="utf-8")
    slack = fakeslack.FakeSlack()
    site = Site(folder, config, slack)
    for event_id, jobnet, exec_id, date, time in _events():
        unit = f"AJSROOT1:{jobnet}:{exec_id}"
        env = site.env(
            EVID=f"{event_id}:0",
            EVMSG=MESSAGES[event_id].format(unit=unit),
            EVDATE=date,
            EVTIME=time,
            EVHOST="jp1mgr01",
        )
        result = run([], env)
        assert result.returncode == 0, result.stderr
    _record_missed(folder / "data", MISSING, datetime(2026, 11, 26, 6, 0, tzinfo=TOKYO))
    yield site
    slack.close()


def _record_missed(data_dir: Path, jobnet: str, deadline: datetime) -> None:
    """A missed run as `jp1notify watch` records it, without its incident (tests/test_watch.py has
    the report of runs watch alerted itself)."""
    at = deadline.timestamp()
    event = {"event_id": "MISSED", "unit": {"path": jobnet}, "message": "no normal end by 06:00"}
    record = EventRecord(
        f"missed:{jobnet}:{at}", "MISSED", jobnet, jobnet, None, None, "error", "other",
        "routed", None, json.dumps(event), at,
    )  # fmt: skip
    store = Store.open(data_dir)
    try:
        store.record(record, [], at + 60)
    finally:
        store.close()


def _jobnets(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["jobnet"]: j for j in data["jobnets"]}


# -- the figures ----------------------------------------------------------------------------


def test_json_figures_per_jobnet(site):
    data = site.report_json()
    assert data["schema"] == 1
    assert data["period"] == {
        "since": "2026-11-22T09:00:00+09:00",
        "until": "2026-11-29T09:00:00+09:00",
        "timezone": "Asia/Tokyo",
    }
    jobnets = _jobnets(data)
    assert set(jobnets) == {BACKUP, ETL, HOSTILE, SUMMARY, MISSING}
    backup = jobnets[BACKUP]
    assert backup["service"] == "AJSROOT1"
    assert (backup["failures"], backup["runs"], backup["incidents"]) == (1, 7, 1)  # 11/21 is out
    assert backup["mttr_seconds"] == 3600  # failed 01:30, recovered 02:30
    assert backup["downtime_seconds"] == 3600
    assert backup["usual_duration_seconds"] == 3600  # median of 60, 62, 50, 61, 59, 63, 60 min
    assert (backup["usual_end"], backup["latest_end"], backup["end_varies"]) == (
        "02:01",
        "02:30",
        False,
    )
    assert backup["last_failure"]["time"] == "2026-11-25T01:30:00+09:00"
    assert backup["last_failure"]["host"] == "jp1mgr01"
    etl = jobnets[ETL]
    assert (etl["usual_end"], etl["latest_end"]) == ("00:00", "00:05")  # not noon
    assert (etl["runs"], etl["failures"], etl["usual_duration_seconds"]) == (5, 0, 3600)
    assert jobnets[MISSING]["missed_runs"] == 1
    assert jobnets[MISSING]["failures"] == 0
    hostile = jobnets[HOSTILE]
    assert (hostile["failures"], hostile["open_incidents"], hostile["mttr_seconds"]) == (1, 1, None)
    assert hostile["downtime_seconds"] == 47 * 3600  # open: until --now
    assert (jobnets[SUMMARY]["warnings"], jobnets[SUMMARY]["open_incidents"]) == (1, 1)


def test_json_totals_days_and_offenders(site):
    data = site.report_json()
    assert data["totals"] == {
        "jobnets": 5,
        "failures": 2,
        "warnings": 1,
        "missed_runs": 1,
        "runs": 12,
        "incidents": 3,
        "open_incidents": 2,
        "downtime_seconds": 3600 + 47 * 3600 + 28 * 3600,
        "mttr_seconds": 3600,
    }
    days = {d["date"]: (d["failures"], d["warnings"], d["missed_runs"]) for d in data["per_day"]}
    assert list(days) == [f"2026-11-{d}" for d in range(22, 30)]
    assert days["2026-11-25"] == (1, 0, 0)
    assert days["2026-11-26"] == (0, 0, 1)
    assert days["2026-11-27"] == (1, 0, 0)
    assert days["2026-11-28"] == (0, 1, 0)
    assert days["2026-11-22"] == (0, 0, 0)
    order = [o["jobnet"] for o in data["top_offenders"]]
    assert order == [HOSTILE, BACKUP, MISSING, SUMMARY]  # problems, then downtime
    states = sorted((i["jobnet"], i["state"]) for i in data["incidents"])
    assert states == [(HOSTILE, "open"), (BACKUP, "resolved"), (SUMMARY, "open")]


def test_a_shorter_period_counts_less(site):
    data = site.report_json("2026-11-27")
    assert data["period"]["since"] == "2026-11-27T00:00:00+09:00"
    assert data["totals"]["failures"] == 1  # the hostile one; 11/25 is out
    assert _jobnets(data)[BACKUP]["runs"] == 3  # 11/27, 11/28, 11/29


def test_text_table(site):
    result = site.command("report", "--since", "7d", "--now", NOW)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("jp1notify report: 2026/11/22 09:00 - 2026/11/29 09:00")
    assert "2 failures, 1 warnings, 1 missed runs, 12 normal runs" in lines[1]
    assert "MTTR 1 h" in lines[1]
    header = next(line for line in lines if line.startswith("jobnet"))
    assert "usual end" in header and "latest end" in header
    backup = next(line for line in lines if line.startswith(BACKUP))
    assert re.search(r"AJSROOT1\s+1\s+0\s+0\s+7\s+1\s+1 h\s+1 h\s+1 h\s+02:01\s+02:30", backup)
    assert "11/25 1" in lines[-1] and "11/27 1" in lines[-1]


# -- the HTML page --------------------------------------------------------------------------


def test_html_page(site):
    page = site.dir / "weekly.html"
    result = site.command("report", "--since", "7d", "--now", NOW, "--html", str(page))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "report written to" in result.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text
    for chart in ("per-day", "offenders", "recover"):
        assert f'<svg class="chart" id="{chart}"' in text
    for jobnet in (BACKUP, ETL, SUMMARY, MISSING):
        assert jobnet in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text.lower()
    assert "http" not in text.lower()  # no URL, nothing fetched
    assert "<img" not in text and "@import" not in text and "url(" not in text
    assert [p.name for p in site.dir.iterdir() if p.name.endswith(".tmp")] == []


def test_html_to_an_unwritable_place_is_74(site):
    target = site.dir / "no-such-folder" / "weekly.html"
    result = site.command("report", "--now", NOW, "--html", str(target))
    assert result.returncode == 74
    assert "choose a writable file for --html" in result.stderr


# -- the Slack summary ----------------------------------------------------------------------


def test_post_to_slack(site):
    before = len(site.slack.payloads("weekly"))
    result = site.command("report", "--since", "7d", "--now", NOW, "--post", "weekly")
    assert result.returncode == 0, result.stderr
    assert "report posted to weekly" in result.stderr
    payloads = site.slack.payloads("weekly")
    assert len(payloads) == before + 1
    payload = payloads[-1]
    assert payload["text"] == "jp1notify report 2026/11/22 - 2026/11/29"
    attachment = payload["attachments"][0]
    assert attachment["color"] == "#D40E0D"  # failures and a missed run
    assert attachment["mrkdwn_in"] == ["text"]
    text = attachment["text"]
    assert "2 failures, 1 warnings, 1 missed runs" in text
    assert "MTTR 1 h" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: 1 failures" in text
    assert "<script>" not in json.dumps(payload)
    assert f"*Missed runs* {MISSING} (1)" in text


def test_post_refused_for_good_is_69(site):
    site.slack.script("weekly", fakeslack.ARCHIVED)
    try:
        result = site.command("report", "--now", NOW, "--post", "weekly")
    finally:
        site.slack.script("weekly", fakeslack.OK)
    assert result.returncode == 69
    assert "report NOT posted to weekly" in result.stderr
    assert "archived" in result.stderr


def test_post_without_its_webhook_is_78(site):
    env = site.env()
    del env["HOOK_WEEKLY"]
    result = run(["report", "--now", NOW, "--post", "weekly"], env)
    assert result.returncode == 78
    assert "destinations.weekly.webhook_url_env" in result.stderr
    assert "Traceback" not in result.stderr


def test_post_to_an_unknown_destination_is_64(site):
    result = site.command("report", "--now", NOW, "--post", "nowhere")
    assert result.returncode == 64
    assert "no such destination in the config (known: alerts, weekly)" in result.stderr


def test_post_refuses_other_kinds():
    config = make_config(MINIMAL)
    pinger = Destination("pinger", WebhookSource("env", "X", "url"), None, kind="healthchecks")
    config = config._replace(destinations={**config.destinations, "pinger": pinger})
    problem = report._post_problem(config, "pinger")
    assert problem is not None
    assert "kind healthchecks" in problem and "slack_webhook, slack_bot" in problem


# -- history --stats ------------------------------------------------------------------------


def test_history_stats_and_its_expect_snippet(site):
    result = site.command("history", "--stats", "--since", "7d", "--now", NOW)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    backup = next(line for line in out.splitlines() if line.startswith(BACKUP))
    assert re.search(r"AJSROOT1\s+7\s+02:01\s+02:30\s+1 h\s+1\s+03:00$", backup)
    snippet = out[out.index("# [[expect]] entries") :]
    parsed = tomllib.loads(snippet)["expect"]
    by = {e["units"][0]: e["by"] for e in parsed}
    assert by == {BACKUP: "03:00", ETL: "00:45"}  # 02:30 + 30 min; 00:05 + 30 min, up to 00:45
    assert all(e["destination"] == ["alerts"] for e in parsed)
    config = make_config(MINIMAL + snippet)  # validates as [[expect]] entries
    assert {e.by for e in config.expectations} == {(3, 0), (0, 45)}


def test_history_stats_json(site):
    result = site.command("history", "--stats", "--now", NOW, "--json", "--jobnet", "/PROD/**")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    jobnets = _jobnets(data)
    assert set(jobnets) == {BACKUP, ETL, SUMMARY, MISSING}  # --jobnet: not the hostile one
    assert jobnets[ETL]["suggested_by"] == "00:45"
    assert jobnets[SUMMARY]["suggested_by"] is None  # no normal end
    assert jobnets[BACKUP]["usual_duration_seconds"] == 3600


def test_no_store_yet_is_an_empty_period(tmp_path):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(language="ja"), encoding="utf-8")
    result = run(["report", "--now", NOW], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert result.returncode == 0, result.stderr
    assert "この期間の記録はありません" in result.stdout
    assert not (tmp_path / "data").exists()  # a report creates no store
    bad = run(["report", "--since", "last week"], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert bad.returncode == 64
    assert "--since 'last week'" in bad.stderr


# -- the pure parts -------------------------------------------------------------------------


def _at(hour: int, minute: int) -> float:
    return hour * 3600 + minute * 60


def test_clock_around_midnight_and_spread_over_the_day():
    midnight = report.clock([_at(23, 55), _at(0, 5), _at(0, 0), _at(23, 58), _at(0, 2)])
    assert (midnight.usual, midnight.latest, midnight.varies) == (0.0, _at(0, 5), False)
    hourly = report.clock([_at(h, 10) for h in range(24)])
    assert (hourly.usual, hourly.latest, hourly.varies) == (None, None, True)
    assert report.clock([]) == report.Clock(None, None, False)
    # one late rerun does not move the usual end, but is the latest
    late = report.clock([_at(2, 0)] * 6 + [_at(9, 0)])
    assert (late.usual, late.latest) == (_at(2, 0), _at(9, 0))


def test_suggested_by_rounds_up_and_wraps():
    def jobnet(latest: float, runs: int = 3) -> report.Jobnet:
        shown = report.Clock(latest, latest, False)
        return report.Jobnet(
            "/J", (), 0, 0, 0, runs, 0, 0, 0.0, None, None, shown, frozenset(), None
        )

    assert report.suggested_by(jobnet(_at(2, 31))) == "03:15"
    assert report.suggested_by(jobnet(_at(2, 30))) == "03:00"
    assert report.suggested_by(jobnet(_at(23, 50))) == "00:30"
    assert report.suggested_by(jobnet(_at(2, 0), runs=2)) is None


def test_labels_exist_in_both_languages():
    assert set(report.LABELS["en"]) == set(report.LABELS["ja"])
