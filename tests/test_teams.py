"""`kind = "teams"`: the installed `jp1notify` posts Adaptive Cards to a real local fake of a
Workflows trigger (tests/fakegeneric.py); the URL's signature never appears in any output, log,
store or cache. The card's shape, the escaping of hostile event text, the size limit and the
table of answers are tested as functions too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import fakegeneric
import pytest
from fakegeneric import FakeGeneric

from jp1notify.classify import Classification
from jp1notify.delivery import Disposition
from jp1notify.destinations import Item
from jp1notify.destinations.teams import (
    CARD_TYPE,
    CARD_VERSION,
    SIZE_LIMIT,
    escape_markdown,
    judge,
    payload_size,
    render_event,
)
from jp1notify.event import parse_event

from conftest import clean_env, event_env, jobnet_env, make_config, run

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
[destinations.teams]
kind = "teams"
{url}
[[routes]]
name = "ops"
destination = "teams"
[[runbooks]]
units = ["/PROD/**"]
text = "Check the log, then run ajsrerun {{jobnet}}"
url = "https://wiki.example.co.jp/jp1/rerun"
"""
BY_ENV = 'webhook_url_env = "TEAMS_URL"'
HOSTILE = (
    "KAVS0262-E [click here](https://evil.example/x) **now** _x_ <at>Boss</at> @everyone "
    "ジョブネット(AJSROOT1:/PROD/DAILY/BACKUP:@A100)が異常終了しました"
)


@pytest.fixture
def fake():
    server = FakeGeneric()
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path: Path, fake: FakeGeneric):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(url=BY_ENV, language="en"), encoding="utf-8")

    def env(**values: str) -> dict[str, str]:
        url = values.pop("TEAMS_URL", fake.url())
        extra = {"TEAMS_URL": url} if url else {}
        return clean_env(JP1NOTIFY_CONFIG=str(config), **extra, **event_env(**values))

    return config, env


def assert_no_signature(config: Path, *results: subprocess.CompletedProcess[str]) -> None:
    secret = fakegeneric.SIG
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
        assert secret not in result.stdout + result.stderr
    files = [*(config.parent / "logs").glob("*"), *(config.parent / "data").glob("*")]
    files += config.parent.glob("*.cache")
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == CARD_TYPE and attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", CARD_VERSION)
    return card


def texts(card: dict[str, Any]) -> list[str]:
    """Every text the card shows, with the element type that carries it."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("TextBlock", "TextRun"):
                found.append(f"{node['type']}: {node['text']}")
            for fact in node.get("facts", []):
                found.append(f"Fact: {fact['title']} = {fact['value']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card["body"])
    return found


# -- through the installed command -----------------------------------------------------------


def test_an_abnormal_end_is_a_red_card_with_facts_message_and_runbook(setup, fake):
    config, env = setup
    result = run([], env(EVMSG=HOSTILE))
    assert result.returncode == 0, result.stderr
    (request,) = fake.requests
    assert request.query.endswith(f"sig={fakegeneric.SIG}")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    card = card_of(request.body)
    head = card["body"][0]
    assert (head["type"], head["style"]) == ("Container", "attention")
    (title,) = head["items"][0]["inlines"]
    assert title["text"] == "[ERROR] Jobnet ended abnormally: /PROD/DAILY/BACKUP"
    assert title["type"] == "TextRun" and title["color"] == "attention"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Unit"] == "/PROD/DAILY/BACKUP" and facts["Execution ID"] == "@A100"
    assert facts["Host"] == "jp1mgr01 (192.0.2.10)"
    assert facts["Date/time"] == "2026/11/22 02:13:05 JST (UTC+09:00)"
    assert facts["Level"] == "ERROR" and facts["Scope"] == "other"
    shown = texts(card)
    assert f"TextRun: {HOSTILE}" in shown  # shown as is: a TextRun is never Markdown
    assert "TextRun: Check the log, then run ajsrerun /PROD/DAILY/BACKUP" in shown
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Runbook",
            "url": "https://wiki.example.co.jp/jp1/rerun",
        }
    ]
    assert "msteams" in card and "entities" not in card["msteams"]  # no mention, ever
    assert "delivered to teams" in result.stderr
    assert_no_signature(config, result)


def test_no_markdown_text_carries_event_text_unescaped(setup, fake):
    """Hostile text in a place Teams parses as Markdown (TextBlock, Fact) is escaped: no link,
    emphasis or <at> form survives; only TextRuns carry it raw."""
    config, env = setup
    assert run([], env(EVMSG=HOSTILE, EVHOST="[h](https://evil.example)_*")).returncode == 0
    card = card_of(fake.bodies()[0])
    for text in texts(card):
        if text.startswith("TextRun"):
            continue
        assert "](" not in text.replace("\\](", "")
        assert "<at>" not in text and "**" not in text
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Host"] == "\\[h\\](https://evil.example)\\_\\* (192.0.2.10)"


def test_a_recovery_is_a_short_green_card(setup, fake):
    config, env = setup
    failed = jobnet_env("4104", "/PROD/N", "@A7", "2026/11/22", "02:00:00")
    ended = jobnet_env("4103", "/PROD/N", "@A7", "2026/11/22", "03:10:00")
    assert run([], env(**failed)).returncode == 0
    result = run([], env(**ended))
    assert result.returncode == 0, result.stderr
    card = card_of(fake.bodies()[-1])
    assert card["body"][0]["style"] == "good"
    shown = texts(card)
    assert shown[0] == "TextRun: [OK] Recovered: /PROD/N"
    assert shown[1].startswith("TextRun: recovered after 1 h 10 min, first failed")
    assert "actions" not in card and not any(t.startswith("Fact") for t in shown)
    assert_no_signature(config, result)


def test_a_japanese_destination_gets_japanese_labels(setup, fake):
    config, env = setup
    config.write_text(CONFIG.format(url=BY_ENV, language="ja"), encoding="utf-8")
    assert run([], env()).returncode == 0
    card = card_of(fake.bodies()[0])
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["ユニット"] == "/PROD/DAILY/BACKUP" and facts["レベル"] == "エラー"


def test_queued_events_go_out_as_one_digest_card(setup, fake):
    config, env = setup
    for minute in range(5):
        values = jobnet_env("4104", f"/PROD/J{minute}", "@A1", "2026/11/22", f"02:0{minute}:00")
        run([], env(TEAMS_URL="", **values))  # the URL is not readable yet: queued
    flushed = run(["flush"], env())
    assert flushed.returncode == 0, flushed.stderr
    (body,) = fake.bodies()
    card = card_of(body)
    assert card["body"][0]["style"] == "attention"
    shown = texts(card)
    assert shown[0] == "TextRun: [ERROR] 5 JP1 events: 5 ERROR"
    for minute in range(5):
        assert f"TextRun: /PROD/J{minute}\n" in shown
    assert_no_signature(config, flushed)


def test_a_bad_card_dies_alone(setup, fake):
    config, env = setup
    fake.script(fakegeneric.FLOW_PATH, fakegeneric.BAD_CARD)
    result = run([], env())
    assert result.returncode == 69, result.stderr
    assert "Teams answered HTTP 400 (InvalidRequestContent): the workflow refused the card" in (
        result.stderr
    )
    assert_no_signature(config, result)


def test_a_disabled_flow_is_final_for_the_destination_with_the_next_step(setup, fake):
    config, env = setup
    fake.script(fakegeneric.FLOW_PATH, fakegeneric.FLOW_OFF)
    result = run([], env())
    assert result.returncode == 69, result.stderr
    assert "(WorkflowTriggerIsNotEnabled)" in result.stderr
    assert "check that it is turned on" in result.stderr
    assert_no_signature(config, result)


def test_a_throttle_and_a_bad_gateway_are_retried(setup, fake):
    config, env = setup
    path = fakegeneric.FLOW_PATH
    fake.script(path, fakegeneric.THROTTLED, fakegeneric.SERVER_ERROR, fakegeneric.ACCEPTED)
    result = run([], env())
    assert result.returncode == 0, result.stderr
    assert [r.status for r in fake.requests] == [429, 502, 202]
    assert fake.requests[0].body == fake.requests[2].body


def test_the_dry_run_shows_the_card_without_the_url(setup, fake):
    config, env = setup
    result = run(["send", "--dry-run"], env(EVMSG=HOSTILE))
    assert result.returncode == 0, result.stderr
    (message,) = json.loads(result.stdout)["messages"]
    assert message["kind"] == "teams" and message["truncated"] == []
    card_of(message["payload"])
    assert fake.requests == []
    assert_no_signature(config, result)


def test_a_literal_url_stays_out_of_the_config_cache(setup, fake):
    config, env = setup
    url = f'webhook_url = "{fake.url()}"'
    config.write_text(CONFIG.format(url=url, language="en"), encoding="utf-8")
    results = [run([], env(TEAMS_URL="")), run([], env(TEAMS_URL="", EVTIME="03:00:00"))]
    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert config.with_name("jp1notify.toml.cache").exists()
    assert len(fake.bodies(status=202)) == 2
    assert_no_signature(config, *results)


def test_check_config_lists_a_teams_destination(setup):
    config, env = setup
    result = run(["check-config"], env())
    assert result.returncode == 0, result.stdout
    assert "  teams: teams, environment variable TEAMS_URL (readable)" in result.stdout
    assert_no_signature(config, result)


def test_any_https_host_is_taken(setup):
    """Workflow URLs moved from logic.azure.com to api.powerplatform.com: no host check."""
    config, env = setup
    for host in ("prod-01.japaneast.logic.azure.com", "x.environment.api.powerplatform.com"):
        url = f"https://{host}/workflows/1/triggers/manual/paths/invoke?sig={fakegeneric.SIG}"
        result = run(["check-config"], env(TEAMS_URL=url))
        assert result.returncode == 0, result.stdout
        assert_no_signature(config, result)


# -- pure parts ------------------------------------------------------------------------------


def test_escape_markdown_leaves_no_markup():
    assert escape_markdown("[a](https://e)") == "\\[a\\](https://e)"
    assert escape_markdown("**b** _i_ ~s~ `c`") == "\\*\\*b\\*\\* \\_i\\_ \\~s\\~ \\`c\\`"
    assert escape_markdown("<at>x</at>") == "\\<at\\>x\\</at\\>"
    assert escape_markdown("a\\[b") == "a\\\\\\[b"  # a backslash cannot undo an escape
    assert escape_markdown("- item\n# head") == "\\- item # head"
    assert escape_markdown("AJSROOT1:/PROD (UTC+09:00) @A100") == (
        "AJSROOT1:/PROD (UTC+09:00) @A100"  # JP1's everyday characters stay readable
    )


def _item(message: str, context: str | None = None) -> Item:
    event = parse_event(event_env(EVMSG=message))
    return Item(1, event, Classification("error", "", "prod"), "ops", (), "en", context=context)


def test_a_huge_card_is_cut_to_fit_and_says_so():
    from jp1notify.guidance import ContextResult

    config = make_config(
        CONFIG.format(url=BY_ENV, language="en").replace("{{jobnet}}", "{jobnet} " + "あ" * 1400)
    )
    context = ContextResult("ログ行 " * 5000).dumps()
    rendered = render_event(_item("メッセージ" * 300, context), config)
    assert payload_size(rendered.payload) <= SIZE_LIMIT
    assert "context" in rendered.truncated
    shown = texts(card_of(rendered.payload))
    assert any(t.endswith("…") for t in shown)
    small = render_event(_item("short"), config)
    assert small.truncated == () and payload_size(small.payload) < SIZE_LIMIT


@pytest.mark.parametrize(
    ("status", "body", "disposition", "said"),
    [
        (202, "", Disposition.DELIVERED, "accepted"),
        (200, "", Disposition.DELIVERED, "ok"),
        (200, "<html><title>Login</title>", Disposition.RETRY, "not Teams'"),
        (400, fakegeneric.BAD_CARD.body, Disposition.INVALID, "(InvalidRequestContent)"),
        (413, "", Disposition.INVALID, "larger than the workflow takes"),
        (401, "", Disposition.GONE, "signature"),
        (403, fakegeneric.FLOW_OFF.body, Disposition.GONE, "turned on"),
        (404, fakegeneric.NOT_FOUND.body, Disposition.GONE, "(WorkflowNotFound)"),
        (403, "<html><title>Blocked by proxy</title>", Disposition.REFUSED, "'Blocked by proxy'"),
        (429, "", Disposition.RETRY, "rate limited"),
        (408, "", Disposition.RETRY, "HTTP 408"),
        (500, "", Disposition.RETRY, "HTTP 500"),
        (502, fakegeneric.SERVER_ERROR.body, Disposition.RETRY, "'Bad Gateway'"),
        (407, "", Disposition.RETRY, "http.proxy"),
        (302, "", Disposition.RETRY, "do not redirect"),
        (409, "", Disposition.REFUSED, "not Teams'"),
    ],
)
def test_each_answer_has_its_disposition(status, body, disposition, said):
    verdict = judge(status, body, {})
    assert verdict.disposition is disposition
    assert said in verdict.reason


def test_retry_after_is_honoured():
    assert judge(429, "", {"retry-after": "9"}).retry_after == 9.0
    assert judge(503, "", {"retry-after": "4"}).retry_after == 4.0
    assert judge(500, "", {}).retry_after is None


def test_check_config_refuses_plain_http_to_another_host_in_teams_terms(setup):
    config, env = setup
    result = run(["check-config"], env(TEAMS_URL="http://prod-01.logic.azure.com/workflows/1"))
    assert result.returncode == 78
    said = "the webhook URL from environment variable TEAMS_URL must start with https://"
    assert said in result.stdout
    assert "/workflows/" in result.stdout and "slack" not in result.stdout.lower()


def test_a_storm_digest_stays_under_the_size_limit_and_leaves_the_rest_queued():
    from jp1notify.destinations.teams import render_digest
    from jp1notify.message import DigestItem

    config = make_config(CONFIG.format(url=BY_ENV, language="en"))

    def item(jobnet: int, minute: int) -> DigestItem:
        unit = f"AJSROOT1:/PROD/JOBNET{jobnet:03}:@A{minute}"
        message = f"KAVS0262-E ジョブネット({unit})が異常終了しました " + "詳細" * 90
        values = event_env(EVMSG=message, EVTIME=f"02:{minute:02}:00")
        return DigestItem(parse_event(values), "error", ())

    many = [item(j, m) for j in range(60) for m in range(2)]
    digest = render_digest(many, "en", config)
    assert payload_size(digest.payload) <= SIZE_LIMIT
    assert 0 < len(digest.included) < len(many)
    one_jobnet = [item(1, m) for m in range(7)]
    shown = texts(card_of(render_digest(one_jobnet, "en", config).payload))
    assert any("…and 2 more events of this jobnet" in t for t in shown)


def test_a_cut_message_is_said_in_its_own_destinations_terms():
    from jp1notify.destinations import shortened

    assert shortened("ops", "teams", ["message"]) == "to ops shortened to fit Teams: message"
    assert shortened("a", "slack_webhook", ("message", "context")).endswith(
        "Slack: message, context"
    )
