"""Adversarial QA of issue 9 (watch, heartbeat, healthchecks, durations, report): each test is a
problem found by attacking the installed command, and stays as its regression test."""

from __future__ import annotations

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
