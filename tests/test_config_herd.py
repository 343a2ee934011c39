"""A storm right after the config was edited: one process validates the file (pydantic), the
others wait for its cache instead of each paying the validation; a dead validator's claim, or
an invalid file, costs no alert."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from jp1notify.config import _validating, cache_path

from conftest import MINIMAL

PROBE = """
import os, sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
from jp1notify.config import load_config
from jp1notify.errors import ConfigError
try:
    config = load_config(Path(sys.argv[1]))
    print("ok", config.routes[0].destinations, "jp1notify.schema" in sys.modules)
except ConfigError as exc:
    print("error", str(exc).replace("\\n", " | "), "jp1notify.schema" in sys.modules)
"""


def together(path: Path, count: int, tmp_path: Path) -> list[str]:
    """`count` interpreters load the config at the same moment; each prints its result and
    whether it imported the validation (jp1notify.schema, pydantic)."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    time.sleep(0.5)  # let them all start and wait for the signal
    go.write_text("go")
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_one_process_of_a_storm_validates_an_edited_config_the_others_wait(tmp_path: Path):
    path = tmp_path / "jp1notify.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    outputs = together(path, 12, tmp_path)
    assert all(line.startswith("ok ('alerts',)") for line in outputs), outputs
    validated = [line for line in outputs if line.endswith("True")]
    assert len(validated) == 1, outputs
    assert cache_path(path).exists()
    assert not path.with_name(path.name + ".cache.lock").exists()


def test_an_invalid_config_is_reported_by_every_process_of_a_storm(tmp_path: Path):
    path = tmp_path / "jp1notify.toml"
    path.write_text(MINIMAL.replace('destination = "alerts"', 'destination = "nowhere"'))
    outputs = together(path, 6, tmp_path)
    assert all(line.startswith("error") and "nowhere" in line for line in outputs), outputs
    assert not cache_path(path).exists()
    assert not path.with_name(path.name + ".cache.lock").exists()


def test_a_dead_validators_claim_is_ignored_a_live_one_is_waited_for(tmp_path: Path):
    path = tmp_path / "jp1notify.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    lock = path.with_name(path.name + ".cache.lock")
    lock.write_text("")
    with _validating(path) as alone:
        assert not alone  # fresh: another process is validating
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with _validating(path) as alone:
        assert alone and os.stat(lock).st_mtime > old  # an hour old: its process died, taken over
    assert not lock.exists()  # ours once taken over: removed
    with _validating(path) as alone:
        assert alone and lock.exists()
    assert not lock.exists()
