"""The frozen onedir folder as operators install it: copied somewhere else, run with no source
tree and no virtualenv in reach, against a real local fake Slack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import fakeslack
import test_tls
from conftest import SAMPLES, event_env
from fakeslack import FakeSlack

# The throwaway CA, the bundle of the system's CAs plus it, and the HTTPS fake Slack it signed.
certificates = test_tls.certificates
system_bundle = test_tls.system_bundle
https_slack = test_tls.https_slack


@pytest.fixture
def app(frozen_app: Path, tmp_path: Path) -> Path:
    """A private copy of the built folder, without the build stamp."""
    target = tmp_path / "opt" / "jp1notify"
    shutil.copytree(frozen_app, target, ignore=shutil.ignore_patterns(".source-sha256"))
    return target


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An unrelated working directory, as JP1 gives jobs."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def bare_env(**extra: str) -> dict[str, str]:
    """What a JP1 job has: no Python variables, no virtualenv on PATH."""
    if os.name == "nt":
        env = {k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP") if k in os.environ}
        env["PATH"] = os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32")
        env["PYTHONIOENCODING"] = "utf-8"  # the tests read stderr as UTF-8
    else:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env


def run_app(
    app: Path, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    program = app / ("jp1notify.exe" if os.name == "nt" else "jp1notify")
    return subprocess.run(
        [str(program), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def use_fake_slack(app: Path, slack: FakeSlack) -> dict[str, str]:
    """Point the shipped config's destinations at the fake; return the environment for it."""
    return {
        "JP1NOTIFY_WEBHOOK_ALERTS": slack.url("alerts"),
        "JP1NOTIFY_WEBHOOK_NOTICE": slack.url("notice"),
    }


def test_folder_layout(app: Path):
    names = {p.name for p in app.iterdir()}
    program = "jp1notify.exe" if os.name == "nt" else "jp1notify"
    assert {program, "_internal", "notification.bat", "config", "README.md", "VERSION"} <= names
    assert (app / "config" / "jp1notify.toml").is_file()
    assert len(list((app / "config" / "samples").glob("*.env"))) >= 8
    bat = (app / "notification.bat").read_bytes()
    assert bat.isascii() and b"\r\n" in bat and b"\n" not in bat.replace(b"\r\n", b"")
    assert not list(app.rglob("*.cache")), "no cache of the developer's config may ship"


def test_version_matches_the_package(app: Path, cwd: Path):
    from jp1notify import __version__

    result = run_app(app, ["--version"], bare_env(), cwd)
    assert result.stdout.strip() == f"jp1notify {__version__}"
    assert (app / "VERSION").read_text().strip() == __version__


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.env")))
def test_samples_dry_run_with_the_bundled_config(app: Path, cwd: Path, sample: str):
    result = run_app(
        app,
        ["send", "--env-file", str(app / "config" / "samples" / sample), "--dry-run"],
        bare_env(),
        cwd,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"] == str(app / "config" / "jp1notify.toml")  # beside the executable
    assert report["messages"]


def test_real_post_logs_and_store_live_beside_the_executable(
    app: Path, cwd: Path, slack: FakeSlack
):
    env = bare_env(**use_fake_slack(app, slack), **event_env())
    result = run_app(app, [], env, cwd)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    assert payload["text"].startswith(
        "<!channel> [エラー] ジョブネット異常終了: /PROD/DAILY/BACKUP"
    )
    assert list((app / "logs").glob("jp1notify-*.log"))
    assert (app / "data" / "jp1notify.db").exists()
    assert not list(cwd.iterdir()), "nothing may be written to the working directory"
    history = run_app(app, ["history"], env, cwd)
    assert "alerts sent (1)" in history.stdout
    for path in [*app.rglob("*.log"), *app.rglob("*.db*"), *app.rglob("*.cache")]:
        assert fakeslack.SECRET.encode() not in path.read_bytes()


def test_exit_codes(app: Path, cwd: Path, slack: FakeSlack):
    env = bare_env(**use_fake_slack(app, slack), **event_env())
    slack.script("alerts", fakeslack.NOT_FOUND)
    assert run_app(app, [], env, cwd).returncode == 69
    assert run_app(app, [], bare_env(EVID="?AJS2EVID?"), cwd).returncode == 65
    assert run_app(app, ["--bogus"], env, cwd).returncode == 64
    broken = cwd.parent / "broken.toml"
    broken.write_text("[[routes]\n", encoding="utf-8")
    result = run_app(app, [], {**env, "JP1NOTIFY_CONFIG": str(broken)}, cwd)
    assert result.returncode == 78 and "TOML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_changed_config_is_validated_by_the_frozen_pydantic(app: Path, cwd: Path):
    config = app / "config" / "jp1notify.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('language = "ja"', 'language = "fr"'),
        encoding="utf-8",
    )
    result = run_app(app, ["check-config"], bare_env(), cwd)
    assert result.returncode == 78
    assert "message.language: 'fr' is not allowed (allowed: ja, en)" in result.stderr


def test_queued_during_an_outage_then_flushed(app: Path, cwd: Path, slack: FakeSlack):
    env = bare_env(**use_fake_slack(app, slack), **event_env())
    slack.script("alerts", fakeslack.SERVER_ERROR)
    config = app / "config" / "jp1notify.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("max_wait_seconds = 10", "max_wait_seconds = 1"),
        encoding="utf-8",
    )
    queued = run_app(app, [], env, cwd)
    assert queued.returncode == 0 and "queued for alerts" in queued.stderr
    slack.script("alerts", fakeslack.OK)
    flushed = run_app(app, ["flush"], env, cwd)
    assert flushed.returncode == 0, flushed.stderr
    assert len(slack.payloads("alerts")) == 1


def test_the_frozen_app_threads_an_incident_at_a_bot_destination(app, cwd, tmp_path):
    """The bot kind, the incidents and the context command are imported only when needed: the
    frozen folder must carry them (build/pyinstaller.spec hiddenimports)."""
    from fakeslackapi import TOKEN, FakeSlackApi

    api = FakeSlackApi()
    try:
        (app / "config" / "jp1notify.toml").write_text(
            "[destinations.ops]\n"
            'kind = "slack_bot"\n'
            'token_env = "BOT_TOKEN"\n'
            'channel = "C0123ABCD"\n'
            f'api_url = "{api.api_url}"\n'
            "[[routes]]\n"
            'destination = "ops"\n'
            "[[runbooks]]\n"
            'text = "Rerun: ajsrerun -F {service} -a {jobnet}:{exec_id}"\n'
            "[context]\n"
            'command = ["echo", "context of {jobnet}"]\n',
            encoding="utf-8",
        )
        unit = "AJSROOT1:/PROD/NIGHT:@A5"
        failed = event_env(EVID="4104:0", EVMSG=f"KAVS0262-E jobnet ({unit}) ended abnormally")
        ended = event_env(
            EVID="4103:0", EVMSG=f"KAVS0261-I jobnet ({unit}) ended normally", EVTIME="03:13:05"
        )
        for event in (failed, ended):
            result = run_app(app, [], bare_env(BOT_TOKEN=TOKEN, **event), cwd)
            assert result.returncode == 0, result.stderr
        (parent,) = api.top_level()
        assert "ajsrerun -F AJSROOT1 -a /PROD/NIGHT:@A5" in json.dumps(parent.payload)
        assert "context of /PROD/NIGHT" in json.dumps(parent.payload)
        (reply,) = api.replies(parent.ts)
        assert "Recovered" in reply.payload["text"] and "1 h" in json.dumps(reply.payload)
        assert "[RESOLVED]" in parent.current["text"]
    finally:
        api.close()


def test_the_frozen_app_pings_a_healthchecks_check(app, cwd):
    """The healthchecks kind is imported only when needed: the frozen folder must carry it."""
    from fakehc import CHECK, FakeHealthchecks

    hc = FakeHealthchecks()
    try:
        (app / "config" / "jp1notify.toml").write_text(
            '[destinations.hc]\nkind = "healthchecks"\nping_url_env = "PING_URL"\n'
            '[[routes]]\ndestination = "hc"\n',
            encoding="utf-8",
        )
        started = event_env(EVID="4102:0", EVMSG="KAVS0260-I jobnet (AJSROOT1:/PROD/NIGHT:@A5)")
        result = run_app(app, [], bare_env(PING_URL=hc.url(), **started), cwd)
        assert result.returncode == 0, result.stderr
        (ping,) = hc.accepted()
        assert ping.signal == "start" and ping.rid and b"/PROD/NIGHT" in ping.body
        assert CHECK not in result.stdout + result.stderr
    finally:
        hc.close()


def test_the_frozen_app_watches_expected_runs_pings_and_reports(app, cwd, slack: FakeSlack):
    """watch, the heartbeat and report are imported only by their commands: the frozen folder
    must carry them (build/pyinstaller.spec hiddenimports)."""
    from fakeping import FakePing

    ping = FakePing()
    try:
        (app / "config" / "jp1notify.toml").write_text(
            '[message]\ntimezone = "Asia/Tokyo"\n'
            '[destinations.alerts]\nwebhook_url_env = "HOOK"\n'
            '[[routes]]\ndestination = "alerts"\n'
            '[[expect]]\nname = "nightly"\nunits = ["/PROD/NIGHT"]\nby = "06:00"\n'
            'destination = "alerts"\n'
            '[heartbeat]\nurl_env = "BEAT"\n',
            encoding="utf-8",
        )
        env = bare_env(HOOK=slack.url("alerts"), BEAT=ping.url)
        result = run_app(app, ["watch", "--now", "2026-11-24T06:30"], env, cwd)
        assert result.returncode == 0, result.stderr
        (alert,) = slack.payloads("alerts")
        assert "Expected run missing" in json.dumps(alert) and "/PROD/NIGHT" in json.dumps(alert)
        assert len(ping.pings) == 1
        report = run_app(app, ["report", "--json", "--now", "2026-11-24T12:00"], env, cwd)
        assert report.returncode == 0, report.stderr
        assert "/PROD/NIGHT" in report.stdout
    finally:
        ping.close()


def test_the_frozen_app_takes_overrides_from_the_environment(app: Path, cwd: Path, slack):
    """JP1NOTIFY_... variables are read by pydantic-settings, imported only when they are set:
    the frozen folder must carry it (and the asyncio it imports)."""
    shared = cwd.parent / "cluster-disk" / "data"
    env = bare_env(
        JP1NOTIFY_WEBHOOK_NOTICE=slack.url("notice"),
        JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL=slack.url("alerts"),
        JP1NOTIFY_OUTBOX__DATA_DIR=str(shared),
        **event_env(),
    )
    result = run_app(app, [], env, cwd)
    assert result.returncode == 0, result.stderr
    assert len(slack.payloads("alerts")) == 1
    assert (shared / "jp1notify.db").exists() and not (app / "data").exists()
    check = run_app(app, ["check-config"], env, cwd)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"JP1NOTIFY_OUTBOX__DATA_DIR sets outbox.data_dir = {shared}" in check.stdout
    for path in [*app.rglob("*.cache"), *app.rglob("*.log"), *shared.parent.rglob("*")]:
        if path.is_file():
            assert fakeslack.SECRET.encode() not in path.read_bytes(), path


@pytest.mark.skipif(os.name == "nt", reason="SSL_CERT_FILE is OpenSSL's; Windows has its store")
def test_the_frozen_app_verifies_tls_with_the_system_trust_store(
    app, cwd, https_slack, system_bundle
):
    """truststore is imported only on the TLS path: the frozen folder must carry it, and it
    must read OpenSSL's standard variable there (a CA added to the system store, no ca_file)."""
    (app / "config" / "jp1notify.toml").write_text(
        '[destinations.alerts]\nwebhook_url_env = "HOOK"\n[[routes]]\ndestination = "alerts"\n',
        encoding="utf-8",
    )
    env = bare_env(HOOK=https_slack.url("alerts"), SSL_CERT_FILE=str(system_bundle), **event_env())
    result = run_app(app, [], env, cwd)
    assert result.returncode == 0 and "delivered to alerts" in result.stderr, result.stderr
    assert len(https_slack.payloads("alerts")) == 1
    assert "trust store cannot be used" not in result.stderr
    checked = run_app(app, ["check-config"], env, cwd)
    assert (
        f"TLS: certificates verified with the system trust store (OpenSSL: file {system_bundle}"
        in checked.stdout
    )
    # The bundle docs/operators.md offers as ca_file where Windows lacks a root: it ships here.
    config = app / "config" / "jp1notify.toml"
    config.write_text(
        "[http]\nca_file = '../_internal/certifi/cacert.pem'\n"
        + config.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    checked = run_app(app, ["check-config"], env, cwd)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "plus http.ca_file " in checked.stdout and "cacert.pem" in checked.stdout
