"""[heartbeat], the dead-man's switch: pinged at most once per interval by send and flush (the
claim is in the store), /fail while alerts are stuck, and never a changed exit code, whatever
the heartbeat URL does. Real processes and a real local ping server (fakeping.py); the interval
is tested with the clock given explicitly (the Store method, and `beat` called in-process)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from jp1notify.bounds import HEARTBEAT_GRACE, run_bound, sending_left
from jp1notify.config import load_config
from jp1notify.heartbeat import STUCK_AFTER, beat, fail_url
from jp1notify.notify import Invocation
from jp1notify.store import Store

from conftest import MINIMAL, clean_env, event_env, jp1notify_command, make_config, run
from fakeping import CHECK, FakePing
from fakeslack import NOT_FOUND, SECRET, SERVER_ERROR, FakeSlack

INTERVAL = 300.0  # interval_minutes = 5


@pytest.fixture
def ping():
    fake = FakePing()
    yield fake
    fake.close()


def heartbeat(url: str | None = None, **keys: object) -> str:
    """A [heartbeat] table: `url` written in the config unless a url_env/url_file key is given."""
    lines = ["[heartbeat]", *(f"{k} = {v!r}".replace("'", '"') for k, v in keys.items())]
    if url is not None:
        lines.append(f'url = "{url}"')
    lines += ["interval_minutes = 5", "timeout_seconds = 1"]
    return "\n".join(lines).replace("True", "true").replace("False", "false")


def write_config(tmp_path: Path, table: str = "") -> Path:
    path = tmp_path / "jp1notify.toml"
    path.write_text(
        f"""
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
[outbox]
data_dir = "data"
[log]
dir = "logs"
{table}
""",
        encoding="utf-8",
    )
    return path


def env_for(config: Path, slack: FakeSlack, **extra: str) -> dict[str, str]:
    return clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **extra, **event_env())


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ping/{CHECK}"


def assert_never_written(tmp_path: Path, secret: str, *outputs: str) -> None:
    """`secret` is in no output and in no file jp1notify wrote (logs, store, config cache)."""
    for text in outputs:
        assert secret not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (".toml", ".url")]
    assert any(p.name.startswith("jp1notify.db") for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path


def log_text(tmp_path: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*.log"))


# -- once per interval ---------------------------------------------------------------------


def test_three_sends_within_the_interval_ping_once_without_a_secret(tmp_path, slack, ping):
    config = write_config(tmp_path, heartbeat(ping.url))
    outputs = []
    for second in (1, 2, 3):
        done = run([], {**env_for(config, slack), "EVTIME": f"02:13:0{second}"})
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
    assert len(slack.payloads("alerts")) == 3
    [beat_] = ping.pings
    assert beat_.path == "" and beat_.content_type.startswith("text/plain")
    assert beat_.body.startswith("jp1notify ") and "outbox: 0 pending, 0 dead" in beat_.body
    assert SECRET not in beat_.body and CHECK not in beat_.body and "127.0.0.1" not in beat_.body
    assert "phase=heartbeat outcome=sent signal=success" in log_text(tmp_path)
    assert_never_written(tmp_path, CHECK, *outputs)


def test_of_many_processes_at_once_exactly_one_pings(tmp_path, slack, ping):
    config = write_config(tmp_path, heartbeat(ping.url))
    processes = [
        subprocess.Popen(
            jp1notify_command(),
            env={**env_for(config, slack), "EVTIME": f"03:00:{n:02d}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(8)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * 8
    assert slack.payloads("alerts")  # sent (in digests, as a storm is)
    assert len(ping.pings) == 1


def test_flush_pings_when_due_and_not_again_within_the_interval(tmp_path, slack, ping):
    config = write_config(tmp_path, heartbeat(ping.url))
    env = env_for(config, slack)
    assert run(["flush"], env).returncode == 0
    assert run(["flush"], env).returncode == 0
    assert len(ping.pings) == 1
    # An interval later (the recorded beat moved back by one: no waiting five minutes)
    db = sqlite3.connect(tmp_path / "data" / "jp1notify.db")
    with db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'heartbeat_at'", (repr(time.time() - INTERVAL),)
        )
    db.close()
    assert run(["flush"], env).returncode == 0
    assert len(ping.pings) == 2


def test_a_dry_run_does_not_ping(tmp_path, slack, ping):
    config = write_config(tmp_path, heartbeat(ping.url))
    assert run(["send", "--dry-run"], env_for(config, slack)).returncode == 0
    assert ping.pings == []


def test_the_claim_follows_the_clock_given(tmp_path):
    store = Store.open(tmp_path)
    try:
        assert store.claim_heartbeat(1000.0, INTERVAL, 2.0) == 1000.0 - INTERVAL  # the first
        assert store.claim_heartbeat(1000.0, INTERVAL, 2.0) is None
        assert store.claim_heartbeat(1299.0, INTERVAL, 2.0) is None
        assert store.claim_heartbeat(1300.0, INTERVAL, 2.0) == 1000.0  # since the beat before
        assert store.claim_heartbeat(1001.0, INTERVAL, 2.0) is None  # within an interval back
        assert store.claim_heartbeat(990.0 - INTERVAL, INTERVAL, 2.0) == 990.0 - 2 * INTERVAL
        # A failed ping hands its claim back: due again 60 s later, reporting since the same
        now = 5000.0
        since = store.claim_heartbeat(now, INTERVAL, 2.0)
        assert since == 990.0 - INTERVAL  # the beat before
        assert store.unclaim_heartbeat(now, now - INTERVAL + 60, since, 2.0)
        assert store.claim_heartbeat(now + 59, INTERVAL, 2.0) is None
        assert store.claim_heartbeat(now + 60, INTERVAL, 2.0) == since
        # ...but never over another process's newer claim
        assert not store.unclaim_heartbeat(now, now - INTERVAL + 60, since, 2.0)
        assert store.claim_heartbeat(now + 61, INTERVAL, 2.0) is None
    finally:
        store.close()


def test_beat_in_process_pings_at_the_interval_of_the_clock_given(tmp_path, ping):
    config = load_config(write_config(tmp_path, heartbeat(ping.url)))
    now = 1_900_000_000.0
    for offset in (0, 1, 299, 300, 301, 599, 600, -1000):
        beat(Invocation(config), config, {}, now + offset)
    # 0, 300, 600; and a clock stepped back by more than an interval
    assert len(ping.pings) == 4


# -- a heartbeat that fails changes nothing ----------------------------------------------


@pytest.mark.parametrize("answer, code", [(None, 0), (NOT_FOUND, 69)])
def test_an_unreachable_heartbeat_changes_no_exit_code(tmp_path, answer, code):
    slack = FakeSlack()
    if answer:
        slack.script("alerts", answer)
    try:
        plain = tmp_path / "plain"
        plain.mkdir()
        without = run([], env_for(write_config(plain), slack))
        config = write_config(tmp_path, heartbeat(url_env="HEARTBEAT_URL"))
        url = closed_port_url()
        done = run([], {**env_for(config, slack), "HEARTBEAT_URL": url})
    finally:
        slack.close()
    assert without.returncode == done.returncode == code, done.stderr
    assert "heartbeat" not in without.stderr
    assert "warning: the heartbeat ping failed (network error" in done.stderr
    assert "alerts are not affected" in done.stderr
    assert "phase=heartbeat outcome=failed" in log_text(tmp_path)
    assert_never_written(tmp_path, CHECK, done.stdout, done.stderr)


def test_a_heartbeat_answering_500_is_tried_again_only_after_a_minute(tmp_path, slack):
    failing = FakePing(status=500)
    try:
        config = write_config(tmp_path, heartbeat(failing.url))
        first = run([], env_for(config, slack))
        second = run([], {**env_for(config, slack), "EVTIME": "02:14:00"})
    finally:
        failing.close()
    assert first.returncode == second.returncode == 0
    assert "the heartbeat ping failed (HTTP 500" in first.stderr
    assert "after 60 s tries again" in first.stderr
    assert "heartbeat" not in second.stderr  # handed back: due again in 60 s, not at once
    assert len(failing.pings) == 1
    assert_never_written(tmp_path, CHECK, first.stdout, first.stderr)
    store = Store.open(tmp_path / "data")
    try:  # the next invocation a minute later pings again
        assert store.claim_heartbeat(time.time() + 61, INTERVAL, 2.0) is not None
    finally:
        store.close()


def test_a_hanging_heartbeat_costs_at_most_its_timeout(tmp_path, slack):
    hanging = FakePing(hang=300)
    try:
        config = write_config(tmp_path, heartbeat(hanging.url))
        # It would hang for five minutes: the subprocess timeout fails the test long before.
        done = run([], env_for(config, slack), timeout=60)
    finally:
        hanging.close()
    assert done.returncode == 0
    assert "the heartbeat ping failed (timed out (ReadTimeout))" in done.stderr
    assert len(hanging.pings) == 1
    assert_never_written(tmp_path, CHECK, done.stdout, done.stderr)


def test_an_unreadable_heartbeat_url_is_one_warning_per_interval(tmp_path, slack):
    config = write_config(tmp_path, heartbeat(url_file="missing.url"))
    first = run([], env_for(config, slack))
    second = run([], {**env_for(config, slack), "EVTIME": "02:14:00"})
    assert first.returncode == second.returncode == 0
    assert "warning: no heartbeat sent: heartbeat.url_file: cannot read" in first.stderr
    assert "heartbeat" not in second.stderr


# -- /fail: the notifier is alive, its alerts are stuck --------------------------------------


@pytest.mark.parametrize("report_stuck, path", [(True, "/fail"), (False, "")])
def test_a_dead_message_makes_the_beat_a_fail(tmp_path, ping, report_stuck, path):
    slack = FakeSlack()
    slack.script("alerts", NOT_FOUND)
    try:
        config = write_config(tmp_path, heartbeat(ping.url, report_stuck=report_stuck))
        done = run([], env_for(config, slack))
    finally:
        slack.close()
    assert done.returncode == 69
    [beat_] = ping.pings
    assert beat_.path == path
    assert "1 dead" in beat_.body and "died since the last heartbeat: 1" in beat_.body


def test_a_message_pending_for_15_minutes_makes_the_beat_a_fail(tmp_path, ping):
    slack = FakeSlack()
    slack.script("alerts", SERVER_ERROR)
    try:
        config_path = write_config(tmp_path, heartbeat(ping.url))
        assert run([], env_for(config_path, slack)).returncode == 0  # queued
    finally:
        slack.close()
    assert ping.pings[0].path == ""  # just queued: not stuck
    config = load_config(config_path)
    beat(Invocation(config), config, {}, time.time() + STUCK_AFTER + INTERVAL)
    assert ping.pings[1].path == "/fail"
    assert "1 pending (oldest waiting" in ping.pings[1].body and "stuck: 1" in ping.pings[1].body
    beat(Invocation(config), config, {}, time.time() + STUCK_AFTER + 2 * INTERVAL)
    assert len(ping.pings) == 3 and ping.pings[2].path == "/fail"  # still stuck


def test_the_fail_url_keeps_the_check_and_its_query():
    assert fail_url("https://hc-ping.com/abc-123") == "https://hc-ping.com/abc-123/fail"
    assert fail_url("https://hc-ping.com/key/nightly/?create=1") == (
        "https://hc-ping.com/key/nightly/fail?create=1"
    )


# -- check-config and the run bound ---------------------------------------------------------


def test_check_config_shows_the_heartbeat_never_its_url(tmp_path, slack, ping):
    config = write_config(tmp_path, heartbeat(ping.url))
    done = run(["check-config"], env_for(config, slack))
    assert done.returncode == 0
    assert "Heartbeat: url in the config (redacted) (readable)" in done.stdout
    assert "every 5 minutes" in done.stdout and "/fail while alerts are stuck" in done.stdout
    assert CHECK not in done.stdout + done.stderr
    assert ping.pings == []  # checking pings nothing


def test_check_config_says_when_the_heartbeat_url_cannot_be_read(tmp_path, slack):
    unset = write_config(tmp_path, heartbeat(url_env="HEARTBEAT_URL"))
    done = run(["check-config"], env_for(unset, slack))
    assert done.returncode == 0  # the JP1 job's environment may have it: a warning
    assert "(NOT readable here)" in done.stdout
    assert "heartbeat.url_env: environment variable HEARTBEAT_URL is not set" in done.stdout
    plain_http = write_config(tmp_path, heartbeat(f"http://hc.example.com/ping/{CHECK}"))
    done = run(["check-config"], env_for(plain_http, slack))
    assert done.returncode == 78
    assert (
        "heartbeat: the heartbeat URL from url in the config (redacted) must start" in done.stdout
    )
    assert CHECK not in done.stdout + done.stderr


def test_the_run_bound_leaves_room_for_the_heartbeat():
    plain = make_config(MINIMAL)
    config = make_config(MINIMAL + heartbeat(url_env="HEARTBEAT_URL"))
    assert run_bound(config) == run_bound(plain) + 1 + HEARTBEAT_GRACE
    for elapsed in (0.0, 35.0, 59.0):  # what a send that sends leaves for the heartbeat
        spent = elapsed + sending_left(config, elapsed) + 61 + 30 + 15
        assert spent + 1 + HEARTBEAT_GRACE <= run_bound(config)
