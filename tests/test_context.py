"""The context command, run for real: `sys.executable -c` scripts that print, fail, hang, leave a
grandchild holding the pipe, or flood; then end to end through the installed `jp1notify` against
the fake Slack. Outcomes are asserted (notes, messages), never durations."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from jp1notify.config import ContextSettings
from jp1notify.context import READ_LIMIT, run_context
from jp1notify.event import parse_event
from jp1notify.store import Store

from conftest import clean_env, event_env, run

EVENT = parse_event(
    event_env(EVMSG="KAVS0265-E job (AJSROOT1:/PROD/NIGHTLY/LOAD/JOB1:@A100) ended", EVID="4107:0")
)


def settings(script: str, *args: str, timeout: float = 10.0, lines: int = 15, chars: int = 1500):
    return ContextSettings(
        (sys.executable, "-c", script, *args), frozenset({"error"}), timeout, lines, chars
    )


def test_normal_output_with_placeholders_filled():
    script = "import sys; print('args', sys.argv[1:]); print('KAVS0265-E return code 8')"
    result = run_context(settings(script, "-F", "{service}", "{jobnet}:{exec_id}"), EVENT)
    assert result.code is None and result.note is None
    assert result.text == (
        "args ['-F', 'AJSROOT1', '/PROD/NIGHTLY/LOAD:@A100']\nKAVS0265-E return code 8"
    )


def test_cp932_output_is_decoded():
    script = "import sys; sys.stdout.buffer.write('ジョブが異常終了しました 戻り値=8\\n'.encode('cp932'))"
    result = run_context(settings(script), EVENT)
    assert result.text == "ジョブが異常終了しました 戻り値=8"


def test_utf8_output_and_control_characters():
    script = (
        "import sys; sys.stdout.buffer.write("
        "'ok 正常\\x1b[31m red\\x07\\r\\nline2\\u202e evil\\ttab\\x00\\n'.encode())"
    )
    result = run_context(settings(script), EVENT)
    assert result.text == "ok 正常[31m red\nline2 evil      tab"


def test_a_failing_command_shows_its_output_and_exit_code():
    script = "import sys; print('KAVS1234-E no such unit', file=sys.stderr); sys.exit(3)"
    result = run_context(settings(script), EVENT)
    assert (result.code, result.value) == ("exit", "3")
    assert result.text == "KAVS1234-E no such unit"
    assert result.note == "the context command ended with exit code 3"


def test_a_program_that_does_not_exist():
    missing = ContextSettings(
        ("/nonexistent/ajsshow-nowhere", "{jobnet}"), frozenset({"error"}), 5, 15, 1500
    )
    result = run_context(missing, EVENT)
    assert (result.text, result.code, result.value) == (
        None,
        "not_found",
        "/nonexistent/ajsshow-nowhere",
    )
    assert "was not found" in result.note


def test_a_missing_value_means_the_command_is_not_run(tmp_path):
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'w').close()"
    no_exec_id = parse_event(event_env(EVMSG="KAVS0262-E jobnet (AJSROOT1:/PROD/NIGHTLY) ended"))
    result = run_context(settings(script, "{jobnet}:{exec_id}"), no_exec_id)
    assert (result.code, result.value) == ("missing", "{exec_id}")
    assert not marker.exists()


def test_a_hanging_command_is_killed_at_its_timeout():
    script = "import time; print('started', flush=True); time.sleep(120)"
    result = run_context(settings(script, timeout=1), EVENT)
    assert (result.code, result.value) == ("timeout", "1")
    assert result.text == "started"
    assert result.note.startswith("the context command timed out after 1 s")


@pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")
def test_a_grandchild_holding_the_pipe_is_killed_and_not_waited_for(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('parent done', flush=True)\n"
    )
    result = run_context(settings(script, timeout=1), EVENT)
    assert result.code == "timeout" and result.text == "parent done"
    grandchild = int(pid_file.read_text())
    assert _gone(grandchild)


def _gone(pid: int) -> bool:
    """True once the process has ended (reaped by init after its parent ended)."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(") ")[-1].startswith("Z"):
            return True  # killed, waiting for init to reap it
        time.sleep(0.05)
    return False


def test_huge_output_is_cut_to_its_limits():
    # braces in a script would be placeholders: none here (see docs/operators.md on {{ }})
    script = (
        "import sys\nfor i in range(200000): sys.stdout.write('line %d ' % i + 'x' * 50 + '\\n')"
    )
    result = run_context(settings(script, lines=15), EVENT)
    assert result.code is None  # read to its end (and dropped): the command was not blocked
    lines = result.text.split("\n")
    assert len(lines) == 16 and lines[0].startswith("line 0 ")
    assert lines[-1].startswith("… (+") and lines[-1].endswith(" lines)")
    assert len(result.text) <= 1500


def test_one_huge_line_is_cut_to_max_chars():
    script = "import sys; sys.stdout.write('y' * 300000)"
    result = run_context(settings(script, chars=200), EVENT)
    assert len(result.text) <= 200 and result.text.endswith("\n…")
    assert READ_LIMIT < 300000


def test_event_text_arrives_as_one_argument_each():
    hostile = parse_event(
        event_env(
            EVID="4107:0",
            EVMSG="KAVS0265-E job (AJSROOT1:/PROD/a b;\"c\" & 'd' $(x) `y` {jobnet} | z/J 1:@A1)",
        )
    )
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = run_context(settings(script, "{unit}", "-x", "pre {jobnet} post"), hostile)
    assert json.loads(result.text) == [
        "/PROD/a b;\"c\" & 'd' $(x) `y` {jobnet} | z/J 1",
        "-x",
        "pre /PROD/a b;\"c\" & 'd' $(x) `y` {jobnet} | z post",
    ]


# -- the store and end to end ------------------------------------------------------------------

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[http]
timeout_seconds = 2
[outbox]
data_dir = "{data_dir}"
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
[[runbooks]]
units = ["/PROD/NIGHTLY/**"]
text = "Check the input file. Rerun from the failed job: ajsrerun -F {{service}} -a {{jobnet}}:{{exec_id}}"
url = "https://wiki.example.co.jp/jp1/nightly"
[context]
command = [{command}]
levels = ["error"]
timeout_seconds = {timeout}
"""
FAILED_JOB = "KAVS0265-E job (AJSROOT1:/PROD/NIGHTLY/LOAD/JOB1:@A100) ended abnormally"


def setup(
    tmp_path: Path, slack, script: str, timeout: float = 10, data_dir: str = "data"
) -> dict[str, str]:
    command = ", ".join(json.dumps(a) for a in (sys.executable, "-c", script, "{jobnet}"))
    config = tmp_path / "jp1notify.toml"
    text = CONFIG.format(command=command, timeout=timeout, data_dir=data_dir)
    config.write_text(text, encoding="utf-8")
    return clean_env(
        JP1NOTIFY_CONFIG=str(config),
        HOOK=slack.url("alerts"),
        **event_env(EVID="4107:0", EVMSG=FAILED_JOB),
    )


def test_the_slack_message_has_the_runbook_and_the_escaped_context(tmp_path, slack):
    script = "import sys; print('KAVS0265-E', sys.argv[1], 'RC=8 <!channel> & <@U0123ABCD>')"
    done = run(["send"], setup(tmp_path, slack, script))
    assert done.returncode == 0, done.stderr
    (payload,) = slack.payloads("alerts")
    guidance = payload["attachments"][1]["text"]
    assert (
        "ajsrerun -F AJSROOT1 -a /PROD/NIGHTLY/LOAD:@A100\n"
        "<https://wiki.example.co.jp/jp1/nightly|Runbook>" in guidance
    )
    assert (
        "*Context*\n```\nKAVS0265-E /PROD/NIGHTLY/LOAD RC=8 &lt;!channel&gt; &amp; "
        "&lt;@U0123ABCD&gt;\n```" in guidance
    )
    assert "<!channel>" not in json.dumps(payload)
    with sqlite3.connect(tmp_path / "data" / "jp1notify.db") as db:
        stored, not_before = db.execute(
            "SELECT e.context, m.not_before FROM events e JOIN messages m ON m.event_row = e.id"
        ).fetchone()
    assert json.loads(stored)["text"].startswith("KAVS0265-E /PROD/NIGHTLY/LOAD RC=8")
    assert not_before == 0


def test_a_hanging_command_costs_its_timeout_and_the_alert_goes_out_saying_so(tmp_path, slack):
    script = "import time; print('partial', flush=True); time.sleep(120)"
    done = run(["send"], setup(tmp_path, slack, script, timeout=1))
    assert done.returncode == 0, done.stderr
    assert "the context command timed out after 1 s" in done.stderr
    (payload,) = slack.payloads("alerts")
    guidance = payload["attachments"][1]["text"]
    assert "```\npartial\n```\nThe context command timed out after 1 s and was stopped." in guidance


def test_without_a_usable_store_the_direct_post_carries_the_context(tmp_path, slack):
    (tmp_path / "blocker").write_text("a file where the data folder should be")
    script = "print('KAVS0265-E RC=8 &')"
    done = run(["send"], setup(tmp_path, slack, script, data_dir="blocker/data"))
    assert done.returncode == 0, done.stderr
    assert "the store is not usable" in done.stderr
    (payload,) = slack.payloads("alerts")
    assert "```\nKAVS0265-E RC=8 &amp;\n```" in payload["attachments"][1]["text"]


def test_a_dry_run_shows_the_runbook_and_runs_nothing(tmp_path, slack):
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'w').close()"
    done = run(["send", "--dry-run"], setup(tmp_path, slack, script))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["context"] == "context command not run in a dry run"
    attachments = report["messages"][0]["payload"]["attachments"]
    assert "ajsrerun -F AJSROOT1 -a /PROD/NIGHTLY/LOAD:@A100" in attachments[1]["text"]
    assert not marker.exists() and slack.payloads("alerts") == []


def test_held_messages_wait_for_their_context_in_the_store(tmp_path):
    from jp1notify.store import EventRecord, NewMessage

    store = Store.open(tmp_path)
    record = EventRecord("k", "4107", "/A/J", "/A", "S", "@A1", "error", "o", "routed", None, "{}")
    store.record(record, [NewMessage("alerts", "r", ())], 100.0, hold_until=107.0)
    assert store.pending_for("alerts", 10, now=101.0, max_ahead=300) == []
    store.set_context("k", '{"text": "out"}')
    (pending,) = store.pending_for("alerts", 10, now=101.0, max_ahead=300)
    assert pending.context == '{"text": "out"}'
    store.close()


def test_a_store_of_schema_2_gets_the_context_column(tmp_path):
    Store.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "jp1notify.db") as db:
        db.execute("ALTER TABLE events DROP COLUMN context")
        db.execute("PRAGMA user_version = 2")
    store = Store.open(tmp_path)
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(events)")}
    assert "context" in columns
    store.close()
