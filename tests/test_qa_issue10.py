"""QA of issue 10: problems found by probing the new kinds, --set and route windows."""

from __future__ import annotations

import pytest
from fakegeneric import Answer, FakeGeneric

from jp1notify.actionargs import Encoding, Setting, event_from_settings
from jp1notify.delivery import Disposition
from jp1notify.destinations import alertmanager as am

from conftest import clean_env, event_env, run

ALERTS = "/api/v2/alerts"

ABEND = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/DAILY:@A100)が異常終了しました"


def test_a_message_cannot_smuggle_a_second_evid_past_the_real_one():
    """The documented action ends with --set "EVMSG=$EVMSG": a message holding
    `" --set EVID=4103:0 "` splits the command line into one more --set EVID after the real
    one. It must not turn an abnormal end into a normal end (that resolves the incident)."""
    settings = [
        Setting("EVID", "4104:0", Encoding.PLAIN),
        Setting("EVMSG", ABEND + " x", Encoding.PLAIN),
        Setting("EVID", "4103:0", Encoding.PLAIN),  # split off the message by its quote
    ]
    event = event_from_settings(settings)
    assert event.event_id == "4104"
    notes = [(p.code, p.value) for p in event.problems]
    assert ("stray_words", "--set EVID=4103:0") in notes


# -- Alertmanager: a proxy's or portal's HTML page is not Alertmanager's answer ----------------

AM_CONFIG = """
[message]
language = "en"
[http]
timeout_seconds = 1
max_attempts = 1
retry_budget_seconds = 2
[outbox]
data_dir = "data"
max_wait_seconds = 1
[log]
dir = "logs"
[destinations.am]
kind = "alertmanager"
urls = ["http://127.0.0.1:{port}"]
[[routes]]
destination = "am"
"""
PORTAL = "<html><head><title>Guest Wi-Fi login</title></head><body>Sign in</body></html>"


def test_a_portal_page_with_200_leaves_the_alert_queued(tmp_path):
    """A captive portal or proxy answering 200 with its HTML page did not give the alert to
    Alertmanager (API v2 answers 200 with an empty or JSON body): retried, as Teams and
    PagerDuty do, not "delivered" and lost."""
    fake = FakeGeneric()
    try:
        fake.script(ALERTS, Answer(200, PORTAL, {"Content-Type": "text/html"}))
        config = tmp_path / "jp1notify.toml"
        config.write_text(AM_CONFIG.format(port=fake.server.server_address[1]), encoding="utf-8")
        env = clean_env(JP1NOTIFY_CONFIG=str(config), **event_env())
        result = run(["send"], env)
        assert "delivered" not in result.stderr
        assert "Guest Wi-Fi login" in result.stderr  # the page's title, said
        assert "queued for am" in result.stderr
    finally:
        fake.close()


@pytest.mark.parametrize(
    ("status", "disposition"),
    [
        (200, Disposition.RETRY),
        (202, Disposition.RETRY),
        (400, Disposition.REFUSED),
        (404, Disposition.REFUSED),
    ],
)
def test_html_pages_are_not_alertmanager_answers(status, disposition):
    verdict = am.judge(status, PORTAL, {})
    assert verdict.disposition is disposition
    assert "not Alertmanager's" in verdict.reason


# -- send --set: a value split by its quote must not become an option -------------------------

SEND_CONFIG = """
[message]
language = "en"
[http]
timeout_seconds = 1
max_attempts = 1
retry_budget_seconds = 2
[outbox]
data_dir = "data"
max_wait_seconds = 1
[log]
dir = "logs"
[destinations.hook]
kind = "webhook"
url = "{url}"
[[routes]]
destination = "hook"
"""


@pytest.mark.parametrize(
    "smuggled",
    [["--dry-run"], ["-h"], ["--help"], ["--config", "{other}"], ["--config={other}"]],
)
def test_words_split_off_a_message_are_not_options(tmp_path, smuggled):
    """JP1 substitutes $EVMSG into `--set "EVMSG=$EVMSG"`; a message holding
    `" --dry-run "` (or -h, or --config and another file) split the command line. The alert
    must still go to the configured destination, with the words as a note."""
    fake = FakeGeneric()
    try:
        config = tmp_path / "jp1notify.toml"
        config.write_text(SEND_CONFIG.format(url=fake.url("/real")), encoding="utf-8")
        other = tmp_path / "other.toml"
        other.write_text(SEND_CONFIG.format(url=fake.url("/other")), encoding="utf-8")
        words = [w.format(other=other) for w in smuggled]
        argv = ["send", "--set", "EVID=4104:0", "--set", "EVMSG=" + ABEND + " x", *words, ""]
        result = run(argv, clean_env(JP1NOTIFY_CONFIG=str(config)))
        assert "delivered to hook" in result.stderr, result.stdout + result.stderr
        assert len(fake.bodies("/real")) == 1
        assert fake.bodies("/other") == []
        assert "outside any --set" in result.stderr
    finally:
        fake.close()


def test_options_before_the_first_set_still_count(tmp_path):
    fake = FakeGeneric()
    try:
        config = tmp_path / "jp1notify.toml"
        config.write_text(SEND_CONFIG.format(url=fake.url("/real")), encoding="utf-8")
        argv = ["send", "--config", str(config), "--dry-run", "--set", "EVID=4104:0"]
        result = run([*argv, "--set=EVMSG=" + ABEND], clean_env())
        assert result.returncode == 0, result.stderr
        assert '"config"' in result.stdout
        assert fake.bodies("/real") == []
    finally:
        fake.close()


# -- webhook headers: a value HTTP cannot carry is a config error, named by key ----------------


def test_a_header_value_that_is_not_ascii_is_refused_by_check_config(tmp_path):
    """httpx sends header values as ASCII: `Bearer tök…` failed at each send as "the webhook
    URL cannot be used (UnicodeEncodeError); copy it again from Slack" (wrong key, wrong
    product) while check-config said OK."""
    fake = FakeGeneric()
    try:
        config = tmp_path / "jp1notify.toml"
        text = SEND_CONFIG.format(url=fake.url("/real"))
        config.write_text(
            text.replace(
                'url = "', 'headers = { Authorization = "Bearer tök-5ecret-abc" }\nurl = "'
            ),
            encoding="utf-8",
        )
        result = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config)))
        assert result.returncode != 0
        assert "destinations.hook.headers" in result.stderr + result.stdout
        assert "ASCII" in result.stderr + result.stdout
        assert "5ecret" not in result.stderr + result.stdout
    finally:
        fake.close()


# -- --set-b64 / --set-url: decoded bytes JP1 itself would never pass -------------------------


@pytest.mark.parametrize("option", ["--set-b64", "--set-url"])
def test_decoded_control_characters_reach_no_terminal_or_log(tmp_path, option):
    """JP1 turns control characters into spaces in what it substitutes (destinations.md 6.3);
    an encoded value bypasses that: NUL, ESC (a terminal's escape sequences: an OSC that sets
    the window title, a clear screen) must not reach stderr or the log file raw."""
    import base64
    from urllib.parse import quote

    fake = FakeGeneric()
    try:
        config = tmp_path / "jp1notify.toml"
        config.write_text(SEND_CONFIG.format(url=fake.url("/real")), encoding="utf-8")
        message = (
            "KAVS0262-E ジョブネット(AJSROOT1:/PROD/\x1b]0;pwn\x07X\x00Y:@A1)が\x1b[2J異常終了"
        )
        data = message.encode("utf-8")
        value = base64.b64encode(data).decode() if option == "--set-b64" else quote(data)
        argv = ["send", "--set", "EVID=4104:0", option, "EVMSG=" + value]
        result = run(argv, clean_env(JP1NOTIFY_CONFIG=str(config)))
        assert "delivered to hook" in result.stderr
        for written in [result.stderr.encode(), *(p.read_bytes() for p in tmp_path.rglob("*.log"))]:
            assert b"\x1b" not in written and b"\x00" not in written and b"\x07" not in written
        (body,) = fake.bodies("/real")
        assert body["event"]["message"].count(" ") >= message.count(" ") + 4
    finally:
        fake.close()
