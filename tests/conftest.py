from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jp1notify.config import Config, build_config
from jp1notify.schema import validate

from fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "config" / "samples"
BIN = Path(sys.executable).parent


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def make_config(text: str, path: Path | None = None) -> Config:
    """Compile config text as if read from `path` (default: a fake path in the project)."""
    path = path or ROOT / "config" / "test.toml"
    return build_config(path, *validate(path, text.encode("utf-8")))


MINIMAL = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.alerts]
webhook_url_env = "HOOK_ALERTS"
[[routes]]
destination = "alerts"
"""


def jp1notify_command() -> list[str]:
    """The installed console script, as JP1's .bat (or a user) runs it."""
    script = BIN / ("jp1notify.exe" if os.name == "nt" else "jp1notify")
    assert script.exists(), f"{script} missing: install with  pip install -e '.[test]'"
    return [str(script)]


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any JP1 event or jp1notify variable, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("EV", "JP1NOTIFY", "AJS")) and "PROXY" not in k.upper()
    }
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        jp1notify_command() + args,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def event_env(**values: Any) -> dict[str, str]:
    base = {
        "EVID": "4104:0",
        "EVMSG": "KAVS0262-E ジョブネット(AJSROOT1:/PROD/DAILY/BACKUP:@A100)が異常終了しました",
        "EVDATE": "2026/11/22",
        "EVTIME": "02:13:05",
        "EVHOST": "jp1mgr01",
        "EVIPADDR": "192.0.2.10",
    }
    base.update({k: str(v) for k, v in values.items()})
    return {k: v for k, v in base.items() if v != "None"}


# EVMSG of JP1/AJS3 jobnet events as a Japanese manager sends them; {unit} is
# `service:/path:@exec-id`.
JOBNET_MESSAGES = {
    "4102": "KAVS0260-I ジョブネット({unit})が開始しました",
    "4103": "KAVS0261-I ジョブネット({unit})が正常終了しました",
    "4104": "KAVS0262-E ジョブネット({unit})が異常終了しました",
    "4108": "KAVS0268-W ジョブネット({unit})が警告終了しました",
}


def jobnet_env(
    event_id: str, path: str, exec_id: str, date: str, time: str, service: str = "AJSROOT1"
) -> dict[str, str]:
    """The variables of a jobnet event (4102 start, 4103/4104/4108 end) at EVDATE/EVTIME."""
    return {
        "EVID": f"{event_id}:0",
        "EVMSG": JOBNET_MESSAGES[event_id].format(unit=f"{service}:{path}:{exec_id}"),
        "EVDATE": date,
        "EVTIME": time,
        "EVHOST": "jp1mgr01",
    }


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The onedir folder built from build/pyinstaller.spec, as operators get it.

    Built once per source state into build/test-dist/ (about 20 s), reused while jp1notify/,
    config/, the spec and the .bat are unchanged.
    """
    import hashlib

    inputs = sorted(
        [
            *ROOT.glob("jp1notify/**/*.py"),
            *ROOT.glob("config/**/*.toml"),
            *ROOT.glob("config/samples/*"),
        ]
        + [
            ROOT / "build" / "pyinstaller.spec",
            ROOT / "scripts" / "notification.bat",
            ROOT / "docs" / "operators.md",
        ]
    )
    digest = hashlib.sha256()
    for path in inputs:
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    dist = ROOT / "build" / "test-dist"
    stamp = dist / "jp1notify" / ".source-sha256"
    if not (stamp.exists() and stamp.read_text() == digest.hexdigest()):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--log-level",
                "WARN",
                "--distpath",
                str(dist),
                "--workpath",
                str(ROOT / "build" / "test-work"),
                str(ROOT / "build" / "pyinstaller.spec"),
            ],
            check=True,
        )
        stamp.write_text(digest.hexdigest())
    return dist / "jp1notify"
