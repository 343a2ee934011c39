"""Dedup without facts: the same event recorded twice is sent once, two different failures are
never merged. EVDATE+EVTIME identify an event; without them the notifier job's own run does
(AJSEXECID, AJSEXECPID, ...); without either there is no key and nothing is a duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jp1notify.event import Event, Problem, describe_problems, parse_event

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack

RUN = {"AJS_AJSCONF": "AJSROOT1", "AJSNETNAME": "/JP1NOTIFY/MONITOR", "AJSEXECPID": "@A12"}


def test_with_date_and_time_the_key_is_unchanged():
    """The key of earlier versions, so that their records still catch a duplicate."""
    event = parse_event({**event_env(), **RUN, "AJSEXECID": "5"})
    assert event.dedup_key == "4104|jp1mgr01|AJSROOT1|/PROD/DAILY/BACKUP|@A100|2026/11/22|02:13:05"


def test_without_date_time_or_run_there_is_no_key():
    assert parse_event(event_env(EVDATE=None, EVTIME=None)).dedup_key is None
    assert parse_event(event_env(EVTIME=None)).dedup_key is None
    assert parse_event({**event_env(EVTIME=None), "AJSNETNAME": "/N"}).dedup_key is None


@pytest.mark.parametrize("var", ["AJSEXECID", "AJSEXECPID"])
def test_without_date_time_the_notifier_run_tells_events_apart(var):
    def key(**run: str) -> str | None:
        return parse_event({**event_env(EVDATE=None, EVTIME=None), **run}).dedup_key

    first, again = key(**{var: "@A1"}), key(**{var: "@A1"})
    assert first is not None and first == again  # a rerun of the same notifier job
    assert key(**{var: "@A2"}) != first  # the next generation: another failure
    assert key(**{var: "@A1", "AJSNETNAME": "/OTHER"}) != first
    assert key(**{var: "@A1", "AJS_AJSCONF": "AJSROOT2"}) != first


def test_run_identity_is_part_of_the_event_and_survives_the_store():
    event = parse_event({**event_env(EVDATE=None), **RUN, "ajsexecid": "123"})
    assert event.run_id == (
        "AJS_AJSCONF=AJSROOT1;AJSNETNAME=/JP1NOTIFY/MONITOR;AJSEXECPID=@A12;AJSEXECID=123"
    )
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_an_event_stored_by_the_previous_version_is_read():
    """No run_id, problems as English sentences: they become codes, so a Japanese message
    shows them in Japanese."""
    event = parse_event(event_env(EVID="zz", EVDATE="22/11/2026", EVMSG="KAVS0262-E cut"))
    old = event.to_dict()
    del old["run_id"]
    old["problems"] = [
        "EVID 'zz' is not a JP1 event ID (expected e.g. 4104:0)",
        "no unit name (/path) found in EVMSG",
        "EVDATE '22/11/2026' is not in JP1's format",
        "something an older version said",
    ]
    read = Event.from_dict(json.loads(json.dumps(old)))
    assert read.run_id is None
    assert read.problems == (
        Problem("bad_event_id", "EVID", "zz"),
        Problem("no_unit", "EVMSG"),
        Problem("bad_format", "EVDATE", "22/11/2026"),
        Problem("legacy", "", "something an older version said"),
    )
    assert describe_problems(read, "ja") == [
        "EVID の値 「zz」 は JP1 のイベントIDではありません（例: 4104:0）",
        "EVMSG にユニット名（/パス）が見つかりません",
        "EVDATE の値 「22/11/2026」 は JP1 の形式（yyyy/mm/dd）ではありません",
        "something an older version said",
    ]


def test_keys_a_newer_version_adds_are_ignored():
    data = parse_event(event_env()).to_dict()
    data["added_later"] = 1
    assert Event.from_dict(data) == parse_event(event_env())


# -- the installed command -----------------------------------------------------------------------

CONFIG = """
[outbox]
data_dir = "data"
max_wait_seconds = 3
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""


def env_for(tmp_path: Path, slack: FakeSlack, **values: object) -> dict[str, str]:
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env(**values))


def send_twice(first: dict[str, str], second: dict[str, str]) -> list[str]:
    results = [run([], first), run([], second)]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    return [r.stderr for r in results]


def test_a_reruns_second_failure_without_date_time_is_sent(tmp_path, slack):
    """Same jobnet, same execution ID (a rerun keeps it), EVDATE/EVTIME not mapped."""
    env = env_for(tmp_path, slack, EVDATE=None, EVTIME=None)
    stderr = send_twice(env, env)
    assert "already recorded" not in stderr[1]
    assert len(slack.payloads("alerts")) == 2


def test_two_generations_of_the_monitoring_jobnet_are_two_events(tmp_path, slack):
    env = env_for(tmp_path, slack, EVDATE=None, EVTIME=None, **RUN)
    stderr = send_twice({**env, "AJSEXECID": "101"}, {**env, "AJSEXECID": "102"})
    assert "already recorded" not in stderr[1]
    assert len(slack.payloads("alerts")) == 2


def test_a_rerun_of_the_same_notifier_job_is_a_duplicate(tmp_path, slack):
    env = {**env_for(tmp_path, slack, EVDATE=None, EVTIME=None, **RUN), "AJSEXECID": "101"}
    stderr = send_twice(env, env)
    assert "was already recorded at" in stderr[1]
    assert len(slack.payloads("alerts")) == 1


def test_without_unit_and_message_date_and_time_do_not_merge_different_events():
    base = {"EVID": "4104:0", "EVDATE": "2026/11/22", "EVTIME": "02:00:00", "EVHOST": "jp1mgr01"}
    assert parse_event(base).dedup_key is None
    first = parse_event({**base, "AJSEXECID": "@X0"}).dedup_key
    second = parse_event({**base, "AJSEXECID": "@X1"}).dedup_key
    assert first and second and first != second
