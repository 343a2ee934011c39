"""The installed `jp1notify` command as JP1 runs it: a subprocess, its environment, a real local
HTTP server answering like Slack, exit codes, stderr, the log, and no secret anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fakeslack
from conftest import ROOT, SAMPLES, clean_env, event_env, run
from fakeslack import FakeSlack

CONFIG = """
[message]
language = "{language}"
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
[[scopes]]
name = "production"
units = ["/PROD/**"]
[[ignore]]
name = "monitoring"
units = ["/JP1NOTIFY/**"]
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[destinations.notice]
webhook_url_env = "HOOK_NOTICE"
[[routes]]
name = "prod errors"
scopes = ["production"]
levels = ["error"]
destination = "alerts"
mention = "channel"
[[routes]]
name = "rest"
levels = ["error", "warning", "success"]
destination = "notice"
"""


@pytest.fixture
def setup(tmp_path: Path, slack: FakeSlack):
    """A config in tmp_path whose destinations point at the fake Slack."""
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(language="en"), encoding="utf-8")

    def env(**event: object) -> dict[str, str]:
        return clean_env(
            JP1NOTIFY_CONFIG=str(config),
            HOOK_ALERTS=slack.url("alerts"),
            HOOK_NOTICE=slack.url("notice"),
            **event_env(**event),
        )

    return config, env


def logs(config: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8") for p in sorted((config.parent / "logs").glob("*.log"))
    )


def assert_clean(result: subprocess.CompletedProcess[str], config: Path) -> None:
    """No traceback, and no webhook secret in any output, log or stored file."""
    everything = result.stdout + result.stderr + logs(config)
    assert "Traceback" not in everything
    assert fakeslack.SECRET not in everything
    for stored in (config.parent / "data").glob("*"):
        assert fakeslack.SECRET.encode() not in stored.read_bytes()


def test_no_arguments_reads_the_environment_and_posts(setup, slack):
    config, env = setup
    result = run([], env())
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    assert payload["text"] == "<!channel> [ERROR] Jobnet ended abnormally: /PROD/DAILY/BACKUP"
    assert payload["attachments"][0]["color"] == "#D40E0D"
    assert "delivered to alerts" in result.stderr
    lines = logs(config).splitlines()
    assert len(lines) == 2
    assert "phase=start event=4104 unit=/PROD/DAILY/BACKUP exec_id=@A100" in lines[0]
    assert "phase=end outcome=delivered exit=0" in lines[1] and "elapsed_ms=" in lines[1]
    assert 'routes="prod errors>alerts"' in lines[1] and "results=alerts:sent" in lines[1]
    assert_clean(result, config)


def test_python_dash_m_is_the_same_command(setup, slack):
    config, env = setup
    result = subprocess.run(
        [sys.executable, "-m", "jp1notify", "send"],
        env=env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stderr
    assert len(slack.payloads("alerts")) == 1


@pytest.mark.parametrize(
    ("answers", "code", "state", "message"),
    [
        ([fakeslack.RATE_LIMITED, fakeslack.OK], 0, "sent", "delivered to alerts"),
        ([fakeslack.SERVER_ERROR, fakeslack.OK], 0, "sent", "delivered to alerts"),
        (
            [fakeslack.NOT_FOUND],
            69,
            "dead",
            "channel_not_found: the webhook's channel no longer exists",
        ),
        ([fakeslack.ARCHIVED], 69, "dead", "channel_is_archived"),
        ([fakeslack.INVALID_PAYLOAD], 69, "dead", "invalid_payload"),
        ([fakeslack.INVALID_TOKEN], 69, "dead", "revoked"),
        (
            [fakeslack.SERVER_ERROR],
            0,
            "pending",
            "queued for alerts; last failure: Slack answered HTTP 500",
        ),
    ],
)
def test_slack_answers_map_to_exit_codes(setup, slack, answers, code, state, message):
    config, env = setup
    slack.script("alerts", *answers)
    result = run([], env())
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert f"results=alerts:{state}" in logs(config)
    assert_clean(result, config)


def test_connection_refused_is_a_temporary_failure(setup):
    config, env = setup
    values = env()
    values["HOOK_ALERTS"] = "http://127.0.0.1:9/services/T0FAKE/B0FAKE/" + fakeslack.SECRET
    result = run([], values)
    assert result.returncode == 0
    assert "queued for alerts; last failure: network error" in result.stderr
    assert_clean(result, config)


def test_one_failing_destination_does_not_stop_the_others(tmp_path, slack):
    config = tmp_path / "c.toml"
    config.write_text(
        CONFIG.format(language="en").replace(
            'mention = "channel"', 'mention = "channel"\ncontinue = true'
        ),
        encoding="utf-8",
    )
    slack.script("alerts", fakeslack.NOT_FOUND)
    env = clean_env(
        JP1NOTIFY_CONFIG=str(config),
        HOOK_ALERTS=slack.url("alerts"),
        HOOK_NOTICE=slack.url("notice"),
        **event_env(),
    )
    result = run([], env)
    assert result.returncode == 69
    assert len(slack.payloads("notice")) == 1
    assert "delivered to notice" in result.stderr
    assert "to alerts is dead (will not be retried): Slack answered HTTP 404" in result.stderr


def test_unset_webhook_variable_is_a_config_error_naming_the_key(setup, slack):
    config, env = setup
    values = env()
    del values["HOOK_ALERTS"]
    result = run([], values)
    assert result.returncode == 78
    assert (
        "destinations.alerts.webhook_url_env: environment variable HOOK_ALERTS is not set"
        in result.stderr
    )


def test_invalid_config_is_one_line_per_problem_and_exit_78(setup):
    config, env = setup
    config.write_text(
        CONFIG.format(language="fr").replace('destination = "notice"', 'destination = "alert"')
    )
    result = run([], env())
    assert result.returncode == 78
    assert "message.language: 'fr' is not allowed (allowed: ja, en)" in result.stderr
    assert (
        "routes #2 \"rest\" destination: unknown destination 'alert' (known: alerts, notice)"
        in result.stderr
    )
    assert "jp1notify check-config" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run([], clean_env(JP1NOTIFY_CONFIG=str(tmp_path / "none.toml"), **event_env()))
    assert result.returncode == 78
    assert "config file not found" in result.stderr


def test_no_event_at_all_exits_65_and_says_how_to_map_the_variables(setup):
    config, env = setup
    values = env(EVID="?AJS2EVID?", EVMSG="?AJS2EVMSG?")
    result = run([], values)
    assert result.returncode == 65
    assert "EVID=?AJS2EVID?" in result.stderr
    assert "outcome=unusable_event" in logs(config)


def test_hostile_garbled_event_is_still_notified(setup, slack):
    config, env = setup
    values = env(
        EVID="not-an-id",
        EVMSG="KAVS0262-E ジョブネット(AJSROOT1:/PROD/X:@A1)が異常終了 <!channel> <https://evil|x> & "
        + "&" * 3500,  # JP1 cuts EVMSG at 1023 bytes; escaped, "&" still overflows Slack's limit
        EVDATE=None,
        EVHOST="?AJS2EVHOST?",
    )
    result = run([], values)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    wire = json.dumps(payload, ensure_ascii=False)
    assert wire.count("<!channel>") == 1 and "<https://evil" not in wire
    notes = payload["attachments"][0]["fields"][-1]
    assert "EVDATE" in notes["value"] and "not-an-id" in notes["value"]
    assert "EVMSG was cut to JP1's limit of 1023 characters" in notes["value"]
    assert "shortened to fit Slack: message" in result.stderr


def test_ignored_and_unrouted_events_exit_0_and_say_why(setup, slack):
    config, env = setup
    ignored = run([], env(EVMSG="KAVS0262-E jobnet (AJSROOT1:/JP1NOTIFY/MON:@A1) ended"))
    assert ignored.returncode == 0 and "ignored by monitoring" in ignored.stderr
    unrouted = run([], env(EVID="4102:0", EVMSG="KAVS0260-I jobnet (AJSROOT1:/DEV/N:@A1) started"))
    assert unrouted.returncode == 0 and "matched no route" in unrouted.stderr
    assert slack.received == []
    assert "outcome=ignored" in logs(config) and "outcome=unrouted" in logs(config)


def test_self_guard_under_jp1(setup, slack):
    config, env = setup
    values = env(
        EVID="4107:0",
        EVMSG="KAVS0265-E job (AJSROOT1:/OPS/MON/NOTIFY:@A1) ended",
        AJSJOBNAME="/OPS/MON/NOTIFY",
    )
    result = run([], values)
    assert result.returncode == 0 and "ignored by self_guard" in result.stderr
    assert slack.received == []


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.env")))
def test_every_sample_dry_runs_with_the_shipped_config(sample):
    result = run(["send", "--env-file", str(SAMPLES / sample), "--dry-run"], clean_env())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"] == str(ROOT / "config" / "jp1notify.toml")
    assert report["messages"], "every sample should reach at least one destination"
    for message in report["messages"]:
        assert message["payload"]["attachments"][0]["fields"]
        assert message["webhook"].startswith("environment variable JP1NOTIFY_WEBHOOK_")


def test_dry_run_shows_the_decision_and_sends_nothing(setup, slack, tmp_path):
    config, env = setup
    envfile = tmp_path / "e.env"
    envfile.write_text(
        (SAMPLES / "jobnet-end-delay-en.env").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = run(["--dry-run", "--env-file", str(envfile)], env(EVID="4104:0"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["event"]["event_id"] == "4123"  # from the file, not the environment
    assert report["classification"] == {
        "level": "warning",
        "level_reason": "built-in table for event 4123",
        "scope": "production",
    }
    assert [(m["route"], m["destination"]) for m in report["messages"]] == [("rest", "notice")]
    assert report["messages"][0]["webhook"] == "environment variable HOOK_NOTICE"
    assert slack.received == []
    assert not (config.parent / "logs").exists()
    assert_clean(result, config)


def test_env_file_errors_exit_65(setup, tmp_path):
    config, env = setup
    bad = tmp_path / "bad.env"
    bad.write_text("EVID=4104:0\nnot a line\n", encoding="utf-8")
    result = run(["send", "--env-file", str(bad)], env())
    assert result.returncode == 65 and "bad.env:2: expected NAME=value" in result.stderr


def test_literal_webhook_url_never_appears_in_outputs(tmp_path, slack):
    config = tmp_path / "c.toml"
    config.write_text(
        f'[destinations.a]\nwebhook_url = "{slack.url("alerts")}"\n[[routes]]\ndestination = "a"\n',
        encoding="utf-8",
    )
    slack.script("alerts", fakeslack.NOT_FOUND)
    env = clean_env(JP1NOTIFY_CONFIG=str(config), **event_env())
    for args in ([], ["--dry-run"], ["check-config"]):
        result = run(args, env)
        assert_clean(result, config)
    assert "webhook_url in the config (redacted)" in run(["check-config"], env).stdout


def test_check_config_summarises_routes_and_warns(setup):
    config, env = setup
    values = env()
    del values["HOOK_NOTICE"]
    result = run(["check-config"], values)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. prod errors: levels error; scopes production -> alerts, mention @channel" in out
    assert "alerts: environment variable HOOK_ALERTS (readable)" in out
    assert "notice: environment variable HOOK_NOTICE (NOT readable here)" in out
    assert "no catch-all route" in out
    assert_clean(result, config)


def test_check_config_on_a_broken_file_exits_78(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[[routes]\n", encoding="utf-8")
    result = run(["check-config", "--config", str(config)], clean_env())
    assert result.returncode == 78 and "TOML syntax error" in result.stderr


def test_usage_errors_exit_64_and_version_works():
    assert run(["send", "--bogus"], clean_env()).returncode == 64
    assert run(["frobnicate"], clean_env()).returncode == 64
    version = run(["--version"], clean_env())
    assert version.returncode == 0 and version.stdout.startswith("jp1notify ")


@pytest.mark.parametrize("via", ["config", "environment"])
def test_proxy_from_config_or_environment(setup, slack, via):
    config, env = setup
    values = env()
    # The webhook's own address refuses connections: only the proxy (the fake) can deliver.
    values["HOOK_ALERTS"] = (
        "http://127.0.0.1:9/services/T0FAKE/B0FAKE/" + fakeslack.SECRET + "alerts"
    )
    proxy = f"http://127.0.0.1:{slack.port}"
    if via == "config":
        config.write_text(config.read_text().replace("[http]", f'[http]\nproxy = "{proxy}"'))
    else:
        values["HTTP_PROXY"] = proxy
    result = run([], values)
    assert result.returncode == 0, result.stderr
    assert [r.proxied for r in slack.received] == [True]
    assert_clean(result, config)
