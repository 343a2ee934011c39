"""JP1NOTIFY_... environment variables over the config file (settings.py, config.py): the
installed command as JP1 or CI runs it, the cache keyed on the variables, secrets given by a
variable that reach the fake Slack and nothing else, and pydantic-settings imported only on a
cache miss with overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fakegeneric
import pytest
from fakegeneric import FakeGeneric

from jp1notify.config import CONFIG_KEYS, cache_path, load_config, scan_environment
from jp1notify.errors import ConfigError

import fakeslack
from conftest import clean_env, event_env, run

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[http]
timeout_seconds = 2
[outbox]
max_wait_seconds = 1
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[destinations.Ops]
webhook_url_env = "HOOK_OPS"
[[routes]]
destination = "alerts"
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "jp1notify.toml"
    path.write_text(text, encoding="utf-8")
    return path


def env_for(config: Path, **extra: str) -> dict[str, str]:
    return clean_env(JP1NOTIFY_CONFIG=str(config), **extra)


def history(config: Path, env: dict[str, str]) -> list[dict]:
    result = run(["history", "--json"], env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_config_keys_are_the_schemas_top_level_keys():
    from jp1notify.schema import ConfigModel

    keys = {field.alias or name for name, field in ConfigModel.model_fields.items()}
    assert keys == CONFIG_KEYS


def test_only_variables_named_after_a_top_level_key_override(tmp_path: Path):
    environ = {
        "JP1NOTIFY_OUTBOX__DATA_DIR": "a",
        "jp1notify_log__dir": "b",  # any case: Windows upper-cases names, Linux keeps them
        "JP1NOTIFY_ROUTES": "[]",
        "JP1NOTIFY_CONFIG": "c.toml",
        "JP1NOTIFY_DEBUG": "1",
        "JP1NOTIFY_WEBHOOK_ALERTS": "https://hooks.slack.com/services/T/B/x",
        "JP1NOTIFY_HEARTBEAT_URL": "https://hc-ping.com/x",
        "JP1NOTIFY_OUTBX__DATA_DIR": "typo",
        "JP1NOTIFY_HTTP__PROXY": "",  # empty: overrides nothing, as `set NAME=` on Windows
    }
    found, unknown = scan_environment(environ)
    assert found == sorted(
        [
            ("JP1NOTIFY_OUTBOX__DATA_DIR", "a"),
            ("JP1NOTIFY_ROUTES", "[]"),
            ("jp1notify_log__dir", "b"),
        ]
    )
    assert unknown == ["JP1NOTIFY_OUTBX__DATA_DIR"]


def test_a_changed_data_dir_is_used_at_once_and_shown_by_check_config(tmp_path, slack):
    config = write_config(tmp_path)
    hooks = {"HOOK_ALERTS": slack.url("alerts")}
    first, second = tmp_path / "A", tmp_path / "B"
    for folder, exec_id in ((first, "@A1"), (second, "@A2")):
        unit = f"AJSROOT1:/PROD/NIGHT:{exec_id}"
        event = event_env(EVMSG=f"KAVS0262-E jobnet ({unit}) ended abnormally")
        env = env_for(config, JP1NOTIFY_OUTBOX__DATA_DIR=str(folder), **hooks, **event)
        result = run([], env)
        assert result.returncode == 0, result.stderr
        assert [row["exec_id"] for row in history(config, env)] == [exec_id]
        check = run(["check-config"], env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Overrides from the environment" in check.stdout
        assert f"JP1NOTIFY_OUTBOX__DATA_DIR sets outbox.data_dir = {folder}" in check.stdout
        assert f"Outbox: {folder} " in check.stdout
    assert len(slack.payloads("alerts")) == 2
    assert not (tmp_path / "data").exists()  # the file's data_dir was never used


def test_numbers_booleans_and_json_lists_are_typed(tmp_path, slack):
    config = write_config(tmp_path)
    env = env_for(
        config,
        HOOK_OPS=slack.url("ops"),
        JP1NOTIFY_HTTP__TIMEOUT_SECONDS="7",
        JP1NOTIFY_SELF_GUARD="false",
        JP1NOTIFY_ROUTES='[{"name": "all to ops", "destination": "Ops", "mention": "here"}]',
        **event_env(AJSJOBNAME="/PROD/DAILY/NOTIFY"),  # self_guard would drop the event
    )
    check = run(["check-config"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "HTTP: timeout 7s" in check.stdout
    assert "self_guard:" not in check.stdout
    assert "1. all to ops: every event -> Ops, mention @here" in check.stdout
    result = run([], env)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("ops")
    assert payload["text"].startswith("<!here> [ERROR]")


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "JP1NOTIFY_HTTP__TIMEOUT_SECONDS",
            "abc",
            "JP1NOTIFY_HTTP__TIMEOUT_SECONDS (overrides http.timeout_seconds): must be a number",
        ),
        (
            "JP1NOTIFY_SELF_GUARD",
            "no",
            "JP1NOTIFY_SELF_GUARD (overrides self_guard): must be true or false",
        ),
        (
            "JP1NOTIFY_ROUTES",
            '[{"destination": "alert"}]',
            "JP1NOTIFY_ROUTES (overrides routes): routes #1 destination: unknown destination "
            "'alert' (known: Ops, alerts)",
        ),
        (
            "JP1NOTIFY_ROUTES",
            '[{"destination": "alerts",}]',
            "JP1NOTIFY_ROUTES (overrides routes): is not valid JSON",
        ),
        (
            "JP1NOTIFY_ROUTES__1__NAME",
            "x",
            "JP1NOTIFY_ROUTES__1__NAME: routes is a list, which a variable replaces whole: set "
            "JP1NOTIFY_ROUTES to the list as JSON",
        ),
        (
            "JP1NOTIFY_HTTP__TIMEOUT",
            "5",
            "JP1NOTIFY_HTTP__TIMEOUT (overrides http.timeout): unknown key (allowed: ",
        ),
        (
            "JP1NOTIFY_DESTINATIONS__OPS__WEBHOOK_URL_FILE",
            str(Path("missing.url")),
            "JP1NOTIFY_DESTINATIONS__OPS__WEBHOOK_URL_FILE (overrides "
            "destinations.Ops.webhook_url_file): cannot read",  # check-config: no such file
        ),
    ],
)
def test_a_bad_override_exits_78_naming_the_variable(tmp_path, variable, value, line):
    config = write_config(tmp_path)
    result = run(["check-config"], env_for(config, **{variable: value}))
    assert result.returncode == 78
    assert line in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_secret_from_a_variable_is_delivered_and_written_nowhere(tmp_path, slack):
    """CI gives a literal webhook URL to a config that names another variable for it: the
    override replaces the file's webhook_url_env, and the URL is read from the variable again
    on every cache hit, never stored."""
    config = write_config(tmp_path)
    secret = slack.url("alerts")
    env = env_for(config, JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL=secret, **event_env())
    outputs = []
    for _ in range(2):  # a cache miss, then a hit
        result = run([], env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    assert len(slack.payloads("alerts")) == 1  # the second was the same event: a duplicate
    check = run(["check-config"], env)
    dry = run(["send", "--dry-run"], env)
    assert check.returncode == dry.returncode == 0, check.stdout + dry.stderr
    assert (
        "JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL sets destinations.alerts.webhook_url = "
        "(secret, from JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL)"
    ) in check.stdout
    assert "alerts: webhook_url from environment variable JP1NOTIFY_DESTINATIONS__ALERTS__" in (
        check.stdout
    )
    report = json.loads(dry.stdout)
    assert report["overrides"] == {
        "JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL": "destinations.alerts.webhook_url"
    }
    outputs += [check.stdout + check.stderr, dry.stdout + dry.stderr]
    assert not any(fakeslack.SECRET in text for text in outputs)
    files = [cache_path(config), *tmp_path.rglob("*.log"), *tmp_path.rglob("*.db*")]
    assert cache_path(config) in files and len(files) >= 3
    for path in files:
        assert fakeslack.SECRET.encode() not in path.read_bytes(), path
    assert "JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL" in cache_path(config).read_text()


def test_webhook_headers_from_a_variable_are_sent_and_never_cached(tmp_path: Path):
    fake = FakeGeneric()
    try:
        config = write_config(
            tmp_path,
            CONFIG.replace('destination = "alerts"', 'destination = "hook"')
            + '[destinations.hook]\nkind = "webhook"\nurl_env = "HOOK_URL"\n'
            'headers = { X-Source = "jp1" }\n',
        )
        env = env_for(
            config,
            HOOK_URL=fake.url("/hook"),
            JP1NOTIFY_DESTINATIONS__HOOK__HEADERS=json.dumps({"Authorization": fakegeneric.TOKEN}),
        )
        for exec_id in ("@A1", "@A2"):  # a cache miss, then a hit
            unit = f"AJSROOT1:/PROD/NIGHT:{exec_id}"
            event = event_env(EVMSG=f"KAVS0262-E jobnet ({unit}) ended abnormally")
            result = run([], {**env, **event})
            assert result.returncode == 0, result.stderr
            assert fakegeneric.TOKEN not in result.stdout + result.stderr
        headers = [r.headers for r in fake.requests]
        assert [(h["authorization"], h["x-source"]) for h in headers] == [
            (fakegeneric.TOKEN, "jp1")
        ] * 2
        assert fakegeneric.TOKEN.split()[1] not in cache_path(config).read_text()
    finally:
        fake.close()


def test_table_names_match_the_files_in_any_case(tmp_path, slack):
    config = write_config(tmp_path, CONFIG.replace('destination = "alerts"', 'destination = "Ops"'))
    env = env_for(
        config,
        HOOK_RENAMED=slack.url("ops"),
        jp1notify_destinations__ops__WEBHOOK_URL_ENV="HOOK_RENAMED",
        **event_env(),
    )
    result = run([], env)
    assert result.returncode == 0, result.stderr
    assert len(slack.payloads("ops")) == 1
    check = run(["check-config"], env)
    assert "  Ops: environment variable HOOK_RENAMED (readable)" in check.stdout
    assert "\n  ops:" not in check.stdout  # no second destination


def test_a_typo_in_a_variable_is_warned_about_by_every_command(tmp_path, slack):
    config = write_config(tmp_path)
    env = env_for(
        config, HOOK_ALERTS=slack.url("alerts"), JP1NOTIFY_OUTBX__DATA_DIR="/secret/value"
    )
    warning = (
        "environment variable JP1NOTIFY_OUTBX__DATA_DIR overrides nothing and is ignored: "
        "'outbx' is not a top-level config key; did you mean JP1NOTIFY_OUTBOX__...?"
    )
    sent = run([], {**env, **event_env()})
    check = run(["check-config"], env)
    assert sent.returncode == check.returncode == 0, sent.stderr + check.stderr
    assert warning in sent.stderr and warning in check.stderr
    assert f"  - {warning}" in check.stdout
    assert "/secret/value" not in sent.stderr + check.stdout + check.stderr


def test_a_secrets_variable_shaped_like_an_override_is_no_typo(tmp_path, slack):
    """webhook_url_env = "JP1NOTIFY_OPS__HOOK" names a secret's variable: used, never warned
    about as an override of nothing (a real typo beside it still is)."""
    config = write_config(tmp_path, CONFIG.replace('"HOOK_ALERTS"', '"JP1NOTIFY_OPS__HOOK"'))
    env = env_for(
        config,
        JP1NOTIFY_OPS__HOOK=slack.url("alerts"),
        HOOK_OPS=slack.url("ops"),
        JP1NOTIFY_OUTBX__DATA_DIR="x",
    )
    for args in ([], ["check-config"], []):  # validated, then from the cache
        result = run(args, {**env, **event_env(EVTIME=f"02:13:0{len(args)}")} if not args else env)
        assert result.returncode == 0, result.stderr
        assert "JP1NOTIFY_OPS__HOOK overrides nothing" not in result.stderr + result.stdout
        assert "JP1NOTIFY_OUTBX__DATA_DIR overrides nothing" in result.stderr
    assert len(slack.payloads("alerts")) == 1


def importtime(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], set]:
    """Run jp1notify under `python -X importtime`: its result, and the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "jp1notify", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result, modules


def test_pydantic_settings_is_imported_only_on_a_cache_miss_with_overrides(tmp_path, slack):
    config = write_config(tmp_path)
    plain = env_for(config, HOOK_ALERTS=slack.url("alerts"), **event_env())
    result, modules = importtime(plain)  # a send, the config's cache missed, no overrides
    assert result.returncode == 0, result.stderr
    assert len(slack.payloads("alerts")) == 1
    assert "pydantic" in modules
    # nor what pydantic_settings imports: the frozen build bundles asyncio for it alone
    assert not modules & {"pydantic_settings", "asyncio", "concurrent"}
    with_override = {**plain, "JP1NOTIFY_HTTP__TIMEOUT_SECONDS": "3"}
    result, modules = importtime(with_override, "send", "--dry-run")  # a miss with one
    assert result.returncode == 0, result.stderr
    assert "pydantic_settings" in modules
    result, modules = importtime(with_override, "send", "--dry-run")  # a hit with one
    assert result.returncode == 0, result.stderr
    assert "pydantic" not in modules and "pydantic_settings" not in modules
    assert json.loads(result.stdout)["overrides"] == {
        "JP1NOTIFY_HTTP__TIMEOUT_SECONDS": "http.timeout_seconds"
    }


def test_a_proxy_password_from_a_variable_is_read_again_on_a_cache_hit(tmp_path: Path):
    config = write_config(tmp_path)
    proxy = "http://jp1user:pr0xyPa55word@127.0.0.1:3128"
    environ = {"JP1NOTIFY_HTTP__PROXY": proxy}
    assert load_config(config, environ).http.proxy == proxy  # a miss
    assert "pr0xyPa55word" not in cache_path(config).read_text()
    assert load_config(config, environ).http.proxy == proxy  # a hit
    other = "http://jp1user:An0therPa55@127.0.0.1:3128"
    assert load_config(config, {"JP1NOTIFY_HTTP__PROXY": other}).http.proxy == other
    assert load_config(config, {}).http.proxy is None  # the file's, without the variable


def test_an_override_of_a_list_or_table_key_inside_json_names_its_variable(tmp_path: Path):
    config = write_config(tmp_path)
    environ = {"JP1NOTIFY_HTTP": '{"timeout_seconds": "7", "max_attempts": 2}'}
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ)
    assert raised.value.problems == [
        "JP1NOTIFY_HTTP (overrides http): http.timeout_seconds: must be a number (without quotes)"
    ]
    environ = {"JP1NOTIFY_HTTP": '{"timeout_seconds": 7, "max_attempts": 2}'}
    loaded = load_config(config, environ)
    assert (loaded.http.timeout, loaded.http.max_attempts, loaded.http.retry_budget) == (7, 2, 20)


def test_a_heartbeat_url_from_a_variable_replaces_the_files_url_env(tmp_path: Path):
    from jp1notify.config import WebhookSource, read_heartbeat_url
    from jp1notify.redaction import Secrets

    config = write_config(tmp_path, CONFIG + '[heartbeat]\nurl_env = "BEAT"\n')
    url = "https://hc-ping.com/5bf1a8c4-0d3e-4f7a-9a51-heartbeat0123"
    environ = {"JP1NOTIFY_HEARTBEAT__URL": url}
    for _ in range(2):  # a cache miss, then a hit
        loaded = load_config(config, environ)
        assert loaded.heartbeat is not None
        assert loaded.heartbeat.source == WebhookSource(
            "override", "JP1NOTIFY_HEARTBEAT__URL", "url"
        )
        assert read_heartbeat_url(loaded, environ, Secrets()) == url
    assert "heartbeat0123" not in cache_path(config).read_text()
    without = load_config(config, {}).heartbeat
    assert without is not None and without.source == WebhookSource("env", "BEAT", "url")
