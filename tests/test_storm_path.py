"""The process of a storm that records its event and leaves (another process holds the sender
lease) pays for no more than it needs: it never imports httpx or the outbox, and the holder
still sends its event. The cost itself is a benchmark (benchmarks/startup.py), never a timed
test here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime

import pytest

from jp1notify.message import parse_event_time
from jp1notify.store import Store

from conftest import BIN, clean_env, event_env, jp1notify_command
from fakeslack import Answer

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""


def imported_modules(stderr: str) -> set[str]:
    """The modules `python -X importtime` reports as imported."""
    return {
        line.split("|")[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_a_process_finding_the_lease_held_records_and_leaves_without_httpx(tmp_path, slack):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG, encoding="utf-8")
    slack.script("alerts", Answer(delay=4))  # the first sender holds the lease while Slack is slow

    def env(path: str) -> dict[str, str]:
        message = f"KAVS0262-E ジョブネット(AJSROOT1:{path}:@A1)が異常終了しました"
        return clean_env(
            JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env(EVMSG=message)
        )

    holder = subprocess.Popen(jp1notify_command(), env=env("/STORM/FIRST"), text=True)
    deadline = time.monotonic() + 30
    while not slack.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slack.received, "the first process never posted"
    script = BIN / ("jp1notify-script.py" if os.name == "nt" else "jp1notify")
    leaver = subprocess.run(
        [sys.executable, "-X", "importtime", str(script)],
        env=env("/STORM/SECOND"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert leaver.returncode == 0, leaver.stderr
    assert "queued for alerts (another jp1notify process is sending)" in leaver.stderr
    modules = imported_modules(leaver.stderr)
    assert "jp1notify.store" in modules  # it did record its event
    assert not {"httpx", "httpcore", "jp1notify.outbox", "jp1notify.delivery", "ssl"} & modules
    assert holder.wait(timeout=60) == 0
    posted = "".join(str(p) for p in slack.payloads("alerts"))
    assert "/STORM/FIRST" in posted and "/STORM/SECOND" in posted  # the holder sent it


def test_the_lease_seen_held_is_the_one_take_lease_would_not_take(tmp_path):
    """lease_held is take_lease's own read: an expired claim, or one further ahead than any
    holder can set (a clock stepped back), is nobody's; a live one names its holder."""
    store = Store.open(tmp_path)
    try:
        now = time.time()
        assert store.lease_held(now, 100) is None
        assert store.take_lease("host:1", now, 30, 100)
        assert store.lease_held(now, 100) == "host:1"
        assert not store.take_lease("host:2", now, 30, 100)
        assert store.lease_held(now + 31, 100) is None  # expired
        assert store.take_lease("host:2", now + 31, 30, 100)
        assert store.lease_held(now - 200, 100) is None  # too far ahead: void
        assert store.take_lease("host:3", now - 200, 30, 100)
    finally:
        store.close()


@pytest.mark.parametrize(
    "text",
    [
        "2026/11/22 02:13:05",
        "2026/1/2 3:4:5",
        "2026/11/22  02:13:05",
        "2026/11/22\t02:13:05",
        "２０２６/11/22 02:13:05",  # full-width digits: strptime's \d takes them
        "2026/02/29 01:00:00",
        "2024/02/29 01:00:00",
        "2026/11/22 24:00:00",
        "2026/11/22 02:13:60",
        "2026/11/22 02:60:00",
        "26/11/22 02:13:05",
        "2026/011/22 02:13:05",
        "2026/11/22 02:13:05 ",
        "2026/11/22 2:3:4x",
        "2026-11-22 02:13:05",
        "2026/11/22 02:13",
        "20261/11/22 02:13:05",
    ],
)
def test_event_time_is_read_as_strptime_reads_it(text):
    date, _, clock = text.partition(" ")
    try:
        expected = datetime.strptime(f"{date} {clock}", "%Y/%m/%d %H:%M:%S")
    except ValueError:
        expected = None
    parsed = parse_event_time(date, clock, None)
    assert (parsed.replace(tzinfo=None) if parsed else None) == expected


BACKLOG_CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
digest_interval_seconds = 60
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""


def test_a_backlog_larger_than_one_digest_goes_out_at_slacks_pace(tmp_path, capsys):
    """digest_interval_seconds gathers a storm in progress into few digests; a backlog that
    one digest cannot carry is sent at Slack's pace, not an interval apart (here 60 s, longer
    than a sender waits: the old pacing left the rest queued after the first digest)."""
    import sqlite3

    from jp1notify.cli import main

    from fakeslack import FakeSlack

    config = tmp_path / "jp1notify.toml"
    config.write_text(BACKLOG_CONFIG, encoding="utf-8")
    slack = FakeSlack(rate_interval=1.0)
    try:
        base = clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"))
        db_path = tmp_path / "data" / "jp1notify.db"
        for i in range(260):  # recorded while another process holds the lease: a storm's queue
            message = (
                f"KAVS0262-E ジョブネット(AJSROOT1:/BACKLOG/NET{i:03d}:@A{i})が異常終了しました"
            )
            assert main([], {**base, **event_env(EVMSG=message)}) == 0
            if i == 0:
                with sqlite3.connect(db_path) as db:
                    db.execute(
                        "UPDATE lease SET holder = 'other:1', expires_at = ?", (time.time() + 30,)
                    )
        capsys.readouterr()
        with sqlite3.connect(db_path) as db:
            assert (
                db.execute("SELECT COUNT(*) FROM messages WHERE state = 'pending'").fetchone()[0]
                == 259
            )
            db.execute("UPDATE lease SET holder = NULL, expires_at = 0")
        flushed = subprocess.run(
            [*jp1notify_command(), "flush"], env=base, capture_output=True, text=True, timeout=120
        )
        assert flushed.returncode == 0, flushed.stderr
        posted = "".join(str(p) for p in slack.payloads("alerts"))
        assert all(f"/BACKLOG/NET{i:03d}" in posted for i in range(260))
        assert 2 < len(slack.received) <= 4  # the first event alone, then two or three digests
        assert slack.rate_limited == 0
    finally:
        slack.close()
