"""The operator guide ships as the installed folder's README: it must stay complete and true."""

from __future__ import annotations

import re

from jp1notify import cli
from jp1notify.bounds import run_bound
from jp1notify.notify import Ending, Problem

from conftest import MINIMAL, ROOT, make_config

GUIDE = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
ENGLISH, JAPANESE = GUIDE.split("## 日本語 (運用ガイド)")
CODES = {v for k, v in vars(cli).items() if k.startswith("EXIT_")}


def test_every_outcome_and_problem_has_an_exit_code():
    assert set(cli._EXIT_CODES) == set(Ending)
    assert set(cli._PROBLEM_CODES) == set(Problem)
    assert set(cli._EXIT_CODES.values()) | set(cli._PROBLEM_CODES.values()) <= CODES


def section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    end = text.find(f"\n{level} ", start + len(heading))
    return text[start : end if end > 0 else None]


def test_the_guide_documents_every_exit_code_in_both_languages():
    for table in (section(ENGLISH, "## Exit codes"), section(JAPANESE, "### 終了コード")):
        assert set(map(int, re.findall(r"^\| (\d+) \|", table, re.M))) == CODES


def test_the_guide_holds_setup_reference_and_troubleshooting_in_both_languages():
    for heading in (
        "JP1 setup, step by step",
        "Config reference",
        "How an alert travels",
        "Exit codes",
        "Time bounds",
        "Troubleshooting",
    ):
        assert f"## {heading}\n" in ENGLISH
    for heading in (
        "JP1 の設定手順",
        "設定項目",
        "通知の流れ",
        "終了コード",
        "時間の上限",
        "トラブルシューティング",
    ):
        assert f"### {heading}\n" in JAPANESE
    assert "see the project README" not in GUIDE


def test_the_documented_run_bound_is_the_enforced_one():
    bound = run_bound(make_config(MINIMAL))
    assert f"**{bound:g} s**" in ENGLISH and f"**{bound:g} 秒**" in JAPANESE


def test_the_documented_heartbeat_share_of_the_run_bound_is_the_enforced_one():
    config = make_config(MINIMAL + '[heartbeat]\nurl_env = "HEARTBEAT_URL"\n')
    assert config.heartbeat is not None
    extra = run_bound(config) - run_bound(make_config(MINIMAL)) - config.heartbeat.timeout_seconds
    assert f"with a `[heartbeat]`, its `timeout_seconds` + {extra:g} s" in ENGLISH
    assert f"`[heartbeat]` があればその `timeout_seconds` + {extra:g} 秒" in JAPANESE
    assert "## Heartbeat: know that jp1notify itself is alive\n" in ENGLISH
    assert "### ハートビート: jp1notify 自身の死活監視\n" in JAPANESE


def test_a_send_that_waited_long_for_the_store_sends_only_within_its_run_bound():
    from jp1notify.bounds import RECORD_TRIES, STORE_WAIT, run_bound, sending_left

    from conftest import MINIMAL, make_config

    config = make_config(MINIMAL)
    assert sending_left(config, 0.0) == config.outbox.drain_seconds
    assert sending_left(config, 35.0) == 25.0  # 166 - 35 - (61 + 30 + 15)
    assert sending_left(config, RECORD_TRIES * STORE_WAIT) <= 0  # after the longest record wait
    for elapsed in (0.0, 10.0, 35.0, 59.0):
        left = sending_left(config, elapsed)
        assert elapsed + left + 61 + STORE_WAIT + 15 <= run_bound(config)
