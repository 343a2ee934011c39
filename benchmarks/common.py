"""What the benchmarks share: a config with one destination on $HOOK, a clean environment,
and the installed jp1notify command."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/fakeslack.py

CONFIG = """
[message]
language = "ja"
timezone = "Asia/Tokyo"
[log]
dir = "logs"
[outbox]
data_dir = "data"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
mention = "channel"
"""


def installed_command() -> list[str]:
    """The console script of the virtualenv running the benchmark."""
    return [
        str(Path(sys.executable).parent / ("jp1notify.exe" if os.name == "nt" else "jp1notify"))
    ]


def workspace(prefix: str, hook: str) -> dict[str, str]:
    """A fresh folder with the config; returns the environment pointing jp1notify at it."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / "jp1notify.toml").write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EV", "JP1NOTIFY", "AJS"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure an installed state: .pyc files cached
    env.update(JP1NOTIFY_CONFIG=str(folder / "jp1notify.toml"), HOOK=hook)
    return env
