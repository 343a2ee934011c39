"""The seams for in-process tests: `cli.main(argv, environ, transport=...)` runs a whole command
in this process with an `httpx.MockTransport` in place of the network. The subprocess tests
(test_incidents.py) run the same story through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from jp1notify.cli import main

TOKEN = "xoxb-9999-8888-InProcessSecret"

CONFIG = """
[message]
language = "ja"
timezone = "Asia/Tokyo"
[destinations.ops]
kind = "slack_bot"
token_env = "BOT_TOKEN"
channel = "C0123ABCD"
api_url = "https://slack.test/api/"
[[routes]]
levels = ["error", "warning"]
destination = "ops"
mention = "here"
"""


class SlackApi:
    """A MockTransport handler answering chat.postMessage / chat.update like Slack."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        payload = json.loads(request.content)
        self.calls.append((method, payload))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(200, json={"ok": False, "error": "invalid_auth"})
        ts = payload.get("ts") or f"1700000000.{len(self.calls):06d}"
        return httpx.Response(200, json={"ok": True, "channel": "C0123ABCD", "ts": ts})


def event(evid: str, text: str, time: str) -> dict[str, str]:
    return {
        "EVID": evid,
        "EVMSG": text.format(unit="AJSROOT1:/本番/夜間:@A7"),
        "EVDATE": "2026/11/22",
        "EVTIME": time,
        "EVHOST": "jp1mgr01",
    }


def test_an_incident_in_process_through_a_mock_transport(tmp_path: Path, capsys):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG, encoding="utf-8")
    api = SlackApi()
    base = {"JP1NOTIFY_CONFIG": str(config), "BOT_TOKEN": TOKEN}
    transport = httpx.MockTransport(api)
    failed = event("4104:0", "KAVS0262-E ジョブネット({unit})が異常終了しました", "01:00:00")
    ended = event("4103:0", "KAVS0261-I ジョブネット({unit})が正常終了しました", "01:45:30")
    assert main([], {**base, **failed}, transport=transport) == 0
    assert main([], {**base, **ended}, transport=transport) == 0
    methods = [m for m, _ in api.calls]
    assert methods == ["chat.postMessage", "chat.update", "chat.postMessage"]
    parent, update, reply = (p for _, p in api.calls)
    assert parent["text"].startswith("<!here> [エラー]")
    assert reply["thread_ts"] == update["ts"] == "1700000000.000001"
    assert "45分30秒 後に復旧" in json.dumps(reply, ensure_ascii=False)
    assert "[復旧]" in update["text"] and "停止時間 45分30秒" in json.dumps(
        update, ensure_ascii=False
    )
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    listed = main(["incidents", "--json"], base)
    assert listed == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["state"], row["jobnet"], row["duration_seconds"]) == (
        "resolved",
        "/本番/夜間",
        2730,
    )
