"""Adversarial QA of issue 9 (watch, heartbeat, healthchecks, durations, report): each test is a
problem found by attacking the installed command, and stays as its regression test."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_watch import jobnet_event

import fakeslack
from conftest import clean_env, run

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
[outbox]
data_dir = "data"
max_wait_seconds = 2
{extra}
"""

EXPECT = """
[[expect]]
name = "nightly load"
units = ["/PROD/NIGHTLY/LOAD"]
by = "06:00"
destination = "alerts"
"""


class Site:
    """A config in tmp_path (store in tmp_path/data) with one webhook destination, the fake."""

    def __init__(self, tmp_path: Path, hook: fakeslack.FakeSlack, extra: str = "") -> None:
        self.dir = tmp_path
        self.hook = hook
        self.config = tmp_path / "jp1notify.toml"
        self.configure(extra)

    def configure(self, extra: str) -> None:
        self.config.write_text(CONFIG.format(extra=extra), encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(JP1NOTIFY_CONFIG=str(self.config), HOOK=self.hook.url("alerts"), **extra)

    def send(self, kind: str, path: str, date: str, time: str, exec_id: str = "@A100") -> None:
        result = run([], self.env(**jobnet_event(kind, path, exec_id, date, time)))
        assert result.returncode == 0, result.stderr

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = run(list(args), self.env())
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout, result.stderr

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.dir / "data" / "jp1notify.db") as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def site(tmp_path: Path):
    hook = fakeslack.FakeSlack()
    yield Site(tmp_path, hook, EXPECT)
    hook.close()


# -- --now / --since far from today ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["watch", "--now", "0001-01-01T00:00"],
        ["watch", "--now", "0001-01-03T00:00", "--dry-run"],
        ["watch", "--now", "9999-12-31T23:59-12:00"],
        ["report", "--now", "0001-01-03T00:00"],
        ["report", "--since", "9999999d"],
        ["history", "--stats", "--since", "0001-01-01"],
    ],
)
def test_a_moment_out_of_range_is_a_usage_error_not_a_traceback(site, args):
    code, _, err = site.cli(*args)
    assert code == 64, err
    assert "between the years 2000 and 9000" in err


# -- durations: execution IDs come back, events arrive out of order --------------------------------


@pytest.fixture
def runs_site(tmp_path: Path):
    from test_durations import Site as DurationSite

    slack = fakeslack.FakeSlack()
    yield DurationSite(tmp_path, slack)
    slack.close()


def test_a_reused_execution_id_is_not_measured_from_an_earlier_runs_start(runs_site):
    """JP1 execution IDs cycle, and each event is its own process (a start may be recorded after
    its end): a normal end whose own start is not recorded (yet) was measured from the start of
    an earlier run with the same ID, weeks before, flagged slow and raised to a warning, and its
    weeks-long "duration" then made every later run look fast."""
    runs_site.configure(quiet_ends=False)
    runs_site.history(3)  # @A1..@A3, 10 min each, 18th to 20th
    runs_site.send("4102", "@A9", "2026/10/01", "02:00:00")  # an old run of @A9 ...
    runs_site.send("4104", "@A9", "2026/10/01", "02:05:00")  # ... that ended abnormally
    runs_site.send("4103", "@A1", "2026/11/22", "02:10:00")  # @A1 again: its start not seen
    runs_site.send("4103", "@A9", "2026/11/23", "02:10:00")  # @A9 again, its start arrives late
    runs_site.send("4102", "@A9", "2026/11/23", "02:00:00")
    runs_site.send("4102", "@A7", "2026/11/24", "02:20:00")  # a clock step: start after end
    runs_site.send("4103", "@A7", "2026/11/24", "02:10:00")
    assert runs_site.posts("warn") == []  # none raised to a warning
    with runs_site.db() as db:
        ends = db.execute(
            "SELECT exec_id, level, duration FROM events WHERE event_id = '4103' ORDER BY id"
        ).fetchall()
    measured = [("@A1", "success", 600.0), ("@A2", "success", 600.0), ("@A3", "success", 600.0)]
    assert ends == [*measured, ("@A1", "success", None), ("@A9", "success", None)] + [
        ("@A7", "success", None)
    ]
    assert not any("Run time" in json.dumps(p) for p in runs_site.posts("all")[-3:])


# -- watch -----------------------------------------------------------------------------------------


def test_watches_at_once_post_one_alert_and_none_says_it_was_not_recorded(site):
    """Task Scheduler starts a watch while the last one still runs: of several at once exactly
    one records the alert; the others said "alert NOT recorded" (it was, by the first)."""
    import subprocess

    from conftest import jp1notify_command

    procs = [
        subprocess.Popen(
            [*jp1notify_command(), "watch", "--now", "2026-11-24T06:05"],
            env=site.env(),
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for _ in range(6)
    ]
    said = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    assert [code for _, code in said] == [0] * 6
    lines = [line for err, _ in said for line in err.splitlines() if "MISSED" in line]
    assert len(lines) == 6, said
    assert sum(line.endswith("alert recorded") for line in lines) == 1, lines
    assert all(line.endswith(("alert recorded", "alerted already")) for line in lines), lines
    assert len(site.hook.payloads("alerts")) == 1
    assert len(site.rows("SELECT 1 FROM events WHERE event_id = 'MISSED'")) == 1


# -- report ----------------------------------------------------------------------------------------


def test_the_expect_snippet_of_a_hostile_jobnet_name_is_valid_toml_for_that_jobnet(site):
    """A unit name is input JP1 took from anyone: one with a DEL character made `history
    --stats` suggest an [[expect]] entry that no TOML parser reads (TOML forbids a raw DEL)."""
    import tomllib

    from jp1notify.patterns import compile_unit_pattern

    jobnet = '/PROD/A\x7fB"\\</td>\tC'
    for day in (21, 22, 23):
        site.send("normal", jobnet, f"2026/11/{day}", "05:00:00")
    code, out, err = site.cli("history", "--stats", "--now", "2026-11-24T00:00")
    assert code == 0, err
    (entry,) = tomllib.loads(out[out.index("\n[[expect]]\n") :])["expect"]
    assert entry["units"] == [jobnet] and entry["by"] == "05:30"
    assert compile_unit_pattern(entry["units"][0]).matches(jobnet)
