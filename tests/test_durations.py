"""Run times and slow runs: the installed command, one process per JP1 event as under JP1, against
the fake Slack webhooks; the times come from EVDATE/EVTIME. Then runs.py at its boundaries."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jp1notify.config import DurationSettings
from jp1notify.runs import Run, assess, loads, raise_level, run_text, short_text

from conftest import JOBNET_MESSAGES, MINIMAL, clean_env, make_config, run
from fakeslack import FakeSlack

JOBNET = "/PROD/NIGHTLY"
MESSAGES = JOBNET_MESSAGES
# Starts are recorded but not posted; with `quiet_ends`, normal ends that are not slow neither
# (the pattern docs/operators.md suggests). A slow run is a warning: the "warnings" route.
CONFIG = """
[message]
language = "{language}"
timezone = "Asia/Tokyo"
[outbox]
max_wait_seconds = 3
[destinations.warn]
webhook_url_env = "HOOK_WARN"
[destinations.all]
webhook_url_env = "HOOK_ALL"
[durations]
runs = 10
min_runs = 3
slow_factor = 3.0
min_extra_seconds = 30
[[ignore]]
name = "starts"
event_ids = ["4102"]
{quiet}
[[routes]]
name = "warnings"
levels = ["warning"]
destination = "warn"
[[routes]]
name = "rest"
destination = "all"
"""
QUIET_ENDS = """
[[ignore]]
name = "quiet_ends"
event_ids = ["4103"]
levels = ["success"]
"""


class Site:
    def __init__(self, tmp_path: Path, slack: FakeSlack) -> None:
        self.dir = tmp_path
        self.slack = slack
        self.config = tmp_path / "jp1notify.toml"
        self.configure()

    def configure(self, quiet_ends: bool = True, language: str = "en") -> None:
        text = CONFIG.format(language=language, quiet=QUIET_ENDS if quiet_ends else "")
        self.config.write_text(text, encoding="utf-8")

    def send(self, event_id: str, exec_id: str, date: str, time: str, **extra: str) -> str:
        unit = f"AJSROOT1:{JOBNET}:{exec_id}"
        env = clean_env(
            JP1NOTIFY_CONFIG=str(self.config),
            HOOK_WARN=self.slack.url("warn"),
            HOOK_ALL=self.slack.url("all"),
            EVID=f"{event_id}:0",
            EVMSG=MESSAGES[event_id].format(unit=unit),
            EVDATE=date,
            EVTIME=time,
            EVHOST="jp1mgr01",
            **extra,
        )
        result = run([], env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stderr

    def history(self, runs: int, minutes: int = 10) -> None:
        """`runs` earlier normal runs of `minutes` each, @A1.., one a night before the 22nd."""
        for night in range(1, runs + 1):
            date = f"2026/11/{21 - runs + night:02d}"
            self.send("4102", f"@A{night}", date, "02:00:00")
            self.send("4103", f"@A{night}", date, f"02:{minutes:02d}:00")

    def posts(self, name: str) -> list[dict[str, Any]]:
        return self.slack.payloads(name)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "data" / "jp1notify.db")


@pytest.fixture
def site(tmp_path: Path, slack: FakeSlack) -> Iterator[Site]:
    yield Site(tmp_path, slack)


def fields(payload: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}


def test_a_run_five_times_slower_than_its_median_is_flagged_and_routed_as_a_warning(site):
    site.history(5)
    assert site.posts("warn") == [] and site.posts("all") == []  # starts and normal ends quiet
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4103", "@A6", "2026/11/22", "02:50:00")
    assert site.posts("all") == []
    [post] = site.posts("warn")
    attachment = post["attachments"][0]
    assert post["text"] == f"[WARNING] Jobnet ended normally (slow run): {JOBNET}"
    assert attachment["color"] == "#E8A317"
    run_time = fields(post)["Run time"]
    assert run_time.startswith("50 min (usual 10 min, 5.0x: slow)\n")
    assert "the median of the last 5 normal runs" in run_time
    assert "shown as WARNING for that, JP1 reported OK" in run_time
    assert fields(post)["Event"].startswith("4103 Jobnet ended normally")
    with site.db() as db:
        level, stored, incidents = db.execute(
            "SELECT level, run, (SELECT COUNT(*) FROM incidents) FROM events"
            " WHERE exec_id = '@A6' AND event_id = '4103'"
        ).fetchone()
    assert level == "warning"
    assert loads(stored) == Run(3000.0, 600.0, 5, True, "success")
    assert incidents == 0  # a slow normal end is still a normal end: it opens no incident


def test_a_normal_run_is_not_flagged(site):
    site.history(5)
    site.configure(quiet_ends=False)
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4103", "@A6", "2026/11/22", "02:12:30")
    assert site.posts("warn") == []
    [post] = site.posts("all")
    assert post["text"] == f"[OK] Jobnet ended normally: {JOBNET}"
    assert fields(post)["Run time"] == "12 min 30 s (usual 10 min, 1.2x)"


def test_fewer_runs_than_min_runs_show_the_run_time_without_comparison(site):
    site.history(2)
    site.configure(quiet_ends=False)
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4103", "@A6", "2026/11/22", "02:50:00")  # five times slower, but too few known
    assert site.posts("warn") == []
    [post] = site.posts("all")
    assert post["text"] == f"[OK] Jobnet ended normally: {JOBNET}"
    assert fields(post)["Run time"] == "50 min"


def test_an_end_without_a_recorded_start_shows_no_run_time(site):
    site.configure(quiet_ends=False)
    site.send("4103", "@A1", "2026/11/22", "02:10:00")
    site.send("4104", "@A2", "2026/11/22", "03:10:00")
    normal, abnormal = site.posts("all")
    assert "Run time" not in fields(normal) and "Run time" not in fields(abnormal)
    assert "Date/time" in fields(normal)


def test_a_rerun_is_measured_from_its_latest_start_and_an_abnormal_end_shows_its_run_time(site):
    site.history(5)
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4104", "@A6", "2026/11/22", "02:05:00")
    site.send("4102", "@A6", "2026/11/22", "03:00:00")  # rerun: same execution ID
    site.send("4103", "@A6", "2026/11/22", "03:12:00")
    failed, recovered = site.posts("all")
    assert failed["text"].startswith("[ERROR] Jobnet ended abnormally")
    assert fields(failed)["Run time"] == "5 min (usual 10 min, 0.5x)"
    # the rerun took 12 min (not 72 min since the first start); its normal end, quiet when not
    # slow, still resolves the incident: the recovery message tells the rerun's time
    assert recovered["text"].startswith("[OK] Recovered: ")
    text = recovered["attachments"][0]["text"]
    assert "\nRun time: 12 min (usual 10 min, 1.2x)\n" in text
    assert "Run time" not in recovered["text"]  # the notification line stays short
    assert site.posts("warn") == []


def test_a_slow_normal_end_resolves_the_incident_and_opens_none(site):
    site.history(5)
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4104", "@A6", "2026/11/22", "02:05:00")
    site.send("4102", "@A6", "2026/11/22", "03:00:00")
    site.send("4103", "@A6", "2026/11/22", "03:50:00")  # 50 min: slow, raised to warning
    failed, recovered = site.posts("all")
    assert "\nRun time: 50 min (usual 10 min, 5.0x: slow)\n" in recovered["attachments"][0]["text"]
    [slow] = site.posts("warn")  # routed as a warning where the incident was not posted
    assert slow["text"] == f"[WARNING] Jobnet ended normally (slow run): {JOBNET}"
    with site.db() as db:
        states = db.execute("SELECT state FROM incidents").fetchall()
    assert states == [("resolved",)]


def test_japanese_slow_run(site):
    site.history(5)
    site.configure(language="ja")
    site.send("4102", "@A6", "2026/11/22", "02:00:00")
    site.send("4103", "@A6", "2026/11/22", "02:50:00")
    [post] = site.posts("warn")
    assert post["text"] == f"[警告] ジョブネット正常終了(遅延): {JOBNET}"
    run_time = fields(post)["実行時間"]
    assert run_time.startswith("50分（通常 10分、5.0倍: 遅延）\n")
    assert "このため 警告 として通知しています(JP1 の報告は 正常)" in run_time


def test_an_end_event_whose_store_cannot_be_opened_is_sent_without_run_time(site, tmp_path):
    (tmp_path / "data").write_text("not a folder", encoding="utf-8")
    stderr = site.send("4104", "@A1", "2026/11/22", "02:05:00")
    assert "the store is not usable" in stderr
    [post] = site.posts("all")
    assert post["text"].startswith("[ERROR] Jobnet ended abnormally")
    assert "Run time" not in fields(post)


# -- the hot path: what is read before routing ---------------------------------------------------


def test_only_jobnet_ends_read_the_store_before_routing(tmp_path):
    from jp1notify.classify import classify
    from jp1notify.event import parse_event
    from jp1notify.notify import Invocation, _measure

    data = tmp_path / "data"
    config = make_config(
        f'[outbox]\ndata_dir = "{data.as_posix()}"\n[log]\ndir = "{tmp_path.as_posix()}/logs"\n'
        '[destinations.a]\nwebhook_url_env = "H"\n[[routes]]\ndestination = "a"\n',
        tmp_path / "jp1notify.toml",
    )
    invocation = Invocation(config)
    for event_id, text in MESSAGES.items():
        env = {"EVID": f"{event_id}:0", "EVMSG": text.format(unit=f"AJSROOT1:{JOBNET}:@A1")}
        event = parse_event(env)
        classification = classify(event, config)
        assert _measure(invocation, config, event, classification) == (classification, None)
        # opening the store creates its folder: only an end event's measuring does
        assert data.exists() == (event_id != "4102"), event_id


def test_previous_durations_reads_normal_ends_newest_first_through_the_index(tmp_path):
    from jp1notify.store import EventRecord, Store

    store = Store.open(tmp_path)

    def record(event_id: str, exec_id: str, at: float, service: str | None = "AJSROOT1") -> None:
        key = f"{event_id}{exec_id}{service}{at}"
        store.record(
            EventRecord(
                key,
                event_id,
                JOBNET,
                JOBNET,
                service,
                exec_id,
                "info",
                "s",
                "routed",
                None,
                "{}",
                at,
            ),  # fmt: skip
            [],
            at,
        )

    for night, minutes in enumerate([10, 11, 12, 13], start=1):
        start = night * 86400.0
        record("4102", f"@A{night}", start)
        record("4103", f"@A{night}", start + minutes * 60)
    record("4102", "@A5", 5 * 86400.0)
    record("4104", "@A5", 5 * 86400.0 + 3600)  # abnormal: not a usual run
    record("4102", "@B1", 6 * 86400.0, service="AJSROOT2")
    record("4103", "@B1", 6 * 86400.0 + 60, service="AJSROOT2")  # another service's jobnet
    assert store.previous_durations(JOBNET, "AJSROOT1", 3) == [780.0, 720.0, 660.0]
    assert store.previous_durations(JOBNET, None, 2) == [60.0, 780.0]  # none named: any
    assert store.run_started(JOBNET, "AJSROOT1", "@A5", 5 * 86400.0 + 3600) == 5 * 86400.0
    assert store.run_started(JOBNET, "AJSROOT1", "@A5", 5 * 86400.0 + 7200) is None  # ended
    assert store.run_started(JOBNET, "AJSROOT1", "@A9", 9 * 86400.0) is None
    plan = " ".join(
        row[-1]
        for row in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT duration FROM events WHERE jobnet = ? AND event_id = ?"
            " AND duration IS NOT NULL AND (service IS NULL OR ? IS NULL OR service = ?)"
            " ORDER BY id DESC LIMIT ?",
            (JOBNET, "4103", None, None, 3),
        )
    )
    assert "events_jobnet" in plan and "TEMP B-TREE" not in plan
    store.close()


def test_the_documented_durations_examples_are_the_defaults():
    import re

    from conftest import ROOT

    shipped = (ROOT / "config" / "jp1notify.toml").read_text(encoding="utf-8")
    block = shipped[shipped.index("# [durations]") :].split("\n\n")[0]
    uncommented = re.sub(r"^# ", "", block, flags=re.M)
    assert make_config(MINIMAL + uncommented).durations == DurationSettings()
    guide = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    for heading in ("## Run times and slow runs", "### 実行時間と遅延"):
        section = guide[guide.index(heading) :]
        start = section.index("```toml\n") + len("```toml\n")
        example = section[start : section.index("\n```\n", start)]
        config = make_config(MINIMAL + example)
        assert config.durations == DurationSettings()
        assert [rule.name for rule in config.ignore] == ["quiet normal ends"]


# -- runs.py ---------------------------------------------------------------------------------------

SETTINGS = DurationSettings(runs=4, min_runs=3, slow_factor=3.0, min_extra_seconds=30.0)


def test_assess_at_the_slow_boundaries():
    previous = [600.0, 600.0, 600.0]
    assert assess(1800.0, previous, SETTINGS) == Run(1800.0, 600.0, 3, True)  # exactly 3x
    assert assess(1799.0, previous, SETTINGS).slow is False
    assert assess(3000.0, previous, SETTINGS).slow is True  # the "five times slower"
    # three times slower, but only 20 s more: not worth a warning
    assert assess(30.0, [10.0, 10.0, 10.0], SETTINGS).slow is False
    assert assess(45.0, [15.0, 15.0, 15.0], SETTINGS) == Run(45.0, 15.0, 3, True)  # 30 s more


def test_assess_usual_is_the_median_of_the_last_runs_once_enough_are_known():
    assert assess(3000.0, [600.0, 600.0], SETTINGS) == Run(3000.0, None, 2, False)
    assert assess(100.0, [], SETTINGS) == Run(100.0, None, 0, False)
    # newest first: only the last `runs` (4) count; an old very long run is forgotten
    newest = [100.0, 200.0, 300.0, 400.0, 99999.0]
    assert assess(500.0, newest, SETTINGS).usual == 250.0
    assert assess(500.0, newest, SETTINGS).known == 4
    assert assess(500.0, [100.0, 5000.0, 200.0], SETTINGS).usual == 200.0  # one outlier


def test_raise_level_raises_a_slow_run_and_never_lowers():
    slow = Run(3000.0, 600.0, 5, True)
    assert raise_level("success", slow, SETTINGS) == (
        "warning",
        slow._replace(raised_from="success"),
    )
    assert raise_level("info", slow, SETTINGS)[0] == "warning"
    assert raise_level("error", slow, SETTINGS) == ("error", slow)  # an abnormal end stays error
    assert raise_level("warning", slow, SETTINGS) == ("warning", slow)
    normal = Run(700.0, 600.0, 5, False)
    assert raise_level("success", normal, SETTINGS) == ("success", normal)
    assert raise_level("success", None, SETTINGS) == ("success", None)
    to_error = SETTINGS._replace(slow_level="error")
    assert raise_level("warning", slow, to_error) == ("error", slow._replace(raised_from="warning"))


def test_a_slow_normal_end_still_resolves():
    from jp1notify.event import parse_event
    from jp1notify.incidents import Step, step_of

    event = parse_event(
        {"EVID": "4103:0", "EVMSG": MESSAGES["4103"].format(unit=f"AJSROOT1:{JOBNET}:@A1")}
    )
    assert step_of(event, "warning") is Step.RESOLVE  # the event ID decides, not the level


def test_run_texts():
    slow = Run(42 * 60.0, 12 * 60.0, 10, True)
    assert run_text(slow, "en") == "42 min (usual 12 min, 3.5x: slow)"
    assert run_text(slow, "ja") == "42分（通常 12分、3.5倍: 遅延）"
    assert run_text(slow._replace(slow=False), "en") == "42 min (usual 12 min, 3.5x)"
    assert run_text(Run(42 * 60.0, None, 1, False), "en") == "42 min"
    assert run_text(Run(90.0, 0.0, 3, True), "en") == "1 min 30 s (usual 0 s: slow)"
    assert short_text(slow, "en") == "(42 min, slow)"
    assert short_text(slow._replace(slow=False), "ja") == "（42分）"


def test_a_stored_run_reads_back_and_a_damaged_one_is_dropped():
    slow = Run(3000.0, 600.0, 5, True, "success")
    assert loads(slow.dumps()) == slow
    assert loads(Run(1.0, None, 0, False).dumps()) == Run(1.0, None, 0, False)
    for damaged in (None, "", "{", "[]", '{"seconds": "x"}', json.dumps({"seconds": 1})):
        assert loads(damaged) is None


def test_a_digest_line_says_how_long_the_run_took():
    from jp1notify.event import parse_event
    from jp1notify.message import DigestItem, render_digest

    config = make_config(MINIMAL)

    def item(exec_id: str, run: Run | None, level: str = "warning") -> DigestItem:
        unit = f"AJSROOT1:{JOBNET}:{exec_id}"
        env = {"EVID": "4103:0", "EVMSG": MESSAGES["4103"].format(unit=unit), "EVHOST": "h"}
        return DigestItem(parse_event(env), level, (), run)

    items = [
        item("@A1", Run(3000.0, 600.0, 5, True, "success")),
        item("@A2", Run(660.0, 600.0, 5, False), "success"),
        item("@A3", None, "success"),
    ]
    text = "\n".join(a["text"] for a in render_digest(items, "en", config).payload["attachments"])
    assert "Jobnet ended normally (50 min, slow) @A1" in text
    assert "Jobnet ended normally (11 min) @A2" in text
    assert "Jobnet ended normally @A3" in text
    ja = render_digest(items[:1], "ja", config).payload["attachments"][0]["text"]
    assert "ジョブネット正常終了 （50分、遅延） @A1" in ja
