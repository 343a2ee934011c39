"""Adversarial checks of issue 11 (JP1NOTIFY_... overrides, the one-validator claim, the storm
path, TLS), through the installed command and the fake Slack."""

from __future__ import annotations

from pathlib import Path

import fakeslack
from conftest import clean_env, event_env, run

CONFIG = """
[message]
language = "en"
[http]
timeout_seconds = 2
[outbox]
max_wait_seconds = 1
[destinations.alerts]
webhook_url_env = "JP1NOTIFY_DESTINATIONS"
[heartbeat]
url_env = "JP1NOTIFY_HEARTBEAT"
[[routes]]
destination = "alerts"
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "jp1notify.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_variable_a_url_env_key_names_is_a_secret_not_an_override(tmp_path, slack):
    """`url_env = "JP1NOTIFY_HEARTBEAT"` names the variable that holds the heartbeat URL; that
    its name also reads as an override of [heartbeat] must not make the config unusable (exit
    78, "is not valid JSON") nor list it under the overrides."""
    config = write_config(tmp_path)
    env = clean_env(
        JP1NOTIFY_CONFIG=str(config),
        JP1NOTIFY_DESTINATIONS=slack.url("alerts"),
        JP1NOTIFY_HEARTBEAT=slack.url("heartbeat"),
        **event_env(),
    )
    check = run(["check-config"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Overrides from the environment" not in check.stdout
    sent = run([], env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(slack.payloads("alerts")) == 1
    assert fakeslack.SECRET not in check.stdout + check.stderr + sent.stdout + sent.stderr
