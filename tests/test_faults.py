"""Faults a real site sees, replayed against the installed command and a local server that
misbehaves on purpose: each must end with every healthy alert delivered, or fail loudly with a
documented exit code and a message that says what to do; never a traceback, a hang or a secret."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jp1notify.store import SCHEMA_VERSION

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
data_dir = "data"
max_wait_seconds = 3
drain_seconds = 20
digest_interval_seconds = 1
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[destinations.backup]
webhook_url_env = "HOOK_BACKUP"
[[routes]]
destination = "alerts"
continue = true
[[routes]]
destination = "backup"
"""
ONE_DESTINATION = CONFIG.split("[destinations.backup]")[0] + '[[routes]]\ndestination = "alerts"\n'


class Site:
    """A config in tmp_path, the fake Slack, and helpers to run jp1notify against them."""

    def __init__(self, tmp_path: Path, slack: FakeSlack, config: str = ONE_DESTINATION) -> None:
        self.dir = tmp_path
        self.slack = slack
        self.config = tmp_path / "jp1notify.toml"
        self.config.write_text(config, encoding="utf-8")
        self.hooks = {"HOOK": slack.url("alerts"), "HOOK_BACKUP": slack.url("backup")}

    def env(self, **event: object) -> dict[str, str]:
        return clean_env(JP1NOTIFY_CONFIG=str(self.config), **self.hooks, **event_env(**event))

    def send(self, i: int = 0, **event: object) -> subprocess.CompletedProcess[str]:
        values = {
            "EVMSG": f"KAVS0262-E jobnet (AJSROOT1:/SITE/NET{i:03d}:@A{i}) ended abnormally",
            **event,
        }
        result = run([], self.env(**values))
        self.assert_clean(result)
        return result

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run(list(args), self.env())
        self.assert_clean(result)
        return result

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "data" / "jp1notify.db")

    def states(self) -> dict[str, int]:
        with self.db() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state"))

    def assert_clean(self, result: subprocess.CompletedProcess[str]) -> None:
        """No traceback, and no webhook secret in any output, log or stored byte."""
        assert "Traceback" not in result.stdout + result.stderr
        written = [result.stdout.encode(), result.stderr.encode()]
        for path in self.dir.rglob("*"):
            if path.is_file():
                written.append(path.read_bytes())
        for blob in written:
            assert fakeslack.SECRET.encode() not in blob


@pytest.fixture
def site(tmp_path: Path, slack: FakeSlack) -> Site:
    return Site(tmp_path, slack)


def units(slack: FakeSlack, name: str = "alerts") -> list[str]:
    import re

    return sorted(set(re.findall(r"/SITE/NET\d{3}", json.dumps(slack.payloads(name)))))


# -- 1. clock steps ------------------------------------------------------------------------------


def test_instants_stored_by_a_clock_a_day_ahead_do_not_hold_the_queue(site):
    """A process that ran with a clock a day ahead (or a clock that stepped back) left pacing,
    backoff, a message's own wait and the sender lease a day in the future."""
    site.slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(2):
        assert site.send(i).returncode == 0
    tomorrow = time.time() + 86400
    with site.db() as db:
        db.execute("UPDATE destinations SET next_send_at = ?, backoff_until = ?", (tomorrow,) * 2)
        db.execute("UPDATE messages SET not_before = ?", (tomorrow,))
        db.execute("UPDATE lease SET holder = 'otherhost:4242', expires_at = ?", (tomorrow,))
    site.slack.script("alerts", fakeslack.OK)
    result = site.send(2)
    assert result.returncode == 0, result.stderr
    assert "delivered to alerts" in result.stderr
    assert units(site.slack) == ["/SITE/NET000", "/SITE/NET001", "/SITE/NET002"]
    assert site.states() == {"sent": 3}


def test_flush_is_not_held_by_a_future_retry_after(site):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    assert site.send().returncode == 0
    with site.db() as db:
        db.execute("UPDATE destinations SET next_send_at = ?", (time.time() + 3600,))
    site.slack.script("alerts", fakeslack.OK)
    flushed = site.command("flush")
    assert flushed.returncode == 0 and "1 messages sent" in flushed.stderr


# -- 2. one bad URL must not stop the others -----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "https://hooks..slack.com/services/T0/B0/x",
        "https://hooks.slack.com:99999/services/T0/B0/x",
        "https://hooks.slack.com:abc/services/T0/B0/x",
        "https://hooks.slack.com/services/T0/B0/x\x07y",
        "https://xn--/services/T0/B0/x",
    ],
)
def test_an_unusable_webhook_url_keeps_its_messages_and_the_others_flow(tmp_path, slack, bad):
    site = Site(tmp_path, slack, CONFIG)
    site.hooks["HOOK"] = bad
    result = site.send()
    assert result.returncode == 78, result.stderr
    assert "destinations.alerts" in result.stderr and "stay queued" in result.stderr
    assert units(slack, "backup") == ["/SITE/NET000"]
    assert site.states() == {"pending": 1, "sent": 1}
    flushed = site.command("flush")
    assert flushed.returncode == 78 and "destinations.alerts" in flushed.stderr
    site.hooks["HOOK"] = slack.url("alerts")  # fixed: it goes out
    assert site.command("flush").returncode == 0
    assert units(slack) == ["/SITE/NET000"] and site.states() == {"sent": 2}


# -- 3. answers that are not Slack's are not Slack's refusal -------------------------------------

NOT_SLACK = [
    Answer(301, "", {"Location": "https://hooks.example.net/moved"}),
    Answer(302, "", {"Location": "http://captive.example/login?from={url}"}),
    Answer(403, "<html><head><title>Blocked by policy</title></head><body>{url}</body></html>"),
    Answer(407, "<html>Proxy Authentication Required</html>"),
    Answer(404, "<html><body>Not Found</body></html>"),
    Answer(400, "Bad Request: {url}"),
]


@pytest.mark.parametrize("answer", NOT_SLACK, ids=lambda a: str(a.status))
def test_answers_that_are_not_slacks_keep_the_message_queued_with_the_reason(site, answer):
    site.slack.script("alerts", answer)
    result = site.send()
    assert result.returncode == 0, result.stderr
    assert "queued for alerts" in result.stderr and f"HTTP {answer.status}" in result.stderr
    assert site.states() == {"pending": 1}
    pending = site.command("history", "--state", "pending")
    assert f"HTTP {answer.status}" in pending.stdout
    site.slack.script("alerts", fakeslack.OK)
    assert site.command("flush").returncode == 0
    assert site.states() == {"sent": 1}


# -- 4. one refused message must not bury its digest ---------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "code", "poisoned_state"),
    [
        (fakeslack.INVALID_PAYLOAD, 69, "dead"),  # Slack's refusal of the payload: only it dies
        (Answer(403, "<html><title>DLP</title></html>"), 0, "pending"),  # a filter: it waits
    ],
    ids=["slack", "filter"],
)
def test_a_refused_digest_is_split_until_only_the_culprit_is_left(
    site, refusal, code, poisoned_state
):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(12):
        extra = (
            {"EVMSG": f"KAVS0262-E jobnet (AJSROOT1:/SITE/NET{i:03d}:@A{i}) POISON"}
            if i == 7
            else {}
        )
        assert site.send(i, **extra).returncode == 0
    site.slack.script("alerts", fakeslack.OK)
    site.slack.refuse("alerts", "POISON", refusal)
    flushed = site.command("flush")
    assert flushed.returncode == code, flushed.stderr
    assert units(site.slack) == [f"/SITE/NET{i:03d}" for i in range(12) if i != 7]
    assert site.states() == {"sent": 11, poisoned_state: 1}
    with site.db() as db:
        (unit,) = db.execute(
            "SELECT e.unit FROM messages m JOIN events e ON e.id = m.event_row"
            " WHERE m.state != 'sent'"
        ).fetchone()
    assert unit == "/SITE/NET007"


# -- 5. bounded time ---------------------------------------------------------------------------


def test_a_server_trickling_header_bytes_cannot_hold_the_process(tmp_path, slack):
    site = Site(tmp_path, slack, ONE_DESTINATION.replace("drain_seconds = 20", "drain_seconds = 5"))
    site.slack.script("alerts", Answer(trickle=0.3))
    started = time.monotonic()
    result = run([], site.env(), timeout=120)  # the run's documented bound: see bounds.run_bound
    assert result.returncode == 0, result.stderr
    assert "no complete answer within" in result.stderr and "queued for alerts" in result.stderr
    assert time.monotonic() - started < 111  # inside its bound: 5 + 61 + 30 + 15 s
    site.slack.script("alerts", fakeslack.OK)
    assert site.command("flush").returncode == 0 and site.states() == {"sent": 1}


def test_a_slow_slack_costs_at_most_one_duplicate(site):
    """Slack posts the message, then answers after the timeout: the next attempt waits longer."""
    site.slack.script("alerts", Answer(delay=2.5))
    result = site.send()
    assert result.returncode == 0, result.stderr
    assert "delivered to alerts" in result.stderr
    assert len(site.slack.payloads("alerts")) == 2  # the first copy and one duplicate
    assert site.states() == {"sent": 1}


def test_the_lease_holder_checks_it_still_holds_the_lease(site):
    """A holder whose lease another process took over stops at once instead of posting the
    same messages again."""
    site.slack.script("alerts", Answer(500, "rollup_error"))
    assert site.send(0).returncode == 0
    with site.db() as db:  # as if this sender's lease expired and another one took over
        db.execute(
            "CREATE TRIGGER steal AFTER UPDATE OF expires_at ON lease WHEN NEW.holder "
            "NOT LIKE 'thief%' BEGIN UPDATE lease SET holder = 'thief:1'; END"
        )
    site.slack.script("alerts", fakeslack.OK)
    result = site.send(1)
    assert result.returncode == 0, result.stderr
    assert site.slack.payloads("alerts") == [] and site.states() == {"pending": 2}


# -- 6. the store: damage inside, a lock held elsewhere, a newer version -------------------------


def fill_history(site: Site) -> None:
    """Old events enough to span many pages, all in the main file (no WAL left)."""
    with site.db() as db:
        db.executemany(
            "INSERT INTO events(dedup_key, received_at, level, scope, outcome, event_json)"
            " VALUES (?, 0, 'info', 'other', 'ignored', ?)",
            [(f"old{i}", "x" * 300) for i in range(2000)],
        )
    with site.db() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_damage_inside_the_store_is_found_moved_aside_and_pending_messages_carried_over(site):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(3):
        assert site.send(i).returncode == 0
    fill_history(site)
    path = site.dir / "data" / "jp1notify.db"
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 40, page * 60):  # clobber pages in the middle of the events table
        data[offset] = 0x5A
    path.write_bytes(bytes(data))
    site.slack.script("alerts", fakeslack.OK)
    flushed = site.command("flush")  # reads the whole file: finds the damage
    assert flushed.returncode == 0, flushed.stderr
    assert "is damaged" in flushed.stderr and "a new store was started" in flushed.stderr
    assert "3 pending messages carried over" in flushed.stderr
    assert units(site.slack) == ["/SITE/NET000", "/SITE/NET001", "/SITE/NET002"]
    assert list((site.dir / "data").glob("jp1notify.db.corrupt-*"))
    assert site.send(3).returncode == 0 and site.states() == {"sent": 4}
    history = site.command("history")
    assert history.returncode == 0 and "/SITE/NET003" in history.stdout


def test_damage_met_by_send_is_recovered_and_the_event_goes_out(site):
    assert site.send(0).returncode == 0
    fill_history(site)
    path = site.dir / "data" / "jp1notify.db"
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data)):  # every page after the schema: the indexes too
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    result = site.send(1)
    assert result.returncode == 0, result.stderr
    assert "is damaged" in result.stderr and "delivered to alerts" in result.stderr
    assert "/SITE/NET001" in units(site.slack)
    again = site.send(2)
    assert again.returncode == 0 and "damaged" not in again.stderr


def test_a_store_locked_by_another_process_gives_a_clear_message_and_exit_75(site):
    """flush gives up after one busy timeout (exit 75, said); send waits longer to record its
    event (bounds.RECORD_TRIES): a lock released after the first timeout loses nothing and needs
    no direct send."""
    assert site.send(0).returncode == 0
    holder = site.db()
    holder.isolation_level = None
    holder.execute("BEGIN EXCLUSIVE")  # a tool holding the file, longer than the busy timeout
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def flush() -> None:
        results["flush"] = site.command("flush")

    def send() -> None:
        results["send"] = site.send(1)

    threads = [threading.Thread(target=flush), threading.Thread(target=send)]
    for thread in threads:
        thread.start()
    threads[0].join()
    time.sleep(12)  # past the send's first busy timeout too, even if it started slowly
    holder.execute("ROLLBACK")
    holder.close()
    threads[1].join()
    assert results["flush"].returncode == 75
    assert "locked by another process" in results["flush"].stderr
    assert results["send"].returncode == 0, results["send"].stderr
    assert "locked" not in results["send"].stderr  # recorded on its second wait
    # with this config's bounds, nothing of its run bound is left to send for others
    assert "queued for alerts" in results["send"].stderr
    log = "".join(p.read_text(encoding="utf-8") for p in (site.dir / "logs").glob("*.log"))
    assert "outcome=busy" in log
    assert site.command("flush").returncode == 0
    assert site.states() == {"sent": 2}


def test_a_store_written_by_a_newer_version_is_refused_never_downgraded(site):
    assert site.send(0).returncode == 0
    with site.db() as db:
        db.execute("PRAGMA user_version = 99")
    result = site.send(1)
    assert result.returncode == 0  # the alert goes out directly
    assert "written by a newer jp1notify" in result.stderr
    assert "delivered to alerts" in result.stderr
    flushed = site.command("flush")
    assert flushed.returncode == 74 and "written by a newer jp1notify" in flushed.stderr
    history = site.command("history")
    assert history.returncode == 74 and "newer jp1notify" in history.stderr
    checked = site.command("check-config")
    assert checked.returncode == 78 and "newer jp1notify" in checked.stdout
    with site.db() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99


V1_TABLES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    event_row INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    destination TEXT NOT NULL, route TEXT NOT NULL, mentions TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at REAL NOT NULL,
    sent_at REAL, post_id INTEGER);
CREATE TABLE destinations (
    name TEXT PRIMARY KEY, next_send_at REAL NOT NULL DEFAULT 0,
    backoff_until REAL NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT);
"""


def test_a_store_of_the_previous_schema_is_upgraded_in_place(site):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    assert site.send(0).returncode == 0
    with site.db() as db:  # the two tables as jp1notify 0.1.0 (schema 1) made them
        kept = db.execute(
            "SELECT id, event_row, destination, route, mentions, state, attempts, last_error,"
            " created_at, sent_at, post_id FROM messages"
        ).fetchall()
        db.execute("DROP TABLE messages")
        db.execute("DROP TABLE destinations")
        db.executescript(V1_TABLES)
        db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?)", kept)
        db.execute("PRAGMA user_version = 1")
    site.slack.script("alerts", fakeslack.OK)
    assert site.send(1).returncode == 0
    assert site.states() == {"sent": 2}  # the queued one too
    with site.db() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# -- 7. secrets echoed back by a server ----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Answer(400, "invalid_payload {url}"),
        Answer(500, '{"ok":false,"error":"internal","url":"{url}"}'),
        Answer(302, "", {"Location": "{url}?again"}),
        Answer(404, "no such hook: {url}"),
    ],
    ids=["400", "500", "302", "404"],
)
def test_a_secret_echoed_by_the_server_is_redacted_everywhere(site, answer):
    site.slack.script("alerts", answer)
    result = site.send()  # assert_clean: stderr, logs, the store bytes
    assert result.returncode in (0, 69), result.stderr
    history = site.command("history", "--json")  # assert_clean covers its output
    assert history.returncode == 0


# -- 9, 10. renamed destinations, dead letters ---------------------------------------------------


def test_a_renamed_destination_keeps_its_backlog_and_it_can_be_moved(site):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    assert site.send(0).returncode == 0
    site.config.write_text(
        site.config.read_text()
        .replace("[destinations.alerts]", "[destinations.ops]")
        .replace('destination = "alerts"', 'destination = "ops"')
    )
    site.slack.script("alerts", fakeslack.OK)
    result = site.send(1)
    assert result.returncode == 78
    assert "wait for destination 'alerts', which is no longer in the config" in result.stderr
    assert "jp1notify retry --from alerts --to" in result.stderr
    assert site.states() == {"pending": 1, "sent": 1}
    checked = site.command("check-config")
    assert "1 messages wait for destination 'alerts', which is not in this config" in checked.stdout
    moved = site.command("retry", "--from", "alerts", "--to", "ops")
    assert moved.returncode == 0, moved.stderr
    assert "1 message put back in the queue for destination ops" in moved.stderr
    assert site.states() == {"sent": 2}


def test_dead_letters_come_back_with_retry(site):
    site.slack.script("alerts", fakeslack.NOT_FOUND)
    dead = site.send(0)
    assert dead.returncode == 69 and "jp1notify retry --id 1" in dead.stderr
    assert site.send(1).returncode == 69
    duplicate = site.send(0)
    assert "Earlier copy: alerts: dead" in duplicate.stderr and "retry --id 1" in duplicate.stderr
    site.slack.script("alerts", fakeslack.OK)  # the webhook was fixed
    one = site.command("retry", "--id", "1")
    assert one.returncode == 0 and site.states() == {"sent": 1, "dead": 1}
    rest = site.command("retry", "--all")
    assert rest.returncode == 0 and site.states() == {"sent": 2}
    assert units(site.slack) == ["/SITE/NET000", "/SITE/NET001"]
    nothing = site.command("retry", "--all")
    assert nothing.returncode == 0 and "no message matched" in nothing.stderr
    usage = site.command("retry")
    assert usage.returncode == 64 and "--all" in usage.stderr


# -- 11, 12. dedup without facts, absurd Retry-After ---------------------------------------------


def test_two_failures_without_date_time_or_exec_id_are_both_sent(site):
    message = "KAVS0262-E jobnet (AJSROOT1:/SITE/NODATE) ended abnormally"
    for _ in range(2):
        result = run([], site.env(EVMSG=message, EVDATE=None, EVTIME=None))
        assert result.returncode == 0, result.stderr
        assert "already recorded" not in result.stderr
    assert len(site.slack.payloads("alerts")) == 2


def test_an_absurd_retry_after_is_capped(site):
    site.slack.script("alerts", Answer(429, "", {"Retry-After": "86400"}))
    started = time.time()
    assert site.send().returncode == 0
    with site.db() as db:
        (next_send_at,) = db.execute("SELECT next_send_at FROM destinations").fetchone()
    assert next_send_at <= started + 61 + 5  # Slack's own are seconds: at most 60 s


# -- 14. command-line edges ----------------------------------------------------------------------


def test_history_into_a_closed_pipe_or_a_full_disk(site):
    assert site.send(0).returncode == 0
    with site.db() as db:  # more history than a pipe buffer holds
        db.executemany(
            "INSERT INTO events(dedup_key, received_at, unit, level, scope, outcome, event_json)"
            " VALUES (?, ?, ?, 'info', 'other', 'ignored', '{}')",
            [(f"k{i}", time.time(), f"/SITE/MANY/NET{i:05d}") for i in range(3000)],
        )
    command = [*jp1notify_command(), "history", "--limit", "5000"]
    reader = subprocess.Popen(
        command, env=site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.read(10)
    reader.stdout.close()  # `history | head -c 10`
    assert reader.wait(timeout=30) == 0
    assert b"Traceback" not in reader.stderr.read()
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                command, env=site.env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=30
            )
        assert done.returncode == 74 and "cannot write the output" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("limit", ["1e20", "100000000000000000000", "-1", "0", "many"])
def test_absurd_limits_are_usage_errors(site, limit):
    result = site.command("history", "--limit", limit)
    assert result.returncode == 64 and "--limit" in result.stderr


# -- found in review: recovery races, housekeeping, unrenderable messages, HTTPS setup -----------


def test_a_failed_daily_cleanup_never_sends_a_recorded_event_a_second_way(site):
    assert site.send(0).returncode == 0
    with site.db() as db:  # the next day's clean-up fails (as on a full disk)
        db.execute("UPDATE meta SET value = '2000-01-01' WHERE key = 'pruned_on'")
        db.execute(
            "CREATE TRIGGER full BEFORE UPDATE ON meta BEGIN "
            "SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    result = site.send(1)
    assert result.returncode == 0, result.stderr
    assert "daily clean-up of the store failed" in result.stderr
    assert "delivered to alerts" in result.stderr and "without it" not in result.stderr
    assert site.command("flush").returncode == 0
    assert len(site.slack.payloads("alerts")) == 2  # one post per event, none twice


@pytest.mark.parametrize(
    "garble",
    [
        "UPDATE events SET event_json = '{\"unit\": null}' WHERE unit = '/SITE/NET000'",
        "UPDATE events SET event_json = substr(event_json, 1, 40) WHERE unit = '/SITE/NET000'",
        "UPDATE events SET event_json = '{\"x\": 1}' WHERE unit = '/SITE/NET000'",
        "UPDATE messages SET mentions = 'xx' WHERE id = 1",
    ],
    ids=["null-unit", "cut-json", "other-json", "mentions"],
)
def test_a_message_that_cannot_be_rendered_dies_alone_and_the_others_go_out(site, garble):
    """Damage inside a row's text, which SQLite's own check does not see."""
    site.slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(2):
        assert site.send(i).returncode == 0
    with site.db() as db:
        db.execute(garble)
    site.slack.script("alerts", fakeslack.OK)
    result = site.command("flush")
    assert result.returncode == 70, result.stderr
    assert "cannot render it" in result.stderr and "please report" in result.stderr
    assert units(site.slack) == ["/SITE/NET001"]
    assert site.states() == {"dead": 1, "sent": 1}


def test_check_config_refuses_a_ca_file_that_is_not_a_certificate(site):
    (site.dir / "ca.pem").write_text("not a certificate")
    site.config.write_text(site.config.read_text().replace("[http]", '[http]\nca_file = "ca.pem"'))
    checked = site.command("check-config")
    assert checked.returncode == 78 and "is not a usable PEM CA certificate" in checked.stdout


def test_an_impossible_stored_time_is_shown_as_unknown_not_a_crash(site):
    assert site.send(0).returncode == 0
    with site.db() as db:
        db.execute("UPDATE events SET received_at = 1e300")
        db.execute("UPDATE messages SET sent_at = -1e300")
    history = site.command("history")
    assert history.returncode == 0 and "/SITE/NET000" in history.stdout
    again = site.send(0)
    assert again.returncode == 0 and "already recorded at (unknown time)" in again.stderr


def test_retry_to_an_unknown_destination_is_a_usage_error_and_an_id_can_move_one_message(site):
    site.slack.script("alerts", Answer(500, "rollup_error"))
    for i in range(2):
        assert site.send(i).returncode == 0
    unknown = site.command("retry", "--all", "--to", "nowhere")
    assert unknown.returncode == 64 and "no such destination" in unknown.stderr
    site.config.write_text(site.config.read_text().replace("alerts", "ops"))
    site.slack.script("ops", fakeslack.OK)
    site.hooks["HOOK"] = site.slack.url("ops")
    one = site.command("retry", "--id", "2", "--to", "ops")
    assert one.returncode == 78  # message 1 still waits for the removed destination
    assert "1 message put back in the queue for destination ops" in one.stderr
    assert units(site.slack, "ops") == ["/SITE/NET001"] and site.states() == {
        "pending": 1,
        "sent": 1,
    }


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_in_place_of_the_config_or_its_cache_never_hangs(site):
    import os

    cache = site.config.with_name(site.config.name + ".cache")
    cache.unlink(missing_ok=True)
    os.mkfifo(cache)
    assert site.command("check-config").returncode == 0
    fifo = site.dir / "fifo.toml"
    os.mkfifo(fifo)
    result = run(["check-config", "--config", str(fifo)], site.env(), timeout=30)
    assert result.returncode == 78 and "not a regular file" in result.stderr


def test_a_very_long_data_dir_gives_short_lines_and_no_traceback(tmp_path, slack):
    site = Site(
        tmp_path, slack, ONE_DESTINATION.replace('data_dir = "data"', f'data_dir = "{"d" * 5000}"')
    )
    for args in (["check-config"], ["history"], ["flush"], ["retry", "--all"]):
        result = site.command(*args)
        assert result.returncode in (0, 74, 78), (args, result.stderr)
        assert max(map(len, (result.stdout + result.stderr).splitlines() or [""])) < 600
    sent = site.send(0)  # no store: sent directly
    assert sent.returncode == 0 and "delivered to alerts" in sent.stderr


def test_the_watchdog_ends_a_run_that_outlives_its_bound(tmp_path):
    """Every step is bounded on its own; the watchdog is the last line of defence. Here a run
    is made to hang (a sleep) with a bound of half a second."""
    import sys

    script = (
        "import time, jp1notify.bounds as bounds\n"
        "bounds.run_bound = lambda config: 0.5\n"
        "import os, jp1notify.cli as cli\n"
        "cli._end_process = os._exit  # what run() lends it; main() in-process has no watchdog\n"
        "cli._start_watchdog(None, 'send')\n"
        "time.sleep(30)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 75
    assert "send stopped after 0s, the longest it may run" in done.stderr
    assert "recorded events stay queued" in done.stderr
