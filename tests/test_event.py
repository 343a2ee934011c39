import pytest

from jp1notify.event import (
    EventError,
    Problem,
    UnitRef,
    describe_problems,
    parse_event,
    parse_unit_in_message,
    parse_unit_name,
)


@pytest.mark.parametrize(
    ("raw", "basic", "extended"),
    [
        ("4104:0", "4104", "0000"),
        ("00004104:00000000", "4104", "0000"),
        ("410a:0", "410A", "0000"),
        ("0000410A:00000001", "410A", "0001"),
        ("4104", "4104", None),
    ],
)
def test_event_id_forms(raw, basic, extended):
    event = parse_event({"EVID": raw})
    assert (event.event_id, event.extended_id, event.raw_id) == (basic, extended, raw)
    assert event.problems == ()


@pytest.mark.parametrize("raw", ["zz", "4104:", ":0", "4104:0:0", "41 04", "123456789"])
def test_malformed_event_id_is_a_visible_problem_not_a_crash(raw):
    event = parse_event({"EVID": raw, "EVMSG": "KAVS0262-E x"})
    assert event.event_id is None
    assert Problem("bad_event_id", "EVID", raw) in event.problems
    assert any("EVID" in p and raw in p for p in describe_problems(event, "en"))


@pytest.mark.parametrize(
    ("message", "unit"),
    [
        (
            "KAVS0262-E ジョブネット(STK-MGR:/TEST_WORK/TAJIMA_TEST_HELLO:@P2944)が異常終了しました",
            UnitRef("STK-MGR", "/TEST_WORK/TAJIMA_TEST_HELLO", "@P2944"),
        ),
        (
            "KAVS0265-E The job (AJSROOT1:/net:@A100) ended abnormally.",
            UnitRef("AJSROOT1", "/net", "@A100"),
        ),
        ("KAVS0262-E ジョブネット(/G/N)が異常終了しました", UnitRef(None, "/G/N", None)),
        ("KAVS0262-E jobnet (AJSROOT1:/G/N) ended", UnitRef("AJSROOT1", "/G/N", None)),
        ("KAVS0262-E jobnet (/G/N:@A1) ended", UnitRef(None, "/G/N", "@A1")),
        (
            "KAVS0262-E ジョブネット（AJSROOT1:/本番/日次/売上集計:@A1）が異常終了しました",
            UnitRef("AJSROOT1", "/本番/日次/売上集計", "@A1"),
        ),
        # parentheses inside a unit name still parse when the execution ID closes the reference
        (
            "KAVS0265-E job (AJSROOT1:/G/NET(2)/JOB:@A7) ended",
            UnitRef("AJSROOT1", "/G/NET(2)/JOB", "@A7"),
        ),
        # a later parenthesised detail is not taken for the unit
        (
            "KAVS0265-E ジョブ(AJSROOT1:/G/N/J:@A1)が異常終了しました(戻り値:2)",
            UnitRef("AJSROOT1", "/G/N/J", "@A1"),
        ),
        ("no unit here (return code: 2)", UnitRef()),
    ],
)
def test_unit_reference_in_messages(message, unit):
    assert parse_unit_in_message(message) == unit


def test_deep_unit_path_keeps_every_level():
    path = "/" + "/".join(f"L{i}" for i in range(30))
    event = parse_event(
        {"EVID": "4104:0", "EVMSG": f"KAVS0262-E jobnet (AJSROOT1:{path}:@A1) ended"}
    )
    assert event.unit.path == path


def test_placeholders_count_as_missing():
    event = parse_event(
        {"EVID": "4104:0", "EVMSG": "?AJS2EVMSG?", "EVHOST": "?AJS2EVHOST?", "EVDATE": " "}
    )
    assert event.message is None and event.host is None and event.date is None
    assert set(event.missing) == {"EVMSG", "EVHOST", "EVDATE", "EVTIME", "EVIPADDR"}


def test_nothing_usable_is_an_event_error_that_says_how_to_fix_the_job():
    with pytest.raises(EventError, match="EVID=\\?AJS2EVID\\?"):
        parse_event({"EVID": "?AJS2EVID?", "EVMSG": "?AJS2EVMSG?", "PATH": "/bin"})


def test_optional_variables_extended_attributes_and_windows_case():
    event = parse_event(
        {
            "evid": "4107:0",
            "EVMSG": "KAVS0265-E job (AJSROOT1:/G/N/J:@A1) ended",
            "EVSEV": "Error",
            "EVDETAIL": "detail",
            "EVUSR": "jp1admin",
            "EVGRP": "ops",
            "EVPROCESSID": "-1",
            "EVENV1": "captured",
            "EV:OBJECT_NAME": "/G/N/J",
            "EV:PRODUCT_NAME": "/HITACHI/JP1/AJS",
            "EVUNKNOWN": "not read",
        }
    )
    assert event.event_id == "4107"
    assert (event.severity, event.detail, event.user, event.group, event.process_id) == (
        "Error",
        "detail",
        "jp1admin",
        "ops",
        "-1",
    )
    assert event.env == {"EVENV1": "captured"}
    assert event.attributes == {"OBJECT_NAME": "/G/N/J", "PRODUCT_NAME": "/HITACHI/JP1/AJS"}
    assert event.message_id == "KAVS0265-E"


def test_object_name_attribute_supplies_the_unit_when_the_message_has_none():
    event = parse_event(
        {"EVID": "4104:0", "EVMSG": "truncated mess", "EV:OBJECT_NAME": "AJSROOT2:/G/N"}
    )
    assert event.unit == UnitRef("AJSROOT2", "/G/N", None)


def test_garbled_date_and_missing_unit_are_noted():
    event = parse_event(
        {"EVID": "4104:0", "EVMSG": "KAVS0262-E cut off befo", "EVDATE": "22/11/2026"}
    )
    assert event.problems == (
        Problem("no_unit", "EVMSG"),
        Problem("bad_format", "EVDATE", "22/11/2026"),
    )
    assert describe_problems(event, "en") == [
        "missing: EVTIME, EVHOST, EVIPADDR",
        "no unit name (/path) found in EVMSG",
        "EVDATE '22/11/2026' is not in JP1's format (yyyy/mm/dd)",
    ]
    assert describe_problems(event, "ja") == [
        "欠落: EVTIME, EVHOST, EVIPADDR",
        "EVMSG にユニット名（/パス）が見つかりません",
        "EVDATE の値 「22/11/2026」 は JP1 の形式（yyyy/mm/dd）ではありません",
    ]


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("AJSROOT1:/G/N/J", UnitRef("AJSROOT1", "/G/N/J", None)),
        ("/G/N/J", UnitRef(None, "/G/N/J", None)),
        ("AJSROOT1:/G/N:@A1", UnitRef("AJSROOT1", "/G/N", "@A1")),
        ("garbage", UnitRef()),
    ],
)
def test_parse_unit_name(text, unit):
    assert parse_unit_name(text) == unit


def test_undecodable_posix_bytes_become_text_not_a_crash():
    sjis = "ジョブネット(/本番/N)が異常終了しました".encode("cp932").decode(
        "utf-8", "surrogateescape"
    )
    event = parse_event({"EVID": "4104:0", "EVMSG": sjis, "EVHOST": "\udcff\udcfe"})
    assert event.message == "ジョブネット(/本番/N)が異常終了しました"
    assert event.unit.path == "/本番/N"
    event.host.encode("utf-8")  # replaced, encodable
