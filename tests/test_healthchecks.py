"""`kind = "healthchecks"`: the installed `jp1notify` pings a real local fake of Healthchecks'
ping API (tests/fakehc.py); the ping URL never appears in any output, log, store or cache.
The pure parts (signal, run ID, body limit, the table of answers) are tested as functions."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import fakehc
import pytest
from fakehc import FakeHealthchecks

from jp1notify.delivery import Disposition
from jp1notify.destinations import healthchecks
from jp1notify.destinations.healthchecks import Signal, fit_bytes, judge, run_id, signal_of
from jp1notify.event import parse_event

from conftest import clean_env, event_env, run
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
[destinations.hc]
kind = "healthchecks"
{ping}
[destinations.notice]
webhook_url_env = "HOOK_NOTICE"
[[routes]]
name = "backup check"
units = ["/PROD/DAILY/BACKUP", "/PROD/DAILY/BACKUP/*"]
event_ids = ["4102", "4103", "4104", "4108", "4109"]
destination = "hc"
continue = true
[[routes]]
name = "failures"
levels = ["error"]
destination = "notice"
"""
BY_ENV = 'ping_url_env = "PING_URL"'
UNIT = "AJSROOT1:/PROD/DAILY/BACKUP:@A100"
MESSAGES = {
    "4102": f"KAVS0260-I ジョブネット({UNIT})を開始します",
    "4103": f"KAVS0261-I ジョブネット({UNIT})が正常終了しました",
    "4104": f"KAVS0262-E ジョブネット({UNIT})が異常終了しました",
    "4108": f"KAVS0268-W ジョブネット({UNIT})が警告終了しました",
    "4109": "KAVS0269-W ジョブ(AJSROOT1:/PROD/DAILY/BACKUP/COPY:@A100)が警告終了しました",
}
RID = str(uuid.uuid5(healthchecks.RUN_NAMESPACE, "AJSROOT1:/PROD/DAILY/BACKUP:@A100"))


@pytest.fixture
def hc():
    fake = FakeHealthchecks()
    yield fake
    fake.close()


@pytest.fixture
def setup(tmp_path: Path, hc: FakeHealthchecks, slack: FakeSlack):
    """A config in tmp_path whose healthchecks destination points at the fake (through an
    environment variable unless `ping` says otherwise), and an event's environment."""
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(ping=BY_ENV), encoding="utf-8")

    def env(event_id: str = "4104", time: str = "02:13:05", **extra: str) -> dict[str, str]:
        values = {"PING_URL": hc.url(), "HOOK_NOTICE": slack.url("notice"), **extra}
        values = {k: v for k, v in values.items() if v}
        event = event_env(EVID=f"{event_id}:0", EVMSG=MESSAGES[event_id], EVTIME=time)
        return clean_env(JP1NOTIFY_CONFIG=str(config), **values, **event)

    return config, env


def logs(config: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8") for p in sorted((config.parent / "logs").glob("*.log"))
    )


def assert_no_ping_url(config: Path, *results: subprocess.CompletedProcess[str]) -> None:
    """The check's UUID is in no byte of stdout, stderr, the logs, the store or the cache."""
    secret = fakehc.CHECK.encode()
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
        assert secret not in (result.stdout + result.stderr).encode()
    files = [*(config.parent / "logs").glob("*"), *(config.parent / "data").glob("*")]
    files += config.parent.glob("*.cache")
    for path in files:
        assert secret not in path.read_bytes(), path


# -- through the installed command -----------------------------------------------------------


def test_a_run_pings_start_then_success_with_one_run_id(setup, hc):
    config, env = setup
    started = run([], env("4102", time="02:00:00"))
    ended = run([], env("4103", time="02:30:00"))
    assert started.returncode == 0 and ended.returncode == 0, started.stderr + ended.stderr
    start, success = hc.accepted()
    assert (start.method, start.signal, start.rid) == ("POST", "start", RID)
    assert (success.method, success.signal, success.rid) == ("POST", "success", RID)
    assert start.content_type == "text/plain; charset=utf-8"
    body = start.body.decode("utf-8")
    assert body.startswith("[INFO] Jobnet started\nHealthchecks signal: start\n")
    for line in ("Unit: AJSROOT1:/PROD/DAILY/BACKUP", "Execution ID: @A100", "Host: jp1mgr01"):
        assert line in body
    assert "Date/time: 2026/11/22 02:00:00" in body and "Level: info" in body
    assert body.endswith(MESSAGES["4102"] + "\n")
    assert "delivered to hc" in ended.stderr
    assert_no_ping_url(config, started, ended)


def test_an_abnormal_end_pings_fail_and_still_reaches_slack(setup, hc, slack):
    config, env = setup
    result = run([], env("4104"))
    assert result.returncode == 0, result.stderr
    (ping,) = hc.accepted()
    assert (ping.signal, ping.rid) == ("fail", RID)
    assert ping.body.decode().startswith("[ERROR] Jobnet ended abnormally\n")
    assert len(slack.payloads("notice")) == 1  # the route continues: Slack still hears of it
    assert_no_ping_url(config, result)


def test_the_normal_end_that_resolves_an_incident_is_one_success_ping(setup, hc, slack):
    config, env = setup
    failed = run([], env("4104", time="02:10:00"))
    recovered = run([], env("4103", time="03:20:00"))
    assert failed.returncode == recovered.returncode == 0, recovered.stderr
    assert [(p.signal, p.rid) for p in hc.accepted()] == [("fail", RID), ("success", RID)]
    assert "Recovered" in slack.payloads("notice")[-1]["text"]  # Slack hears of it too


def test_a_warning_end_is_a_success_that_says_so(setup, hc):
    config, env = setup
    result = run([], env("4108"))
    assert result.returncode == 0, result.stderr
    (ping,) = hc.accepted()
    assert (ping.signal, ping.rid) == ("success", RID)
    assert "success (the jobnet ended with warning)" in ping.body.decode()


def test_a_job_event_is_logged_at_the_check_without_a_run_id(setup, hc):
    config, env = setup
    result = run([], env("4109"))
    assert result.returncode == 0, result.stderr
    (ping,) = hc.accepted()
    assert (ping.signal, ping.rid) == ("log", None)
    assert "Unit: AJSROOT1:/PROD/DAILY/BACKUP/COPY" in ping.body.decode()


def test_an_unknown_check_kills_the_ping_with_the_next_step(setup, hc):
    config, env = setup
    hc.script(fakehc.CHECK, fakehc.NOT_FOUND)
    result = run([], env("4102"))
    assert result.returncode == 69, result.stderr  # as any final refusal (test_cli)
    assert "Healthchecks has no check with this ping URL: copy it again" in result.stderr
    assert "results=hc:dead" in logs(config)
    assert_no_ping_url(config, result)


def test_a_server_error_is_retried_until_delivered(setup, hc):
    config, env = setup
    hc.script(fakehc.CHECK, fakehc.SERVER_ERROR, fakehc.OK)
    result = run([], env("4104"))
    assert result.returncode == 0, result.stderr
    assert [p.status for p in hc.pings] == [500, 200]
    assert hc.pings[0].body == hc.pings[1].body and hc.pings[1].rid == RID
    assert "results=hc:sent" in logs(config)
    assert_no_ping_url(config, result)


def test_a_rate_limited_ping_stays_queued(setup, hc):
    config, env = setup
    hc.script(fakehc.CHECK, fakehc.RATE_LIMITED)
    result = run([], env("4102"))
    assert result.returncode == 0, result.stderr
    assert "rate limited by Healthchecks" in result.stderr
    assert "results=hc:pending" in logs(config)
    assert len(hc.pings) == 1  # the next try waits a fifth of a minute, past max_wait_seconds


def test_queued_pings_go_out_one_by_one_in_order(setup, hc):
    """More pending pings than a Slack destination would send singly: no digest, each in turn."""
    config, env = setup
    events = [("4102", "02:00:00"), ("4109", "02:10:00"), ("4104", "02:20:00")]
    events += [("4108", "02:30:00"), ("4103", "02:40:00")]
    for event_id, time in events:
        run([], env(event_id, time=time, PING_URL=""))  # the ping URL is not readable yet
    assert hc.pings == []
    flushed = run(["flush"], env("4104"))
    assert flushed.returncode == 0, flushed.stderr
    assert [p.signal for p in hc.accepted()] == ["start", "log", "fail", "success", "success"]
    assert [p.body.decode().count("Healthchecks signal:") for p in hc.accepted()] == [1] * 5
    assert_no_ping_url(config, flushed)


def test_the_dry_run_shows_the_request_but_never_the_ping_url(setup, hc):
    config, env = setup
    result = run(["send", "--dry-run"], env("4102"))
    assert result.returncode == 0, result.stderr
    (message,) = [m for m in json.loads(result.stdout)["messages"] if m["destination"] == "hc"]
    assert message["kind"] == "healthchecks"
    assert message["payload"]["signal"] == "start" and message["payload"]["rid"] == RID
    assert message["payload"]["request"] == f"POST (ping URL)/start?rid={RID}"
    assert message["payload"]["body"].startswith("[INFO] Jobnet started\n")
    assert hc.pings == []
    assert_no_ping_url(config, result)


def test_a_literal_ping_url_stays_out_of_the_config_cache(setup, hc):
    config, env = setup
    config.write_text(CONFIG.format(ping=f'ping_url = "{hc.url()}"'), encoding="utf-8")
    results = [run([], env("4102", PING_URL="")), run([], env("4103", PING_URL=""))]
    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert config.with_name("jp1notify.toml.cache").exists()  # the second run read it
    assert [p.signal for p in hc.accepted()] == ["start", "success"]
    assert_no_ping_url(config, *results)


def test_check_config_lists_a_healthchecks_destination(setup):
    config, env = setup
    result = run(["check-config"], env())
    assert result.returncode == 0, result.stdout
    assert "  hc: healthchecks, environment variable PING_URL (readable)" in result.stdout
    assert_no_ping_url(config, result)


@pytest.mark.parametrize(
    ("suffix", "said"),
    [
        ("/start", "ends with /start: give the check's ping URL without /start"),
        ("?rid=1", "has a ? or # part"),
        (" x", "has a space or control character"),
    ],
)
def test_check_config_refuses_a_ping_url_that_cannot_work(setup, hc, suffix, said):
    config, env = setup
    result = run(["check-config"], env(PING_URL=hc.url() + suffix))
    assert result.returncode == 78, result.stdout
    assert f"destinations.hc: the ping URL from environment variable PING_URL {said}" in (
        result.stdout
    )
    assert_no_ping_url(config, result)


def test_check_config_refuses_a_token_or_plain_http_as_a_ping_url(setup, hc):
    config, env = setup
    token = run(["check-config"], env(PING_URL=fakehc.CHECK))
    remote = run(["check-config"], env(PING_URL=f"http://hc.example.com/ping/{fakehc.CHECK}"))
    assert "is not a URL: give the check's whole ping URL" in token.stdout
    assert "must start with https:// (like https://hc-ping.com/<uuid>)" in remote.stdout
    assert token.returncode == remote.returncode == 78
    assert_no_ping_url(config, token, remote)


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        (
            'ping_url_env = "PING_URL"',
            "ping_url_env cannot be used with kind 'slack_webhook' (set kind = \"healthchecks\"",
        ),
        (
            'kind = "healthchecks"\nwebhook_url_env = "HOOK"',
            "webhook_url_env cannot be used with kind 'healthchecks'",
        ),
        (
            'kind = "healthchecks"\nping_url_env = "PING_URL"\nchannel = "C0123ABCD"',
            "channel cannot be used with kind 'healthchecks'",
        ),
        ('kind = "healthchecks"', "exactly one of ping_url, ping_url_env, ping_url_file"),
    ],
)
def test_a_key_of_another_kind_is_refused_by_name(tmp_path, destination, said):
    path = tmp_path / "jp1notify.toml"
    path.write_text(
        f'[destinations.x]\n{destination}\n[[routes]]\ndestination = "x"\n', encoding="utf-8"
    )
    result = run(["check-config", "--config", str(path)], clean_env())
    assert result.returncode == 78
    assert "destinations.x" in result.stderr + result.stdout
    assert said in result.stderr + result.stdout


# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_id", "level", "signal"),
    [
        ("4102", "info", Signal.START),
        ("4103", "success", Signal.SUCCESS),
        ("4108", "warning", Signal.SUCCESS),
        ("4104", "error", Signal.FAIL),
        ("4131", "error", Signal.FAIL),
        ("4142", "error", Signal.FAIL),
        ("MISSED", "error", Signal.FAIL),
        ("MISSED", "warning", Signal.LOG),
        ("4107", "error", Signal.FAIL),
        ("4105", "info", Signal.LOG),
        ("4122", "warning", Signal.LOG),
        (None, "info", Signal.LOG),
    ],
)
def test_each_event_has_its_signal(event_id, level, signal):
    assert signal_of(event_id, level) is signal


def test_run_ids_pair_one_run_and_keep_nested_jobnets_apart():
    def rid(evid: str, unit: str, signal: Signal = Signal.START) -> str | None:
        return run_id(parse_event(event_env(EVID=evid, EVMSG=f"KAVS0260-I ({unit})")), signal)

    assert rid("4102", UNIT) == RID == rid("4104", UNIT, Signal.FAIL)
    assert rid("4102", "AJSROOT1:/PROD/DAILY/BACKUP/SUB:@A100") != RID  # a nested jobnet
    assert rid("4102", "AJSROOT1:/PROD/DAILY/BACKUP:@A101") != RID  # the next run
    assert rid("4102", "AJSROOT2:/PROD/DAILY/BACKUP:@A100") != RID  # another service
    assert rid("4102", "AJSROOT1:/PROD/DAILY/BACKUP") is None  # no execution ID
    assert rid("4102", UNIT, Signal.LOG) is None


def test_the_run_namespace_never_changes():
    """Start pings sent by one version must pair with end pings sent by the next."""
    assert healthchecks.RUN_NAMESPACE == uuid.uuid5(
        uuid.NAMESPACE_URL, "urn:jp1notify:healthchecks:run"
    )
    assert uuid.UUID(RID).version == 5


def test_a_body_is_cut_at_a_character_boundary():
    text = "あ" * 5000  # 15,000 bytes of three-byte characters
    cut, was_cut = fit_bytes(text, healthchecks.BODY_LIMIT)
    assert was_cut and cut.endswith("…")
    assert len(cut.encode("utf-8")) <= healthchecks.BODY_LIMIT
    assert set(cut[:-1]) == {"あ"}
    assert fit_bytes("short", 10) == ("short", False)


@pytest.mark.parametrize(
    ("status", "body", "headers", "disposition", "said"),
    [
        (200, "OK", {}, Disposition.DELIVERED, "ok"),
        (201, "Created", {}, Disposition.DELIVERED, "ok"),
        (200, "OK (rate limited)", {}, Disposition.RETRY, "rate limited"),
        (429, "", {"retry-after": "30"}, Disposition.RETRY, "rate limited"),
        (404, "not found", {}, Disposition.GONE, "copy it again from the check's page"),
        (200, "OK (not found)", {}, Disposition.GONE, "Healthchecks has no check"),
        (400, "invalid url format", {}, Disposition.GONE, "a slug must be lower-case"),
        (400, "invalid uuid format", {}, Disposition.INVALID, "refused the run ID"),
        (409, "ambiguous slug", {}, Disposition.GONE, "a slug of its own"),
        (500, "Server Error (500)", {}, Disposition.RETRY, "HTTP 500"),
        (503, "", {"retry-after": "5"}, Disposition.RETRY, "HTTP 503"),
        (407, "", {}, Disposition.RETRY, "http.proxy"),
        (302, "", {"location": "https://portal.example/"}, Disposition.RETRY, "redirect"),
        (403, "<html><title>Blocked</title>", {}, Disposition.RETRY, "'Blocked'"),
        (200, "<html>Login</html>", {}, Disposition.RETRY, "not Healthchecks'"),
    ],
)
def test_each_answer_has_its_disposition(status, body, headers, disposition, said):
    verdict = judge(status, body, headers)
    assert verdict.disposition is disposition
    assert said in verdict.reason


def test_retry_after_is_respected_else_a_fifth_of_a_minute():
    assert judge(429, "", {"retry-after": "30"}).retry_after == 30.0
    assert judge(200, "OK (rate limited)", {}).retry_after == healthchecks.RATE_WAIT
    assert judge(503, "", {"retry-after": "5"}).retry_after == 5.0
    assert judge(500, "", {}).retry_after is None
