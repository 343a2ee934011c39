"""The real Windows jp1notify.exe started as a JP1/IM automated action or a JP1/Base local
action would start it: one command line with the event's values substituted for `$EVMSG`,
`$EVID`, ..., run under Wine through `cmd.exe /c` or handed to CreateProcess as it is (which
of the two JP1 does is unconfirmed: tests/windows/runline.c runs either), checked at the fake
Slack. Recipe and pitfalls: docs/windows.md; the build: scripts/build-windows-under-wine.sh.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_windows import (  # noqa: F401  (fixtures)
    HOSTILE,
    need,
    windows_app,
    windows_path,
    wine,
    wine_with_bcryptprimitives,
)

from conftest import ROOT, in_ci

MESSAGE = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/日次:@A1)が異常終了しました"
# The action definition's command line, as an operator writes it in actdef.conf's `cmd` (or
# jbslcact.conf's): the encoded form for EVMSG, last; plain values that JP1 controls.
ACTION = (
    "{exe} send --set EVID=$EVID --set EVDATE=$EVDATE --set EVTIME=$EVTIME "
    "--set EVHOST=$EVHOST --set-b64 EVMSG=$EVMSG"
)
PLAIN_ACTION = ACTION.replace("--set-b64 EVMSG=$EVMSG", '--set "EVMSG=$EVMSG"')
EVENT = {"EVID": "00004104:00000000", "EVDATE": "2026/11/22", "EVHOST": "jp1mgr01"}


@pytest.fixture(scope="session")
def runline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = need("x86_64-w64-mingw32-gcc")
    exe = tmp_path_factory.mktemp("runline") / "runline.exe"
    source = ROOT / "tests" / "windows" / "runline.c"
    subprocess.run([gcc, "-municode", "-O2", "-o", str(exe), str(source)], check=True)
    return exe


@pytest.fixture
def app(windows_app: Path) -> Path:  # noqa: F811
    """The Windows build, if it knows --set (a build older than it cannot run these tests)."""
    if not (windows_app / "_internal" / "jp1notify" / "actionargs.pyc").exists():
        message = (
            "dist-windows/ predates send --set: rebuild it (scripts/build-windows-under-wine.sh)"
        )
        if in_ci() and sys.platform.startswith("linux"):
            pytest.fail(message)
        pytest.skip(message)
    return windows_app


@pytest.fixture
def act(
    app: Path,
    runline: Path,
    wine_with_bcryptprimitives: dict[str, str],  # noqa: F811
    tmp_path: Path,
    slack,
) -> Iterator[Any]:
    """Run an action definition's command line for an event: substitute, then start it."""
    workdir = tmp_path / "jp1-working-dir"
    workdir.mkdir()
    env = {
        **wine_with_bcryptprimitives,
        "JP1NOTIFY_WEBHOOK_ALERTS": slack.url("alerts"),
        "JP1NOTIFY_WEBHOOK_NOTICE": slack.url("notice"),
        "PATH_CANARY": "expanded",
    }

    def run(template: str, values: dict[str, str], mode: str) -> subprocess.CompletedProcess:
        line = template.replace("{exe}", windows_path(app / "jp1notify.exe"))
        for name in sorted(values, key=len, reverse=True):  # $EVMSG before $EV...
            line = line.replace("$" + name, values[name])
        script = tmp_path / "line.txt"
        script.write_bytes(line.encode("utf-8"))
        return subprocess.run(
            ["wine", windows_path(runline), windows_path(script), mode],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,  # pipes: Python under Wine dies writing to a regular file
            timeout=120,
        )

    yield run
    assert not list(workdir.iterdir()), "the action wrote into JP1's working directory"


def texts(payload: Any) -> list[str]:
    """Every string in a Slack payload."""
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict):
        payload = list(payload.values())
    if isinstance(payload, list):
        return [text for item in payload for text in texts(item)]
    return []


def slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("mode", ["cmd", "direct"])
@pytest.mark.parametrize("codepage", ["utf-8", "cp932"])
def test_base64_evmsg_arrives_intact_and_runs_nothing(act, slack, tmp_path, mode, codepage):
    canary = tmp_path / "canary.txt"
    message = MESSAGE + " " + HOSTILE.format(canary=windows_path(canary)) + " %PATH_CANARY%"
    encoded = base64.b64encode(message.encode(codepage)).decode("ascii")
    result = act(ACTION, {**EVENT, "EVTIME": "02:13:05", "EVMSG": encoded}, mode)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    (payload,) = slack.payloads("alerts")
    assert payload["text"].startswith("<!channel> [エラー] ジョブネット異常終了:")
    assert any(slack_escaped(message) in text for text in texts(payload))  # %PATH_CANARY% too
    assert not canary.exists()


def test_an_action_run_twice_for_one_event_is_sent_once(act, slack):
    values = {**EVENT, "EVTIME": "02:13:05", "EVMSG": base64.b64encode(MESSAGE.encode()).decode()}
    assert act(ACTION, values, "direct").returncode == 0
    assert act(ACTION, values, "direct").returncode == 0
    assert len(slack.payloads("alerts")) == 1


def test_plain_evmsg_through_cmd_is_why_the_docs_say_base64(act, slack, tmp_path):
    """The pitfalls docs/operators.md warns of, shown: through cmd.exe a plain `"$EVMSG"` has
    its %VARIABLES% expanded, and a double quote in it lets the rest run as a command."""
    canary = tmp_path / "canary.txt"
    expanded = act(
        PLAIN_ACTION, {**EVENT, "EVTIME": "02:13:05", "EVMSG": MESSAGE + " %PATH_CANARY%"}, "cmd"
    )
    assert expanded.returncode == 0, expanded.stderr.decode("utf-8", "replace")
    assert any(text.endswith("expanded") for text in texts(slack.payloads("alerts")[0]))
    injected = f'{MESSAGE}" & echo INJECTED > {windows_path(canary)} & rem "'
    act(PLAIN_ACTION, {**EVENT, "EVTIME": "02:14:00", "EVMSG": injected}, "cmd")
    assert canary.exists(), "cmd.exe ran the text after the quote"


def test_plain_evmsg_with_a_quote_started_directly_is_sent_with_a_note(act, slack):
    message = f'{MESSAGE} "say" it"s %PATH_CANARY% & fine'
    result = act(PLAIN_ACTION, {**EVENT, "EVTIME": "02:13:05", "EVMSG": message}, "direct")
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    (payload,) = slack.payloads("alerts")
    found = "\n".join(texts(payload))
    assert "/PROD/日次" in found
    assert "%PATH_CANARY% &amp; fine" in found  # no shell: nothing expanded, nothing run
    assert 'it"s' not in found  # the quotes themselves are lost (Windows argument rules)
