"""Digests an on-call engineer can act on: every event with its time and zone, host and JP1
message, in time order; one broadcast mention; nothing hidden, within Slack's limits."""

import re

import pytest

from jp1notify.event import parse_event
from jp1notify.message import (
    DIGEST_EVENTS_PER_JOBNET,
    DIGEST_JP1_MESSAGE_LIMIT,
    DIGEST_MAX_ATTACHMENTS,
    MESSAGE_LIMIT,
    TEXT_LIMIT,
    DigestItem,
    merge_mentions,
    render_digest,
)

from conftest import MINIMAL, make_config

CONFIG = make_config(MINIMAL)  # Asia/Tokyo


def item(unit="/PROD/NET", exec_id="@A1", date="2026/11/22", time="02:13:05", **values):
    """A 4104/4107 event (job events when `unit` ends in a job name) with the given fields."""
    level = values.pop("level", "error")
    mentions = values.pop("mentions", ())
    env = {
        "EVID": "4107:0" if unit.rsplit("/", 1)[-1].startswith("JOB") else "4104:0",
        "EVMSG": f"KAVS0262-E unit (AJSROOT1:{unit}:{exec_id}) ended abnormally",
        "EVDATE": date,
        "EVTIME": time,
        "EVHOST": "jp1mgr01",
        "EVIPADDR": "192.0.2.10",
        **values,
    }
    event = parse_event({k: v for k, v in env.items() if v is not None})
    return DigestItem(event, level, tuple(mentions))


def lines(digest):
    return "\n".join(a["text"] for a in digest.payload["attachments"]).splitlines()


def event_lines(digest):
    """The first line of each listed event (time, level, ...), in the order shown."""
    return [x for x in lines(digest) if x.startswith("  ") and not x.startswith(("    ", "  …"))]


def test_each_event_shows_date_zone_host_and_its_jp1_message():
    digest = render_digest([item(), item("/PROD/NET/JOB_A", time="02:13:04")], "en", CONFIG)
    assert lines(digest) == [
        "/PROD/NET",
        "  2026/11/22 02:13:04 JST [ERROR] 4107 Job ended abnormally JOB_A @A1 (host: jp1mgr01)",
        "    KAVS0262-E unit (AJSROOT1:/PROD/NET/JOB_A:@A1) ended abnormally",
        "  2026/11/22 02:13:05 JST [ERROR] 4104 Jobnet ended abnormally @A1 (host: jp1mgr01)",
        "    KAVS0262-E unit (AJSROOT1:/PROD/NET:@A1) ended abnormally",
    ]
    assert digest.included == (1, 0)


def test_japanese_digest_has_no_english_words_of_its_own():
    events = [item("/PROD/NET", f"@A{i}", time=f"02:13:{i:02d}", EVHOST=None) for i in range(8)]
    events.append(item("/DEV/NET", EVMSG=None, EVDATE=None, EVTIME=None, level="warning"))
    digest = render_digest(events, "ja", CONFIG)
    text = digest.payload["text"]
    assert text == "[エラー] JP1イベント 9件: エラー 8、警告 1"
    assert lines(digest) == [
        "/PROD/NET",
        *[
            line
            for i in range(DIGEST_EVENTS_PER_JOBNET)
            for line in (
                f"  2026/11/22 02:13:{i:02d} JST [エラー] 4104 ジョブネット異常終了 @A{i}"
                " (ホスト: 192.0.2.10)",
                f"    KAVS0262-E unit (AJSROOT1:/PROD/NET:@A{i}) ended abnormally",
            )
        ],
        "  …このジョブネットではさらに 3 件のイベントがあります(詳細: jp1notify history)",
        "(ユニット不明)",
        "  (日時不明) [警告] 4104 ジョブネット異常終了 (ホスト: jp1mgr01)",
        "    (欠落: EVMSG)",
    ]
    footer = digest.payload["attachments"][-1]["footer"]
    assert footer.endswith("9 件のまとめ通知。詳細: jp1notify history")


def test_english_more_line():
    events = [item(exec_id=f"@A{i}", time=f"02:13:{i:02d}") for i in range(13)]
    digest = render_digest(events, "en", CONFIG)
    assert lines(digest)[-1] == "  …and 8 more events of this jobnet (details: jp1notify history)"
    assert len(digest.included) == 13


def test_events_in_their_own_time_order_and_untimed_ones_after_in_arrival_order():
    events = [
        item(exec_id="@U1", date=None, time=None),
        item(exec_id="@T3", date="2026/11/22", time="00:00:01"),
        item(exec_id="@U2", time="garbage"),
        item(exec_id="@T1", date="2026/11/21", time="23:59:58"),
        item(exec_id="@T2", date="2026/11/21", time="23:59:59"),
    ]
    digest = render_digest(events, "en", CONFIG)
    shown = [re.search(r"@[TU]\d", x)[0] for x in event_lines(digest)]
    assert shown == ["@T1", "@T2", "@T3", "@U1", "@U2"]
    assert digest.included == (3, 4, 1, 0, 2)
    assert event_lines(digest)[3].startswith("  (time unknown) [ERROR]")
    assert event_lines(digest)[4].startswith("  2026/11/22 garbage [ERROR]")  # as JP1 sent it


def test_jobnets_by_severity_then_earliest_event():
    events = [
        item("/B", time="02:00:00", level="warning"),
        item("/LATE", time="03:00:00"),
        item("/EARLY", time="02:30:00", level="info"),
        item("/EARLY", time="02:59:00"),
        item("/NOTIME", time=None),
        item("/A", time="01:00:00", level="warning"),
    ]
    digest = render_digest(events, "en", CONFIG)
    headers = [x for x in lines(digest) if x.startswith("/")]
    assert headers == ["/EARLY", "/LATE", "/NOTIME", "/A", "/B"]


def test_a_capped_jobnet_lists_its_most_severe_events_in_time_order():
    events = [item(exec_id=f"@I{i}", time=f"02:00:0{i}", level="info") for i in range(6)]
    events += [item(exec_id="@E1", time="02:00:09"), item(exec_id="@W1", time="01:59:00")]
    events[0] = events[0]._replace(level="warning")
    digest = render_digest(events, "en", CONFIG)
    shown = [re.search(r"@\w\d", x)[0] for x in event_lines(digest)]
    assert shown == ["@W1", "@I0", "@I1", "@I2", "@E1"]
    assert lines(digest)[-1].startswith("  …and 3 more events of this jobnet")


def test_jp1_message_line_is_its_first_line_cut_and_escaped():
    long = "KAVS0265-E job (AJSROOT1:/PROD/NET/JOB_A:@A1) <!channel> " + "x&" * 300
    digest = render_digest(
        [
            item("/PROD/NET/JOB_A", EVMSG=long, EVHOST="<!everyone>"),
            item(EVMSG="KAVS0262-E first (AJSROOT1:/PROD/NET:@A1)\nsecond line"),
        ],
        "en",
        CONFIG,
    )
    body = lines(digest)
    assert body[1].endswith("@A1 (host: &lt;!everyone&gt;)")
    cut = body[2][4:]
    assert len(cut) <= DIGEST_JP1_MESSAGE_LIMIT and cut.endswith("…")
    assert cut.startswith("KAVS0265-E job (AJSROOT1:/PROD/NET/JOB_A:@A1) &lt;!channel&gt; x&amp;")
    assert not re.search(r"&[a-z]{0,3}…$", cut)  # never half an entity
    assert body[4] == "    KAVS0262-E first (AJSROOT1:/PROD/NET:@A1)"
    wire = str(digest.payload)
    assert "<!channel>" not in wire and "<!everyone>" not in wire and "second line" not in wire


def test_zone_of_the_config_in_every_line():
    config = make_config(MINIMAL.replace('"Asia/Tokyo"', '"+05:30"'))
    digest = render_digest([item()], "en", config)
    assert event_lines(digest)[0].startswith("  2026/11/22 02:13:05 UTC+05:30 [ERROR]")


@pytest.mark.parametrize(
    ("mentions", "expected"),
    [
        (["<!here>", "<!channel>"], ["<!channel>"]),
        (["<!here>", "<!everyone>", "<!channel>"], ["<!everyone>"]),
        (["<!here>", "<!here>"], ["<!here>"]),
        (
            ["<@U1>", "<!here>", "<!subteam^S1>", "<@U1>", "<!channel>", "<!subteam^S1>"],
            ["<!channel>", "<@U1>", "<!subteam^S1>"],
        ),
        ([], []),
    ],
)
def test_merge_mentions_keeps_the_strongest_broadcast_and_each_person_once(mentions, expected):
    assert merge_mentions(mentions) == expected


def test_digest_pings_once():
    events = [
        item("/A", mentions=("<!channel>", "<@U0123ABCD>")),
        item("/B", mentions=("<!here>",)),
        item("/C", mentions=("<!channel>", "<@U0123ABCD>", "<!subteam^S0123ABCD>")),
    ]
    text = render_digest(events, "en", CONFIG).payload["text"]
    assert text == "<!channel> <@U0123ABCD> <!subteam^S0123ABCD> [ERROR] 3 JP1 events: 3 ERROR"


def test_a_full_jobnet_block_with_hostile_maximal_values_fits_one_attachment():
    path = "/" + "/".join("&" * 30 for _ in range(30))
    events = [
        item(
            path + "/JOB" + "&" * 27,
            f"@A{i}",
            EVMSG="KAVS0265-E " + "<" * 1012,
            EVHOST=">" * 255,
            EVID="41FF:0",
        )
        for i in range(DIGEST_EVENTS_PER_JOBNET + 1)
    ]
    digest = render_digest(events, "ja", CONFIG)
    attachments = digest.payload["attachments"]
    assert len(attachments) == 1 and len(attachments[0]["text"]) <= MESSAGE_LIMIT
    assert lines(digest)[-1].startswith("  …このジョブネットではさらに 1 件")  # not cut
    assert len(digest.included) == len(events)


def visible_and_counted(digest):
    """Exec IDs listed in the digest, and the number of events its "more" lines count."""
    text = "\n".join(lines(digest))
    listed = re.findall(r"@E(\d+) \(host", text)
    counted = sum(int(n) for n in re.findall(r"…and (\d+) more events", text))
    return [int(n) for n in listed], counted


def test_a_300_event_storm_splits_across_digests_and_hides_nothing():
    # 40 jobnets of 7 or 8 events (more than a block lists), long paths and messages.
    events = []
    for i in range(300):
        net = i % 40
        unit = f"/PROD/GROUP_{net:02d}/" + "NET_" + "X" * 40 + f"{net:02d}"
        msg = f"KAVS0262-E jobnet (AJSROOT1:{unit}:@E{i}) ended abnormally " + "detail " * 60
        level = ("error", "warning", "info")[net % 3]
        time = f"02:{(299 - i) // 60:02d}:{(299 - i) % 60:02d}"  # arriving newest first
        events.append(item(unit, f"@E{i}", time=time, EVMSG=msg, level=level))

    remaining = list(range(300))
    seen: list[int] = []
    digests = 0
    while remaining:
        batch = [events[i] for i in remaining]
        digest = render_digest(batch, "en", CONFIG)
        digests += 1
        attachments = digest.payload["attachments"]
        assert 1 <= len(attachments) <= DIGEST_MAX_ATTACHMENTS
        assert all(len(a["text"]) <= MESSAGE_LIMIT for a in attachments)
        assert len(digest.payload["text"]) <= TEXT_LIMIT
        included = [remaining[i] for i in digest.included]
        assert included and len(set(included)) == len(included)
        listed, counted = visible_and_counted(digest)
        assert set(listed) <= set(included)  # nothing shown that is not carried
        assert len(listed) + counted == len(included)  # everything carried is shown or counted
        assert re.search(r"\] (\d+) JP1 events", digest.payload["text"])[1] == str(len(included))
        seen += included
        remaining = [i for i in remaining if i not in set(included)]
    assert sorted(seen) == list(range(300))
    assert digests >= 2  # 300 such events cannot fit one message
