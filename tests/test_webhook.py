"""`kind = "webhook"`: the installed `jp1notify` POSTs the documented JSON (docs/webhook-schema.md,
checked against docs/webhook-schema.json by a small validator below) to a real local fake
(tests/fakegeneric.py); the URL and the extra headers' values never appear in any output, log,
store or cache. The table of answers is tested as a function."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import fakegeneric
import pytest
from fakegeneric import FakeGeneric

from jp1notify.delivery import Disposition
from jp1notify.destinations.webhook import SCHEMA, judge

from conftest import ROOT, clean_env, event_env, jobnet_env, run

PATH = "/hooks/jp1"
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
[destinations.hook]
kind = "webhook"
{url}
headers = {{ Authorization = "{token}", X-Source = "jp1" }}
[[routes]]
name = "all"
destination = "hook"
"""
BY_ENV = 'url_env = "HOOK_URL"'
JSON_SCHEMA = json.loads((ROOT / "docs" / "webhook-schema.json").read_text(encoding="utf-8"))
SECRETS = (fakegeneric.SIG, fakegeneric.TOKEN.split()[1])


@pytest.fixture
def fake():
    server = FakeGeneric()
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path: Path, fake: FakeGeneric):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(url=BY_ENV, token=fakegeneric.TOKEN), encoding="utf-8")

    def env(**values: str) -> dict[str, str]:
        url = values.pop("HOOK_URL", fake.url(PATH))
        event = event_env(**values)
        extra = {"HOOK_URL": url} if url else {}
        return clean_env(JP1NOTIFY_CONFIG=str(config), **extra, **event)

    return config, env


def assert_no_secret(config: Path, *results: subprocess.CompletedProcess[str]) -> None:
    """The URL's signature and the Authorization token are in no byte written."""
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr
    files = [*(config.parent / "logs").glob("*"), *(config.parent / "data").glob("*")]
    files += config.parent.glob("*.cache")
    for path in files:
        for secret in SECRETS:
            assert secret.encode() not in path.read_bytes(), path


# -- docs/webhook-schema.json, checked by jsonschema (Draft 2020-12, as the file declares) ------


def errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """What `value` breaks of `schema` (a part of docs/webhook-schema.json: `$ref`s resolve
    against the whole document)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resource(JSON_SCHEMA["$id"], Resource.from_contents(JSON_SCHEMA))
    if schema is not JSON_SCHEMA:
        schema = {"$schema": JSON_SCHEMA["$schema"], "$ref": JSON_SCHEMA["$id"] + schema["$ref"]}
    validator = Draft202012Validator(schema, registry=registry)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
        for e in validator.iter_errors(value)
    ]


def test_the_schema_forbids_what_it_should():
    good = {"seconds": 1.5, "usual_seconds": None, "known_runs": 2, "slow": False}
    good["raised_from"] = None
    assert errors(good, {"$ref": "#/$defs/run"}) == []
    assert errors({**good, "slow": "no"}, {"$ref": "#/$defs/run"})
    assert errors({**good, "known_runs": True}, {"$ref": "#/$defs/run"})
    assert errors({k: v for k, v in good.items() if k != "seconds"}, {"$ref": "#/$defs/run"})
    assert errors({"schema": "jp1notify.event/v2"}, JSON_SCHEMA)


# -- through the installed command -----------------------------------------------------------


def test_an_event_is_posted_in_the_v1_schema_with_its_headers(setup, fake):
    config, env = setup
    hostile = "KAVS0262-E <at>x</at> [a](https://e) ジョブネット(AJSROOT1:/PROD/DAILY/BACKUP:@A100)"
    result = run([], env(EVMSG=hostile))
    assert result.returncode == 0, result.stderr
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["authorization"] == fakegeneric.TOKEN
    assert request.headers["x-source"] == "jp1"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    body = request.body
    assert errors(body, JSON_SCHEMA) == []
    assert (body["schema"], body["kind"], body["destination"]) == (SCHEMA, "event", "hook")
    assert body["event"]["message"] == hostile  # sent as parsed: the receiver escapes
    assert body["event"]["unit"] == {
        "service": "AJSROOT1",
        "path": "/PROD/DAILY/BACKUP",
        "exec_id": "@A100",
    }
    assert body["classification"] == {"level": "error", "scope": "other"}
    assert body["route"] == "all" and isinstance(body["id"], int)
    assert (
        body["incident"]["state"] == "open" and body["incident"]["jobnet"] == "/PROD/DAILY/BACKUP"
    )
    assert body["incident"]["opened_at"] == "2026-11-22T02:13:05+09:00"
    assert body["text"].startswith("[ERROR] Jobnet ended abnormally: /PROD/DAILY/BACKUP\n")
    assert body["sent_at"] and body["sent_at"][:2] == "20"
    assert "delivered to hook" in result.stderr
    assert_no_secret(config, result)


def test_a_recovery_carries_the_resolved_incident_and_the_run(setup, fake):
    config, env = setup
    started = jobnet_env("4102", "/PROD/N", "@A7", "2026/11/22", "01:50:00")
    failed = jobnet_env("4104", "/PROD/N", "@A7", "2026/11/22", "02:00:00")
    rerun = jobnet_env("4102", "/PROD/N", "@A7", "2026/11/22", "02:40:00")
    ended = jobnet_env("4103", "/PROD/N", "@A7", "2026/11/22", "03:10:00")
    for values in (started, failed, rerun, ended):
        assert run([], env(**values)).returncode == 0
    body = fake.bodies(PATH)[-1]
    assert errors(body, JSON_SCHEMA) == []
    assert body["kind"] == "recovery"
    incident = body["incident"]
    assert incident["state"] == "resolved" and incident["downtime_seconds"] == 4200
    assert incident["resolved_at"] == "2026-11-22T03:10:00+09:00"
    assert body["run"]["seconds"] == 1800 and body["run"]["slow"] is False
    assert body["text"].startswith("[OK] Recovered: /PROD/N\nrecovered after 1 h 10 min")


def test_queued_events_go_out_as_one_digest(setup, fake):
    config, env = setup
    for minute in range(5):
        values = jobnet_env("4104", f"/PROD/J{minute}", "@A1", "2026/11/22", f"02:0{minute}:00")
        run([], env(HOOK_URL="", **values))  # the URL is not readable yet: queued
    assert fake.requests == []
    flushed = run(["flush"], env())
    assert flushed.returncode == 0, flushed.stderr
    (body,) = fake.bodies(PATH)
    assert errors(body, JSON_SCHEMA) == []
    assert body["kind"] == "digest" and body["event"] is None
    assert [e["event"]["unit"]["path"] for e in body["events"]] == [f"/PROD/J{m}" for m in range(5)]
    assert body["classification"]["level"] == "error"
    assert body["text"].count("\n") == 4
    assert_no_secret(config, flushed)


def test_a_refusal_is_final_with_the_status_and_an_excerpt(setup, fake):
    config, env = setup
    leak = f"bad token {fakegeneric.TOKEN.split()[1]}"
    fake.script(PATH, fakegeneric.Answer(422, f'{{"error": "{leak}"}}'))
    result = run([], env())
    assert result.returncode == 69, result.stderr
    assert "the webhook refused the message: HTTP 422" in result.stderr
    assert "bad token" in result.stderr  # the excerpt, with the echoed token redacted
    assert len(fake.requests) == 1
    assert_no_secret(config, result)


def test_a_server_error_then_a_throttle_are_retried(setup, fake):
    config, env = setup
    fake.script(PATH, fakegeneric.SERVER_ERROR, fakegeneric.THROTTLED, fakegeneric.OK)
    result = run([], env())
    assert result.returncode == 0, result.stderr
    assert [r.status for r in fake.requests] == [502, 429, 200]
    assert fake.requests[0].body["event"] == fake.requests[2].body["event"]


def test_the_dry_run_shows_the_payload_without_secrets(setup, fake):
    config, env = setup
    result = run(["send", "--dry-run"], env())
    assert result.returncode == 0, result.stderr
    (message,) = json.loads(result.stdout)["messages"]
    assert message["kind"] == "webhook"
    payload = message["payload"]
    assert errors(payload, JSON_SCHEMA) == []
    assert payload["sent_at"] is None and payload["id"] is None
    assert fake.requests == []
    assert_no_secret(config, result)


def test_a_literal_url_and_headers_stay_out_of_the_config_cache(setup, fake):
    config, env = setup
    config.write_text(
        CONFIG.format(url=f'url = "{fake.url(PATH)}"', token=fakegeneric.TOKEN), encoding="utf-8"
    )
    results = [run([], env(HOOK_URL="")), run([], env(HOOK_URL="", EVTIME="03:00:00"))]
    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert config.with_name("jp1notify.toml.cache").exists()
    assert [r.headers["authorization"] for r in fake.requests] == [fakegeneric.TOKEN] * 2
    assert_no_secret(config, *results)


def test_check_config_lists_the_destination_and_its_header_names(setup):
    config, env = setup
    result = run(["check-config"], env())
    assert result.returncode == 0, result.stdout
    line = "  hook: webhook, environment variable HOOK_URL (readable), headers Authorization, "
    assert line + "X-Source (redacted)" in result.stdout
    assert_no_secret(config, result)


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        (
            'url_env = "U"',
            "url_env cannot be used with kind 'slack_webhook' (set kind = \"webhook\"",
        ),
        (
            'kind = "teams"\nwebhook_url_env = "U"\nheaders = { A = "b" }',
            "headers cannot be used with kind 'teams'",
        ),
        ('kind = "webhook"', "exactly one of url, url_env, url_file"),
        (
            'kind = "webhook"\nurl_env = "U"\nheaders = { "Content-Type" = "text/xml" }',
            "'Content-Type' is set by jp1notify itself",
        ),
        (
            'kind = "webhook"\nurl_env = "U"\nheaders = { "X Y" = "1" }',
            "'X Y' is not an HTTP header name",
        ),
        (
            'kind = "webhook"\nurl_env = "U"\nheaders = { X = "sEcReT\\nInjected: 1" }',
            "the value of header 'X' is empty or has a line break",
        ),
    ],
)
def test_config_mistakes_are_named_by_key(tmp_path, destination, said):
    path = tmp_path / "jp1notify.toml"
    path.write_text(
        f'[destinations.x]\n{destination}\n[[routes]]\ndestination = "x"\n', encoding="utf-8"
    )
    result = run(["check-config", "--config", str(path)], clean_env(U="https://example.com/h"))
    assert result.returncode == 78
    assert "destinations.x" in result.stderr + result.stdout
    assert said in result.stderr + result.stdout
    assert "sEcReT" not in result.stderr + result.stdout


def test_check_config_refuses_plain_http_to_another_host(setup):
    config, env = setup
    result = run(["check-config"], env(HOOK_URL="http://hooks.example.com/jp1"))
    assert result.returncode == 78
    assert "the URL from environment variable HOOK_URL must start with https://" in result.stdout
    assert "example.com/hook" in result.stdout


# -- the table of answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "disposition", "said"),
    [
        (200, "", {}, Disposition.DELIVERED, "HTTP 200"),
        (202, "queued", {}, Disposition.DELIVERED, "HTTP 202"),
        (204, "", {}, Disposition.DELIVERED, "HTTP 204"),
        (408, "", {}, Disposition.RETRY, "HTTP 408"),
        (429, "", {"retry-after": "7"}, Disposition.RETRY, "rate limited"),
        (500, "oops", {}, Disposition.RETRY, "HTTP 500, body 'oops'"),
        (503, "<html><title>Down</title>", {}, Disposition.RETRY, "'Down'"),
        (407, "", {}, Disposition.RETRY, "http.proxy"),
        (301, "", {"location": "https://x/"}, Disposition.RETRY, "does not follow redirects"),
        (400, '{"error":"bad"}', {}, Disposition.INVALID, "HTTP 400, body"),
        (401, "", {}, Disposition.INVALID, "HTTP 401, empty body"),
        (404, "no such hook", {}, Disposition.INVALID, "'no such hook'"),
        (422, "x" * 300, {}, Disposition.INVALID, "…"),
    ],
)
def test_each_answer_has_its_disposition(status, body, headers, disposition, said):
    verdict = judge(status, body, headers)
    assert verdict.disposition is disposition
    assert said in verdict.reason


def test_retry_after_is_honoured():
    assert judge(429, "", {"retry-after": "7"}).retry_after == 7.0
    assert judge(503, "", {"retry-after": "3"}).retry_after == 3.0
    assert judge(500, "", {}).retry_after is None


def test_the_documented_example_fits_the_schema():
    text = (ROOT / "docs" / "webhook-schema.md").read_text(encoding="utf-8")
    example = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert errors(example, JSON_SCHEMA) == []
    assert example["schema"] == SCHEMA
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")}
    assert set(JSON_SCHEMA["required"]) <= documented  # every top-level key has its row
