"""The outbox as operators meet it: real processes, one store, a real local fake Slack."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import fakeslack
from conftest import clean_env, event_env, jp1notify_command, run
from fakeslack import Answer, FakeSlack

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[http]
timeout_seconds = 1
[outbox]
data_dir = "{data_dir}"
max_wait_seconds = 3
digest_interval_seconds = 2
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""
UNIT = re.compile(r"/STORM/NET\d{3}")


def setup(tmp_path: Path, slack: FakeSlack, data_dir: str = "data"):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(data_dir=data_dir), encoding="utf-8")

    def env(**event: object) -> dict[str, str]:
        return clean_env(
            JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env(**event)
        )

    return config, env


def storm_event(i: int) -> dict[str, object]:
    return {
        "EVMSG": f"KAVS0262-E jobnet (AJSROOT1:/STORM/NET{i:03d}:@A{i}) ended",
        "EVTIME": "02:00:00",
    }


def units_per_post(slack: FakeSlack) -> list[set[str]]:
    return [set(UNIT.findall(json.dumps(p))) for p in slack.payloads("alerts")]


def test_duplicate_event_is_sent_once(tmp_path, slack):
    _, env = setup(tmp_path, slack)
    assert run([], env()).returncode == 0
    second = run([], env())
    assert second.returncode == 0 and "was already recorded at " in second.stderr
    assert "not sent again. Earlier copy: alerts: sent at " in second.stderr
    assert "(message 1). To send it again: jp1notify retry --id 1" in second.stderr
    assert len(slack.payloads("alerts")) == 1


def test_outage_then_flush_delivers_everything_once(tmp_path, slack):
    config, env = setup(tmp_path, slack)
    slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(4):
        result = run([], env(**storm_event(i)))
        assert result.returncode == 0, result.stderr
        assert "queued for alerts; last failure: Slack answered HTTP 500" in result.stderr
    assert slack.payloads("alerts") == []
    slack.script("alerts", fakeslack.OK)
    flushed = run(["flush"], env())
    assert flushed.returncode == 0, flushed.stderr
    assert "flush: 4 messages sent in 1 posts; 0 pending" in flushed.stderr
    assert units_per_post(slack) == [{f"/STORM/NET00{i}" for i in range(4)}]
    history = run(["history", "--json"], env())
    rows = [json.loads(line) for line in history.stdout.splitlines()]
    assert [r["messages"][0]["state"] for r in rows] == ["sent"] * 4
    assert rows[0]["messages"][0]["attempts"] >= 2  # tried during the outage, then sent


def test_history_table_and_filters(tmp_path, slack):
    _, env = setup(tmp_path, slack)
    slack.script("alerts", fakeslack.NOT_FOUND)
    dead = run([], env(**storm_event(1)))
    assert dead.returncode == 69 and "is dead (will not be retried)" in dead.stderr
    slack.script("alerts", fakeslack.OK)
    assert run([], env(**storm_event(2))).returncode == 0
    table = run(["history"], env()).stdout.splitlines()
    assert len(table) == 2
    assert (
        "/STORM/NET001 @A1 [incident #1]  alerts dead (1) #1: Slack answered HTTP 404 channel_not_found"
        in table[0]
    )
    assert table[1].endswith("/STORM/NET002 @A2 [incident #2]  alerts sent (1) #2")
    only_dead = run(["history", "--state", "dead"], env()).stdout.splitlines()
    assert len(only_dead) == 1 and "NET001" in only_dead[0]
    by_jobnet = run(["history", "--jobnet", "/STORM/NET002"], env()).stdout.splitlines()
    assert len(by_jobnet) == 1 and "NET002" in by_jobnet[0]
    assert run(["history", "--since", "1h"], env()).stdout.count("\n") == 2
    bad = run(["history", "--since", "yesterday"], env())
    assert bad.returncode == 64 and "use a duration (30m, 2h, 7d)" in bad.stderr


def test_corrupt_store_is_moved_aside_and_the_event_still_goes_out(tmp_path, slack):
    config, env = setup(tmp_path, slack)
    data = tmp_path / "data"
    data.mkdir()
    (data / "jp1notify.db").write_bytes(b"garbage" * 1000)
    result = run([], env())
    assert result.returncode == 0, result.stderr
    assert "the store" in result.stderr and "is damaged" in result.stderr
    assert "moved to" in result.stderr and "a new store was started" in result.stderr
    assert list(data.glob("jp1notify.db.corrupt-*"))
    assert len(slack.payloads("alerts")) == 1


def test_unusable_data_directory_falls_back_to_direct_delivery(tmp_path, slack):
    (tmp_path / "blocker").write_text("a file where the data folder should be")
    _, env = setup(tmp_path, slack, data_dir="blocker/data")
    result = run([], env())
    assert result.returncode == 0, result.stderr
    assert "the store is not usable" in result.stderr and "delivered to alerts" in result.stderr
    slack.script("alerts", Answer(500, "rollup_error"))
    lost = run([], env(**storm_event(5)))
    assert lost.returncode == 74
    assert "the event could be neither delivered nor stored" in lost.stderr


def test_flush_with_an_active_sender_leaves_it_alone(tmp_path, slack):
    _, env = setup(tmp_path, slack)
    slack.script("alerts", Answer(delay=3))
    sender = subprocess.Popen(jp1notify_command(), env=env(), stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # the sender holds the lease while Slack is slow
    flushed = run(["flush"], env())
    assert flushed.returncode == 0 and "is sending; it drains the queue" in flushed.stderr
    assert f":{sender.pid})" in flushed.stderr  # names the holder: host:pid
    assert sender.wait(timeout=30) == 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is a POSIX signal")
def test_killed_sender_loses_nothing(tmp_path, slack):
    """kill -9 between the POST and marking it sent: the message is sent again, never lost."""
    _, env = setup(tmp_path, slack)
    slack.script("alerts", Answer(delay=5), fakeslack.OK)
    victim = subprocess.Popen(jp1notify_command(), env=env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not slack.received and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    # Its lease expires (http timeout + 1 s grace + 40 s margin); then any jp1notify takes over.
    # Let that time pass in the store rather than on the test's clock:
    with sqlite3.connect(tmp_path / "data" / "jp1notify.db") as db:
        (holder, expires_at) = db.execute("SELECT holder, expires_at FROM lease").fetchone()
        assert holder.endswith(f":{victim.pid}") and expires_at > time.time()
        db.execute("UPDATE lease SET expires_at = ?", (time.time() - 1,))
    flushed = run(["flush"], env())
    assert flushed.returncode == 0, flushed.stderr
    assert "flush: 1 messages sent" in flushed.stderr
    assert len(slack.payloads("alerts")) == 2  # at least once: repeated, not lost


@pytest.mark.parametrize("count", [50])
def test_concurrent_processes_share_one_store_without_loss_or_duplicates(tmp_path, count):
    slack = FakeSlack(rate_interval=1.0)  # Slack's 1 message per second per webhook
    try:
        _, env = setup(tmp_path, slack)
        procs = [
            subprocess.Popen(
                jp1notify_command(), env=env(**storm_event(i)), stderr=subprocess.PIPE, text=True
            )
            for i in range(count)
        ]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        for code, stderr in results:
            assert code == 0, stderr
            assert "locked" not in stderr and "Traceback" not in stderr
        flushed = run(["flush"], env())  # whatever the last holder left queued
        assert flushed.returncode == 0, flushed.stderr
        posts = units_per_post(slack)
        seen = [unit for post in posts for unit in post]
        assert len(seen) == count and len(set(seen)) == count  # every event once, none twice
        assert len(posts) < count / 2  # storms become digests
    finally:
        slack.close()
