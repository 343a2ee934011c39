"""Incidents end to end: the installed command against a fake Slack Web API (bot token, threads,
updates) and the fake incoming webhooks, one process per JP1 event as under JP1."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeslackapi import TOKEN, FakeSlackApi, error

from jp1notify.incidents import contains, duration_text, joins, resolves

import fakeslack
from conftest import clean_env, run

NIGHT_1 = "@A100"
NIGHT_2 = "@A200"


def jobnet_end(kind: str, path: str, exec_id: str, date: str, time: str) -> dict[str, str]:
    """EVID/EVMSG/EVDATE/EVTIME of a JP1/AJS3 event about `path` (Japanese messages)."""
    ids = {
        "abnormal": ("4104:0", "KAVS0262-E ジョブネット({unit})が異常終了しました"),
        "job": ("4107:0", "KAVS0265-E ジョブ({unit})が異常終了しました"),
        "warning": ("4108:0", "KAVS0268-W ジョブネット({unit})が警告終了しました"),
        "delay": ("4123:0", "KAVS0276-I ジョブネット({unit})が終了遅延しました"),
        "normal": ("4103:0", "KAVS0261-I ジョブネット({unit})が正常終了しました"),
        "nested_normal": ("4103:0", "KAVS0261-I ジョブネット({unit})が正常終了しました"),
    }
    evid, text = ids[kind]
    return {
        "EVID": evid,
        "EVMSG": text.format(unit=f"AJSROOT1:{path}:{exec_id}"),
        "EVDATE": date,
        "EVTIME": time,
        "EVHOST": "jp1mgr01",
    }


BOT_CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.ops]
kind = "slack_bot"
token_env = "BOT_TOKEN"
channel = "C0123ABCD"
api_url = "{api_url}"
[destinations.hook]
webhook_url_env = "HOOK"
[[routes]]
name = "problems"
levels = ["error", "warning"]
destination = "{destination}"
mention = "channel"
recovery = {recovery}
[outbox]
digest_interval_seconds = 1
max_wait_seconds = 2
"""


class Site:
    def __init__(self, tmp_path: Path, api: FakeSlackApi, hook: fakeslack.FakeSlack) -> None:
        self.dir = tmp_path
        self.api = api
        self.hook = hook
        self.config = tmp_path / "jp1notify.toml"
        self.configure()

    def configure(self, destination: str = "ops", recovery: bool = True) -> None:
        text = BOT_CONFIG.format(
            api_url=self.api.api_url, destination=destination, recovery=str(recovery).lower()
        )
        self.config.write_text(text, encoding="utf-8")

    def env(self, event: dict[str, str]) -> dict[str, str]:
        return clean_env(
            JP1NOTIFY_CONFIG=str(self.config),
            BOT_TOKEN=TOKEN,
            HOOK=self.hook.url("hook"),
            **event,
        )

    def send(self, kind: str, path: str, exec_id: str, date: str, time: str) -> str:
        result = run([], self.env(jobnet_end(kind, path, exec_id, date, time)))
        self.assert_clean(result)
        assert result.returncode == 0, result.stderr
        return result.stderr

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run(list(args), self.env({}))
        self.assert_clean(result)
        return result

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "data" / "jp1notify.db")

    def assert_clean(self, result: subprocess.CompletedProcess[str]) -> None:
        """No traceback; the token and the webhook secret in no output, log or stored byte."""
        assert "Traceback" not in result.stderr
        written = [result.stdout.encode(), result.stderr.encode()]
        written += [p.read_bytes() for p in self.dir.rglob("*") if p.is_file() and p != self.config]
        for data in written:
            assert TOKEN.encode() not in data
            assert b"SeCrEtBoTtOkEn" not in data
            assert fakeslack.SECRET.encode() not in data


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    api = FakeSlackApi()
    hook = fakeslack.FakeSlack()
    yield Site(tmp_path, api, hook)
    api.close()
    hook.close()


def story(site: Site) -> None:
    """Night 1: the jobnet fails (a job, then the jobnet), fails again in the rerun, the second
    rerun ends normally at 03:20; night 2: it fails again."""
    site.send("job", "/PROD/NIGHTLY/LOAD", NIGHT_1, "2026/11/22", "02:10:00")
    site.send("abnormal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "02:10:01")
    site.send("job", "/PROD/NIGHTLY/LOAD", NIGHT_1, "2026/11/22", "02:40:00")
    site.send("normal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "03:20:01")


def text_of(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_an_incident_is_one_message_with_its_story_in_the_thread(site):
    story(site)
    (parent,) = site.api.top_level()
    assert "<!channel>" in parent.payload["text"]  # the first post pings
    replies = site.api.replies(parent.ts)
    assert len(replies) == 3  # the jobnet's end, the rerun's failure, the recovery
    for reply in replies:
        assert reply.payload["reply_broadcast"] is False
        assert "<!" not in text_of(reply.payload)  # no mention in a thread
    assert "Recovered" in replies[-1].payload["text"]
    assert "1 h 10 min" in text_of(replies[-1].payload)  # 02:10:00 -> 03:20:01
    final = parent.current
    assert "[RESOLVED]" in final["text"]
    assert final["attachments"][0]["color"] == "#2EB67D"
    assert "down 1 h 10 min (3 events)" in text_of(final)
    assert "KAVS0265-E" in text_of(final)  # the first failure's details stay
    assert len(parent.edits) == 3  # updated with each later event
    assert "open: 2 events" in text_of(parent.edits[0])


def test_the_next_nights_failure_is_a_new_incident(site):
    story(site)
    site.send("abnormal", "/PROD/NIGHTLY", NIGHT_2, "2026/11/23", "02:10:00")
    first, second = site.api.top_level()
    assert "KAVS0262-E" in text_of(second.payload) and NIGHT_2 in text_of(second.payload)
    assert site.api.replies(second.ts) == []
    listed = site.command("incidents", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["state"], r["jobnet"], r["events"]) for r in rows] == [
        ("open", "/PROD/NIGHTLY", 1),
        ("resolved", "/PROD/NIGHTLY", 3),
    ]
    assert rows[1]["duration_seconds"] == 70 * 60 + 1
    table = site.command("incidents").stdout
    assert "resolved after 1 h 10 min" in table and "OPEN for" in table
    history = site.command("history").stdout
    assert "[incident #1]" in history and "[incident #2]" in history


def test_a_webhook_gets_the_failures_and_one_short_recovery(site):
    site.configure(destination="hook")
    story(site)
    payloads = site.hook.payloads("hook")
    assert len(payloads) == 4
    recovery = payloads[-1]
    assert recovery["text"].startswith("[OK] Recovered: /PROD/NIGHTLY")
    assert "recovered after 1 h 10 min, first failed 2026/11/22 02:10" in text_of(recovery)
    assert "<!" not in text_of(recovery)
    assert recovery["attachments"][0]["color"] == "#2EB67D"


def test_recovery_false_keeps_a_webhook_quiet_about_the_recovery(site):
    site.configure(destination="hook", recovery=False)
    story(site)
    assert len(site.hook.payloads("hook")) == 3


def test_a_deleted_parent_is_replaced_by_a_new_message(site):
    site.send("abnormal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "02:10:00")
    (parent,) = site.api.top_level()
    site.api.delete(parent.ts)
    said = site.send("job", "/PROD/NIGHTLY/COPY", NIGHT_1, "2026/11/22", "02:20:00")
    assert "posted a new message" in said
    (new_parent,) = site.api.top_level()
    assert new_parent.ts != parent.ts
    site.send("normal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "02:30:00")
    assert len(site.api.replies(new_parent.ts)) == 1
    assert "[RESOLVED]" in new_parent.current["text"]


def test_a_rejected_token_buries_the_message_with_the_next_step(site):
    site.api.script("chat.postMessage", error("invalid_auth"))
    result = run([], site.env(jobnet_end("abnormal", "/PROD/X", NIGHT_1, "2026/11/22", "02:00:00")))
    site.assert_clean(result)
    assert result.returncode == 69
    assert "invalid_auth" in result.stderr and "bot token (xoxb-...)" in result.stderr


def test_rate_limits_and_slack_failures_keep_the_message_queued(site):
    site.api.script(
        "chat.postMessage",
        fakeslackapi_reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
    )
    said = site.send("abnormal", "/PROD/X", NIGHT_1, "2026/11/22", "02:00:00")
    assert "queued for ops" in said and "rate limited (HTTP 429)" in said
    with site.db() as db:
        assert db.execute("SELECT state FROM messages").fetchall() == [("pending",)]
        db.execute("UPDATE destinations SET next_send_at = 0")  # 30 s later
    site.api.script("chat.postMessage", None)
    site.command("flush")
    assert len(site.api.top_level()) == 1


def fakeslackapi_reply(status, body, headers):
    from fakeslackapi import Reply

    return Reply(status, body, headers)


def test_a_storm_to_a_bot_destination_goes_out_as_digests(site):
    """Events recorded while Slack answers 500 pile up; the next sender posts them as a digest."""
    site.api.script("chat.postMessage", error("service_unavailable"))
    for i in range(6):
        site.send("abnormal", f"/PROD/NET{i}", NIGHT_1, "2026/11/22", f"02:0{i}:00")
    site.api.script("chat.postMessage", None)
    site.command("flush")
    posted = [m for m in site.api.messages if m.thread_ts is None]
    assert len(posted) == 1
    assert all(f"/PROD/NET{i}" in text_of(posted[0].payload) for i in range(6))


def test_check_config_and_dry_run_show_the_bot_destination_without_its_token(site):
    checked = site.command("check-config")
    assert checked.returncode == 0, checked.stderr
    assert "ops" in checked.stdout
    event = jobnet_end("abnormal", "/PROD/X", NIGHT_1, "2026/11/22", "02:00:00")
    env_file = site.dir / "event.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in event.items()), encoding="utf-8")
    dry = site.command("send", "--env-file", str(env_file), "--dry-run")
    (message,) = json.loads(dry.stdout)["messages"]
    assert message["kind"] == "slack_bot"
    assert message["payload"]["channel"] == "C0123ABCD"
    assert message["payload"]["unfurl_links"] is False


@pytest.mark.parametrize(
    ("jobnet", "exec_id", "open_jobnet", "open_exec_id", "expected"),
    [
        ("/G/ROOT", "@A1", "/G/ROOT", "@A1", True),
        ("/G/ROOT/SUB", "@A1", "/G/ROOT", "@A1", True),  # nested joins its root
        ("/G/ROOT", "@A1", "/G/ROOT/SUB", "@A1", True),  # the root joins its nested one
        ("/G/ROOT", "@A2", "/G/ROOT", "@A1", True),  # a later run while still open
        ("/G/ROOT/SUB2", "@A1", "/G/ROOT/SUB1", "@A1", True),  # siblings of one run
        ("/G/ROOT/SUB2", "@A2", "/G/ROOT/SUB1", "@A1", False),  # siblings of two runs
        ("/G/ROOT2", "@A2", "/G/ROOT", "@A1", False),  # a prefix that is not a parent
        ("/H/ROOT", "@A1", "/G/ROOT", "@A1", False),  # another group
        ("/G/ROOT2", None, "/G/ROOT", None, False),
    ],
)
def test_what_joins_an_incident(jobnet, exec_id, open_jobnet, open_exec_id, expected):
    assert joins(jobnet, exec_id, open_jobnet, open_exec_id) is expected


def test_what_resolves_an_incident():
    assert resolves("/G/ROOT", "/G/ROOT/SUB")  # the root ended normally
    assert resolves("/G/ROOT", "/G/ROOT")
    assert not resolves("/G/ROOT/SUB", "/G/ROOT")  # a nested jobnet's normal end
    assert not resolves("/G/ROO", "/G/ROOT")
    assert contains("/G", "/G/ROOT") and not contains("/G/R", "/G/ROOT")


@pytest.mark.parametrize(
    ("seconds", "en", "ja"),
    [
        (0, "0 s", "0秒"),
        (45, "45 s", "45秒"),
        (4201, "1 h 10 min", "1時間10分"),
        (3600, "1 h", "1時間"),
        (90061, "1 d 1 h", "1日1時間"),
        (125, "2 min 5 s", "2分5秒"),
    ],
)
def test_durations_read_like_a_person_would_say_them(seconds, en, ja):
    assert duration_text(seconds, "en") == en
    assert duration_text(seconds, "ja") == ja


def test_an_answer_echoing_the_token_is_stored_and_shown_redacted(site):
    site.api.script(
        "chat.postMessage",
        fakeslackapi_reply(403, {"denied": f"Authorization: Bearer {TOKEN} ({TOKEN})"}, {}),
    )
    said = site.send("abnormal", "/PROD/X", NIGHT_1, "2026/11/22", "02:00:00")
    assert "not Slack's (HTTP 403" in said and "[redacted]" in said
    with site.db() as db:
        (error_text,) = db.execute("SELECT last_error FROM messages").fetchone()
    assert "[redacted]" in error_text  # assert_clean checked every byte for the token


def test_a_parent_update_refused_for_its_content_still_lets_the_reply_out(site):
    site.send("abnormal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "02:10:00")
    site.api.script("chat.update", error("invalid_blocks"))
    said = site.send("job", "/PROD/NIGHTLY/LOAD", NIGHT_1, "2026/11/22", "02:20:00")
    assert "was not updated" in said and "invalid_blocks" in said
    (parent,) = site.api.top_level()
    assert len(site.api.replies(parent.ts)) == 1
    with site.db() as db:
        assert db.execute("SELECT state FROM messages ORDER BY id").fetchall() == [
            ("sent",),
            ("sent",),
        ]


def test_a_storm_inside_an_open_incident_is_a_digest_not_one_reply_a_second(site):
    site.send("abnormal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "02:00:00")
    site.api.script("chat.postMessage", error("service_unavailable"))
    for i in range(8):
        site.send("job", f"/PROD/NIGHTLY/JOB{i}", NIGHT_1, "2026/11/22", f"02:1{i}:00")
    site.api.script("chat.postMessage", None)
    site.command("flush")
    parent, digest = site.api.top_level()
    assert "8 JP1 events" in digest.payload["text"]  # one post for the 8 (5 shown per jobnet)
    assert site.api.replies(parent.ts) == []
    site.send("normal", "/PROD/NIGHTLY", NIGHT_1, "2026/11/22", "03:00:00")
    assert "9 events" in text_of(parent.current)  # brought up to date by the recovery
    assert "[RESOLVED]" in parent.current["text"]
