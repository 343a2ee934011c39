import json
import re

import pytest

from jp1notify.classify import classify
from jp1notify.event import parse_event
from jp1notify.message import (
    FIELD_LIMIT,
    MAX_FIELDS,
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    escape,
    fit,
    render,
)
from jp1notify.routing import route

from conftest import MINIMAL, event_env, make_config

CONFIG = make_config(
    MINIMAL.replace('destination = "alerts"', 'destination = "alerts"\nmention = "here"')
)


def rendered(language="en", config=CONFIG, **env):
    values = {
        "EVID": "4104:0",
        "EVMSG": "KAVS0262-E jobnet (AJSROOT1:/PROD/DAILY/BACKUP:@A100) ended abnormally",
        "EVDATE": "2026/11/22",
        "EVTIME": "02:13:05",
        "EVHOST": "jp1mgr01",
        "EVIPADDR": "192.0.2.10",
    }
    values.update(env)
    event = parse_event({k: v for k, v in values.items() if v is not None})
    classification = classify(event, config)
    delivery = route(event, classification, config).deliveries[0]
    return render(
        event, classification, delivery.route.name, delivery.route.mentions, language, config
    )


def fields(result):
    return {f["title"]: f["value"] for f in result.payload["attachments"][0]["fields"]}


def test_english_message_shape():
    result = rendered()
    payload = result.payload
    attachment = payload["attachments"][0]
    assert payload["text"] == "<!here> [ERROR] Jobnet ended abnormally: /PROD/DAILY/BACKUP"
    assert attachment["color"] == "#D40E0D"
    assert (
        attachment["fallback"]
        == attachment["title"]
        == "[ERROR] Jobnet ended abnormally: /PROD/DAILY/BACKUP"
    )
    assert attachment["text"].startswith("KAVS0262-E jobnet")
    assert fields(result) == {
        "Event": "4104 Jobnet ended abnormally (KAVS0262-E)",
        "Unit": "/PROD/DAILY/BACKUP",
        "Execution ID": "@A100",
        "Scheduler service": "AJSROOT1",
        "Host": "jp1mgr01 (192.0.2.10)",
        "Date/time": "2026/11/22 02:13:05 JST (UTC+09:00)",
        "Scope": "other",
    }
    assert attachment["ts"] == 1795281185  # 2026-11-21T17:13:05Z
    assert result.truncated == ()


def test_japanese_labels():
    result = rendered("ja")
    assert result.payload["text"] == "<!here> [エラー] ジョブネット異常終了: /PROD/DAILY/BACKUP"
    assert set(fields(result)) >= {
        "イベント",
        "ユニット",
        "実行ID",
        "スケジューラーサービス",
        "ホスト",
        "発生日時",
    }


@pytest.mark.parametrize(
    ("evid", "color", "label"),
    [("4108:0", "#E8A317", "WARNING"), ("4103:0", "#2EB67D", "OK"), ("4102:0", "#439FE0", "INFO")],
)
def test_level_colours_and_labels(evid, color, label):
    result = rendered(EVID=evid)
    assert result.payload["attachments"][0]["color"] == color
    assert f"[{label}]" in result.payload["text"]


def test_configured_colour():
    config = make_config(
        MINIMAL.replace('timezone = "Asia/Tokyo"', 'colors = { error = "danger" }')
    )
    assert rendered(config=config).payload["attachments"][0]["color"] == "danger"


def test_event_text_cannot_ping_or_forge_links():
    hostile = "KAVS0262-E jobnet (AJSROOT1:/P/<!channel>&x:@A1) ended <!here> <@U123> <https://evil|ok> a>b"
    result = rendered(EVMSG=hostile, EVHOST="<!everyone>")
    wire = json.dumps(result.payload, ensure_ascii=False)
    for forbidden in ("<!channel>", "<!everyone>", "<@U123>", "<https://evil"):
        assert forbidden not in wire
    assert result.payload["text"].startswith("<!here> ")  # the configured mention only
    assert wire.count("<!here>") == 1
    assert "&lt;!channel&gt;&amp;x" in result.payload["attachments"][0]["title"]
    assert "a&gt;b" in result.payload["attachments"][0]["text"]


def test_long_text_is_cut_within_limits_and_marked():
    long_message = "KAVS0262-E jobnet (AJSROOT1:/P/N:@A1) " + "&" * 5000
    result = rendered(EVMSG=long_message, EVHOST="h" * 3000)
    attachment = result.payload["attachments"][0]
    assert len(attachment["text"]) <= MESSAGE_LIMIT and attachment["text"].endswith("…")
    assert attachment["text"][:-1].endswith("&amp;")  # never a half entity
    assert all(len(f["value"]) <= FIELD_LIMIT for f in attachment["fields"])
    assert set(result.truncated) == {"message"}  # EVHOST is cut at JP1's 255 by parse_event


def test_long_unit_path_keeps_its_end_in_the_title():
    path = "/" + "/".join(f"GROUP_{i:02d}_XXXXXXXXXXXXXXXX" for i in range(29)) + "/FAILED_JOB"
    result = rendered(EVMSG=f"KAVS0262-E jobnet (AJSROOT1:{path}:@A1) ended")
    title = result.payload["attachments"][0]["title"]
    assert len(title) <= TITLE_LIMIT and title.endswith("/FAILED_JOB")
    assert fields(result)["Unit"] == path


def test_missing_fields_are_visible_and_nothing_crashes():
    result = rendered(
        EVID="garbage", EVDATE=None, EVTIME=None, EVHOST="?AJS2EVHOST?", EVIPADDR=None
    )
    notes = fields(result)["Notes"]
    assert "missing: EVDATE, EVTIME, EVHOST, EVIPADDR" in notes and "'garbage'" in notes
    assert "ts" not in result.payload["attachments"][0]
    assert result.payload["text"].startswith("<!here> [ERROR] JP1 event: /PROD/DAILY/BACKUP")


def test_unknown_event_id_is_named_by_its_code():
    result = rendered(EVID="41FF:0", EVMSG="KAJS9999-W something (AJSROOT1:/A/B:@A1)")
    assert "[WARNING] Event 41FF: /A/B" in result.payload["text"]


def test_extra_fields_and_field_cap():
    config = make_config(
        MINIMAL.replace(
            'timezone = "Asia/Tokyo"',
            'extra_fields = ["EVUSR", "EVENV1", "EV:OBJECT_NAME", "EVGRP", "EVDETAIL"]',
        )
    )
    result = rendered(
        config=config,
        EVUSR="jp1admin",
        EVENV1="e1",
        **{"EV:OBJECT_NAME": "obj"},
        EVDETAIL="d",
        EVGRP="g",
    )
    got = fields(result)
    assert got["EVUSR"] == "jp1admin" and got["EVENV1"] == "e1" and got["EV:OBJECT_NAME"] == "obj"
    assert len(result.payload["attachments"][0]["fields"]) <= MAX_FIELDS


def test_fixed_offset_and_local_zone_time():
    config = make_config(MINIMAL.replace('"Asia/Tokyo"', '"+05:30"'))
    assert fields(rendered(config=config))["Date/time"] == "2026/11/22 02:13:05 UTC+05:30"


def test_escape_and_fit_helpers():
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert fit("abc", 3) == ("abc", False)
    assert fit("a&amp;b", 4) == ("a…", True)


def digest_items(specs):
    from jp1notify.message import DigestItem

    items = []
    for evid, unit, level, mentions in specs:
        event = parse_event(
            {
                "EVID": evid,
                "EVMSG": f"KAVS0000-E x (AJSROOT1:{unit}:@A1)",
                "EVDATE": "2026/11/22",
                "EVTIME": "02:13:05",
            }
        )
        items.append(DigestItem(event, level, mentions))
    return items


def test_digest_counts_levels_groups_jobs_under_their_jobnet_and_merges_mentions():
    from jp1notify.message import render_digest

    items = digest_items(
        [
            ("4108:0", "/DEV/N1", "warning", ()),
            ("4107:0", "/PROD/N2/JOB_A", "error", ("<!channel>",)),
            ("4104:0", "/PROD/N2", "error", ("<!channel>",)),
            ("4104:0", "/PROD/<!here>&", "error", ("<!subteam^S1>",)),
        ]
    )
    digest = render_digest(items, "en", CONFIG)
    payload = digest.payload
    assert payload["text"] == "<!channel> <!subteam^S1> [ERROR] 4 JP1 events: 3 ERROR, 1 WARNING"
    text = payload["attachments"][0]["text"]
    assert text.splitlines() == [
        "/PROD/N2",
        "  2026/11/22 02:13:05 JST [ERROR] 4107 Job ended abnormally JOB_A @A1",
        "    KAVS0000-E x (AJSROOT1:/PROD/N2/JOB_A:@A1)",
        "  2026/11/22 02:13:05 JST [ERROR] 4104 Jobnet ended abnormally @A1",
        "    KAVS0000-E x (AJSROOT1:/PROD/N2:@A1)",
        "/PROD/&lt;!here&gt;&amp;",
        "  2026/11/22 02:13:05 JST [ERROR] 4104 Jobnet ended abnormally @A1",
        "    KAVS0000-E x (AJSROOT1:/PROD/&lt;!here&gt;&amp;:@A1)",
        "/DEV/N1",
        "  2026/11/22 02:13:05 JST [WARNING] 4108 Jobnet ended with warning @A1",
        "    KAVS0000-E x (AJSROOT1:/DEV/N1:@A1)",
    ]
    assert payload["attachments"][0]["color"] == "#D40E0D"
    assert sorted(digest.included) == [0, 1, 2, 3]


def test_digest_in_japanese_and_per_jobnet_cap():
    from jp1notify.message import DIGEST_EVENTS_PER_JOBNET, render_digest

    items = digest_items([("4107:0", f"/PROD/N/JOB{i}", "error", ()) for i in range(8)])
    digest = render_digest(items, "ja", CONFIG)
    assert digest.payload["text"] == "[エラー] JP1イベント 8件: エラー 8"
    lines = digest.payload["attachments"][0]["text"].splitlines()
    assert len(lines) == 1 + 2 * DIGEST_EVENTS_PER_JOBNET + 1
    assert (
        lines[-1]
        == "  …このジョブネットではさらに 3 件のイベントがあります(詳細: jp1notify history)"
    )
    assert len(digest.included) == 8


def test_digest_keeps_to_slack_limits_and_defers_what_does_not_fit():
    from jp1notify.message import DIGEST_MAX_ATTACHMENTS, render_digest

    long_unit = "/PROD/" + "X" * 200
    items = digest_items([("4104:0", f"{long_unit}{i}", "error", ()) for i in range(400)])
    digest = render_digest(items, "en", CONFIG)
    attachments = digest.payload["attachments"]
    assert len(attachments) == DIGEST_MAX_ATTACHMENTS
    assert all(len(a["text"]) <= MESSAGE_LIMIT for a in attachments)
    assert 0 < len(digest.included) < 400  # the rest wait for the next digest
    assert digest.payload["text"].endswith(
        f"{len(digest.included)} JP1 events: {len(digest.included)} ERROR"
    )


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "[ERROR] Jobnet ended abnormally: (unit unknown)"),
        ("ja", "[エラー] ジョブネット異常終了: (ユニット不明)"),
    ],
)
def test_event_without_a_unit_says_so_in_the_title(language, title):
    result = rendered(language, EVMSG=None)
    assert result.payload["attachments"][0]["title"] == title
    assert result.payload["text"] == f"<!here> {title}"


@pytest.mark.parametrize(
    ("severity", "ja"),
    [
        ("Emergency", "緊急"),
        ("Alert", "警報"),
        ("Critical", "致命的"),
        ("Error", "エラー"),
        ("Warning", "警告"),
        ("Notice", "通知"),
        ("Information", "情報"),
        ("Debug", "デバッグ"),
        ("Unheard-of", "Unheard-of"),
    ],
)
def test_severity_is_translated_in_japanese_messages(severity, ja):
    assert fields(rendered("ja", EVSEV=severity))["重大度"] == ja
    assert fields(rendered("en", EVSEV=severity))["Severity"] == severity


def test_japanese_labels_have_no_english_words():
    from jp1notify.message import LABELS

    # Allowed: product and command names, placeholders, and "ID" as JP1's own screens write it.
    allowed = re.compile(r"jp1notify history|JP1|ID|EVMSG|\{[a-z]+\}")
    assert set(LABELS["ja"]) == set(LABELS["en"])
    for key, label in LABELS["ja"].items():
        assert not re.search(r"[A-Za-z]", allowed.sub("", label)), (key, label)


def test_an_unnamed_route_is_named_in_the_message_language():
    config = make_config(MINIMAL)
    event = parse_event(event_env())
    classification = classify(event, config)
    footer_ja = render(event, classification, "route #2", (), "ja", config).payload["attachments"][
        0
    ]["footer"]
    footer_en = render(event, classification, "route #2", (), "en", config).payload["attachments"][
        0
    ]["footer"]
    named = render(event, classification, "prod", (), "ja", config).payload["attachments"][0][
        "footer"
    ]
    assert footer_ja.endswith("ルート: ルート #2") and footer_en.endswith("route: route #2")
    assert named.endswith("ルート: prod")
