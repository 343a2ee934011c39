"""`cli.main(argv, environ)` in-process: the same command line as the subprocess tests in
test_cli.py, with the environment given as a value. It returns the exit code and never ends the
process; whatever the test process's own environment holds is not read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jp1notify import DEBUG_ENV
from jp1notify.cli import main

from conftest import SAMPLES, event_env

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
[log]
dir = "logs"
[[scopes]]
name = "production"
units = ["/PROD/**"]
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[[routes]]
name = "prod errors"
scopes = ["production"]
levels = ["error"]
destination = "alerts"
"""
HOOK = "https://hooks.slack.com/services/T0000/B0000/notarealsecretatall"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "jp1notify.toml"
    path.write_text(CONFIG, encoding="utf-8")
    # The test process's own environment points elsewhere: main() must not read it.
    monkeypatch.setenv("JP1NOTIFY_CONFIG", str(tmp_path / "not-this.toml"))
    monkeypatch.setenv("HOOK_ALERTS", "not a URL")
    return path


def test_check_config_reads_the_given_environment(config, capsys):
    code = main(["check-config"], {"JP1NOTIFY_CONFIG": str(config), "HOOK_ALERTS": HOOK})
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1. prod errors: levels error; scopes production -> alerts" in out
    assert "alerts: environment variable HOOK_ALERTS (readable)" in out
    assert HOOK not in out


def test_check_config_without_the_variable_warns_but_passes(config, capsys):
    assert main(["check-config", "--config", str(config)], {}) == 0
    assert "HOOK_ALERTS (NOT readable here)" in capsys.readouterr().out


def test_dry_run_with_an_env_file(config, capsys):
    envfile = SAMPLES / "job-abnormal-end-en.env"
    environ = {"JP1NOTIFY_CONFIG": str(config), **event_env(EVID="4104:0")}
    code = main(["send", "--dry-run", "--env-file", str(envfile)], environ)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["event"]["event_id"] == "4107"  # from the file, not the environment
    assert report["classification"]["scope"] == "production"
    assert [(m["route"], m["destination"]) for m in report["messages"]] == [
        ("prod errors", "alerts")
    ]
    assert not (config.parent / "logs").exists()  # a dry run writes no log


def test_an_unusable_event_exits_65_and_logs_it(config, capsys):
    environ = {"JP1NOTIFY_CONFIG": str(config), "EVID": "?AJS2EVID?", "EVMSG": "?AJS2EVMSG?"}
    assert main([], environ) == 65
    assert "EVID=?AJS2EVID?" in capsys.readouterr().err
    log = "".join(p.read_text(encoding="utf-8") for p in (config.parent / "logs").glob("*.log"))
    assert "outcome=unusable_event" in log


def test_an_unreadable_env_file_exits_65(config, capsys):
    environ = {"JP1NOTIFY_CONFIG": str(config)}
    assert main(["send", "--env-file", str(config.parent / "none.env")], environ) == 65
    assert "cannot read the env file" in capsys.readouterr().err


def test_a_missing_config_exits_78(tmp_path, capsys):
    assert main([], {"JP1NOTIFY_CONFIG": str(tmp_path / "none.toml"), **event_env()}) == 78
    assert "config file not found" in capsys.readouterr().err


def test_usage_errors_help_and_version_return_instead_of_exiting(capsys):
    assert main(["send", "--bogus"], {}) == 64
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert main(["frobnicate"], {}) == 64
    assert main(["history", "--limit", "0"], {}) == 64
    assert main(["--version"], {}) == 0
    assert capsys.readouterr().out.startswith("jp1notify ")
    assert main(["--help"], {}) == 0
    assert "check-config" in capsys.readouterr().out


def test_the_debug_switch_is_read_from_the_given_environment(config, monkeypatch, capsys):
    """A bug is reported with exit 70, or raised when the given environment asks for it."""

    def broken(*args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr("jp1notify.cli.load_config", broken)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    environ = {"JP1NOTIFY_CONFIG": str(config), **event_env()}
    assert main([], environ) == 70
    assert "internal error (RuntimeError: a bug)" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="a bug"):
        main([], {**environ, DEBUG_ENV: "1"})
