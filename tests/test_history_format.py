"""`jp1notify history` lines and JSON rows: the event's own time with its zone, and the received
time when it differs. Rows are built as `Store.history` returns them, with the optional `event`
(a dict as `Event.to_dict()` returns, or the stored `event_json` text)."""

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jp1notify.event import parse_event
from jp1notify.history import event_time, format_row, json_row

from conftest import clean_env, event_env, run

TOKYO = ZoneInfo("Asia/Tokyo")
EVENT_AT = datetime(2026, 11, 22, 2, 13, 5, tzinfo=TOKYO).timestamp()


def stored_event(**values):
    env = {
        "EVID": "4104:0",
        "EVMSG": "KAVS0262-E jobnet (AJSROOT1:/PROD/DAILY/BACKUP:@A100) ended abnormally",
        "EVDATE": "2026/11/22",
        "EVTIME": "02:13:05",
        "EVHOST": "jp1mgr01",
    }
    env.update(values)
    return parse_event({k: v for k, v in env.items() if v is not None}).to_dict()


def row(received_at=EVENT_AT + 62.4, event="dict", **values):
    data = {
        "received_at": received_at,
        "event_id": "4104",
        "unit": "/PROD/DAILY/BACKUP",
        "exec_id": "@A100",
        "level": "error",
        "scope": "prod",
        "outcome": "routed",
        "rule": None,
        "messages": [
            {
                "destination": "alerts",
                "route": "prod",
                "state": "sent",
                "attempts": 1,
                "last_error": None,
                "sent_at": received_at + 1,
            }
        ],
    }
    if event == "dict":
        data["event"] = stored_event(**values)
    elif event == "json":
        data["event"] = json.dumps(stored_event(**values), ensure_ascii=False)
    return data


@pytest.mark.parametrize("form", ["dict", "json"])
def test_row_shows_the_event_time_with_its_zone_and_when_it_was_received(form):
    line = format_row(row(event=form), TOKYO)
    assert line.startswith("2026/11/22 02:13:05 JST (received 02:14:07)  error    4104 ")
    assert line.endswith("/PROD/DAILY/BACKUP @A100  alerts sent (1)")


def test_received_in_the_same_second_is_not_repeated():
    line = format_row(row(received_at=EVENT_AT + 0.9), TOKYO)
    assert line.startswith("2026/11/22 02:13:05 JST  error ")
    assert "received" not in line


def test_received_on_another_day_shows_its_date():
    line = format_row(row(received_at=EVENT_AT + 86400), TOKYO)
    assert line.startswith("2026/11/22 02:13:05 JST (received 2026/11/23 02:13:05)  error")


def test_received_before_the_event_time_is_shown_too():
    # The manager's clock ahead of this host's: worth seeing, not hiding.
    assert "(received 02:12:05)" in format_row(row(received_at=EVENT_AT - 60), TOKYO)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        (timezone(timedelta(hours=5, minutes=30)), "2026/11/22 02:13:05 UTC+05:30"),
        (UTC, "2026/11/22 02:13:05 UTC+00:00"),
    ],
)
def test_zone_without_an_abbreviation_is_shown_as_an_offset(zone, shown):
    received = datetime(2026, 11, 22, 2, 13, 5, tzinfo=zone).timestamp()
    assert format_row(row(received_at=received), zone).startswith(shown + "  error")


@pytest.mark.parametrize(
    ("values", "event"),
    [
        ({"EVDATE": None, "EVTIME": None}, "dict"),
        ({"EVDATE": "22.11.2026"}, "dict"),
        ({}, None),  # a store that does not return the event
    ],
)
def test_without_a_usable_event_time_the_received_time_is_shown(values, event):
    line = format_row(row(event=event, **values), TOKYO)
    assert line.startswith("received 2026/11/22 02:14:07 JST  error    4104 ")


def test_ignored_event_and_unknown_unit():
    data = row(outcome="ignored", EVMSG=None)
    data.update(outcome="ignored", rule="night batch", unit=None, exec_id=None, messages=[])
    line = format_row(data, TOKYO)
    assert line.endswith("error    4104   (unit unknown)  ignored (night batch)")


def test_json_row_gains_the_event_time_in_iso_8601():
    data = json_row(row(event="json"), TOKYO)
    assert data["event_time"] == "2026-11-22T02:13:05+09:00"
    assert data["event"]["host"] == "jp1mgr01"  # the stored JSON text, as an object
    assert data["received_at"] == EVENT_AT + 62.4
    json.dumps(data)  # still serialisable
    assert json_row(row(event=None), TOKYO)["event_time"] is None
    assert json_row(row(EVTIME="25:00:00"), TOKYO)["event_time"] is None


def test_event_time_is_read_in_the_configured_zone():
    fixed = timezone(timedelta(hours=1))
    assert event_time(row(), fixed) == datetime(2026, 11, 22, 2, 13, 5, tzinfo=fixed)
    assert event_time({"event": "not json"}, TOKYO) is None


def test_history_command_prints_times_and_event_time(tmp_path):
    config = tmp_path / "jp1notify.toml"
    config.write_text(
        '[message]\ntimezone = "Asia/Tokyo"\n[outbox]\ndata_dir = "data"\n'
        '[destinations.alerts]\nwebhook_url = "http://127.0.0.1:9/hook"\n'
        '[[ignore]]\nname = "everything"\nevent_ids = ["4104"]\n[[routes]]\ndestination = "alerts"\n',
        encoding="utf-8",
    )
    env = clean_env(**event_env(), JP1NOTIFY_CONFIG=str(config))
    assert run([], env).returncode == 0
    table = run(["history"], env)
    assert table.returncode == 0, table.stderr
    # The event's own time with its zone, then what happened to it.
    assert table.stdout.startswith("2026/11/22 02:13:05 JST (received ")
    assert table.stdout.rstrip().endswith("ignored (everything)")
    rows = [json.loads(line) for line in run(["history", "--json"], env).stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["event_time"] == "2026-11-22T02:13:05+09:00"
