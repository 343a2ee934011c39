"""Bad bytes never lose an event: whatever the environment holds (CP932 bytes arriving as
surrogate escapes on POSIX, unpaired surrogates, bytes that are no text at all), every string
of the parsed event is UTF-8 text, so the store, the log and Slack can take it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jp1notify.envfile import read_env_file
from jp1notify.event import Event, Problem, describe_problems, parse_event

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack


def escaped(data: bytes) -> str:
    """Bytes as a POSIX os.environ shows them when they are not valid UTF-8."""
    return data.decode("utf-8", "surrogateescape")


SJIS_A = escaped("あ".encode("cp932"))  # "\udc82\udca0"
HOSTILE = {
    "EV:" + SJIS_A: "name in CP932",
    "EV:\ud800LONE": "name with an unpaired surrogate",
    "EV:" + escaped(b"\xff\xfe"): "name that is no text at all",
    "EV:VALUE_SJIS": escaped("ジョブ表示".encode("cp932")),  # trail bytes in ASCII range
    "EV:VALUE_LONE": "x\udfffy",
    "EV:VALUE_BAD": escaped(b"ok \x81 \xfc"),  # a lead byte without its second byte
    "EV:VALUE_UTF8_CUT": escaped("ジョブ".encode()[:-1]),  # UTF-8 cut inside a character
    "EVENV1": escaped("本番".encode("cp932")),
    "EVHOST": escaped(b"host\x81"),
    "AJSJOBNAME": escaped("/JP1NOTIFY/監視/通知".encode("cp932")),
    "AJSEXECID": "\udc80",
}


def strings(value: Any) -> list[str]:
    """Every string inside a JSON-like value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings(item)]
    return []


def test_every_string_of_the_event_is_utf8_text():
    event = parse_event({**event_env(), **HOSTILE})
    for text in strings(event.to_dict()) + [event.dedup_key or ""]:
        text.encode("utf-8")  # raises on any surrogate left
    json.dumps(event.to_dict(), ensure_ascii=False).encode("utf-8")
    assert event.attributes["あ"] == "name in CP932"
    assert event.attributes["VALUE_SJIS"] == "ジョブ表示"
    assert event.attributes["VALUE_UTF8_CUT"] == "ジョ\ufffd"
    assert event.attributes["VALUE_LONE"] == "x\ufffdy"
    assert event.attributes["VALUE_BAD"].startswith("ok ")
    assert event.env == {"EVENV1": "本番"}
    assert event.self_job == "/JP1NOTIFY/監視/通知"
    assert "\ufffdLONE" in event.attributes


def test_replaced_bytes_are_a_visible_problem_cp932_is_not():
    event = parse_event({**event_env(), **HOSTILE})
    flagged = {p.var for p in event.problems if p.code == "bad_bytes"}
    assert {"EVHOST", "EV:VALUE_BAD", "EV:VALUE_LONE", "EV:\ufffdLONE"} <= flagged
    assert not flagged & {"EV:あ", "EV:VALUE_SJIS", "EVENV1"}
    assert "EVHOST held bytes that are not text" in "; ".join(describe_problems(event, "en"))


@pytest.mark.parametrize(
    "value",
    ["\ud800", "\udc00\udbff", escaped(b"\x81"), escaped(b"\x80\xff" * 50), "a\udc82\ud800b"],
)
def test_any_surrogate_mix_becomes_text(value):
    event = parse_event({"EVID": "4104:0", "EVMSG": value, "EV:" + value: value})
    for text in strings(event.to_dict()):
        text.encode("utf-8")


def test_event_with_bad_bytes_round_trips_through_json():
    event = parse_event({**event_env(), **HOSTILE})
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_env_file_in_cp932_with_a_stray_byte_is_read_not_refused(tmp_path):
    path = tmp_path / "sjis.env"
    path.write_bytes(
        "EVID=4104:0\nEVMSG=KAVS0262-E ジョブネット(/本番/日次)が異常終了しました\n".encode("cp932")
        + b"EVHOST=h\x81\nEV:"
        + "名前".encode("cp932")
        + b"=v\n"
    )
    event = parse_event(read_env_file(path))
    assert event.message == "KAVS0262-E ジョブネット(/本番/日次)が異常終了しました"
    assert event.unit.path == "/本番/日次"
    assert event.attributes == {"名前": "v"}
    assert Problem("bad_bytes", "EVHOST") in event.problems


def test_env_file_in_utf16_is_read(tmp_path):
    path = tmp_path / "utf16.env"
    path.write_text("EVID=4104:0\nEVMSG=ジョブネット(/A/B)が異常終了\n", encoding="utf-16")
    assert read_env_file(path)["EVMSG"] == "ジョブネット(/A/B)が異常終了"


# -- the installed command, as JP1 runs it on a POSIX agent ---------------------------------------

CONFIG = """
[message]
language = "ja"
timezone = "Asia/Tokyo"
extra_fields = ["EV:{name}"]
[outbox]
data_dir = "data"
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""

MESSAGE = "KAVS0262-E ジョブネット(AJSROOT1:/本番/日次:@A1)が異常終了しました"
posix_only = pytest.mark.skipif(os.name == "nt", reason="a bytes environment is POSIX only")


def bytes_env(config: Path, slack: FakeSlack) -> dict[Any, Any]:
    """The event with CP932 bytes in names and values and bytes that are no text, as bytes."""
    env: dict[Any, Any] = clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"))
    env.update({k: v for k, v in event_env().items() if k not in ("EVMSG", "EVHOST")})
    env[b"EVMSG"] = MESSAGE.encode("cp932")
    env[b"EV:" + "属性".encode("cp932")] = "値".encode("cp932")
    env[b"EV:\xff\xfe"] = b"\x82"
    env[b"EVHOST"] = b"host\x81"
    env[b"AJSJOBNAME"] = "/JP1NOTIFY/監視/通知".encode("cp932")
    return env


@posix_only
@pytest.mark.parametrize("args", [[], ["--dry-run"]])
def test_send_delivers_an_event_with_bad_bytes_in_names_and_values(tmp_path, slack, args):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(name="属性"), encoding="utf-8")
    result = run(args, bytes_env(config, slack))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if args:
        event = json.loads(result.stdout)["event"]
        assert event["attributes"]["属性"] == "値"
        return
    (payload,) = slack.payloads("alerts")
    attachment = payload["attachments"][0]
    assert attachment["text"] == MESSAGE
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["EV:属性"] == "値"
    assert "EVHOST" in fields["注意"] and "held bytes" not in fields["注意"]
    history = run(["history", "--json"], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert history.returncode == 0 and "/本番/日次" in history.stdout
