"""Japanese messages carry no English fragments: problems are stored as codes and worded in
the destination's language when the message is rendered."""

from __future__ import annotations

import re

import pytest

from jp1notify.event import QUOTE_LIMIT, Event, Problem, describe_problems, parse_event

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack

ENGLISH = re.compile(r"\b(missing|not|found|format|cut|characters|held|bytes|expected|unit)\b")
GARBLED = {
    "EVID": "zz-9",
    "EVMSG": "KAVS0262-E cut off befo" + "x" * 2000,
    "EVDATE": "22/11/2026",
    "EVTIME": "2:13",
    "EVHOST": None,
    "EV:OBJECT_NAME": "AJSROOT1:/" + "N" * 1000,
    "EVENV1": "ok\udc81",
}


def test_every_problem_is_worded_in_both_languages():
    event = parse_event(event_env(**GARBLED))
    codes = {p.code for p in event.problems}
    assert codes == {"bad_event_id", "bad_format", "cut", "unit_cut", "bad_bytes"}
    english, japanese = describe_problems(event, "en"), describe_problems(event, "ja")
    assert len(english) == len(japanese) == len(event.problems) + 1  # + "missing: ..."
    assert english[0] == "missing: EVHOST" and japanese[0] == "欠落: EVHOST"
    for line in japanese:
        assert not ENGLISH.search(line), line


def test_no_unit_in_the_message_is_worded_in_japanese():
    event = parse_event({"EVID": "4104:0", "EVMSG": "KAVS0262-E 途中で切れた"})
    assert describe_problems(event, "ja")[-1] == "EVMSG にユニット名（/パス）が見つかりません"


def test_an_unknown_language_falls_back_to_english():
    event = parse_event({"EVID": "zz"})
    assert describe_problems(event, "fr")[-1].startswith("EVID 'zz' is not a JP1 event ID")


@pytest.mark.parametrize(("language", "opening", "closing"), [("en", "'", "'"), ("ja", "「", "」")])
def test_quoted_values_are_cut_to_sixty_characters(language, opening, closing):
    event = parse_event(event_env())._replace(
        problems=(Problem("bad_event_id", "EVID", "x" * 500),)
    )
    (line,) = describe_problems(event, language)
    quoted = line[line.index(opening) + 1 : line.index(closing, line.index(opening) + 1)]
    assert len(quoted) == QUOTE_LIMIT and quoted.endswith("…")


def test_problems_are_json_codes_and_round_trip():
    event = parse_event(event_env(**GARBLED))
    stored = event.to_dict()["problems"]
    assert {"code": "bad_format", "var": "EVTIME", "value": "2:13"} in stored
    assert Event.from_dict(event.to_dict()) == event


CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[outbox]
data_dir = "data"
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
language = "ja"
[[routes]]
destination = "alerts"
"""


def test_the_japanese_destinations_notes_are_japanese(tmp_path, slack: FakeSlack):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG, encoding="utf-8")
    values = {k: v for k, v in GARBLED.items() if k != "EVENV1"}
    env = clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env(**values))
    result = run([], env)
    assert result.returncode == 0, result.stderr
    (payload,) = slack.payloads("alerts")
    fields = {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}
    notes = fields["注意"]
    assert notes.startswith("欠落: EVHOST; ")
    assert "EVMSG は JP1 の上限 1023 文字で切り詰めました" in notes
    assert "EVDATE の値 「22/11/2026」 は JP1 の形式（yyyy/mm/dd）ではありません" in notes
    assert not ENGLISH.search(notes), notes
