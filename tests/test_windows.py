"""scripts/notification.bat under Wine's cmd.exe, as JP1 runs it on Windows.

A stand-in executable (tests/windows/probe.c, built with mingw-w64) takes jp1notify.exe's
place and records what it received. Recipe and pitfalls: docs/windows.md. Wine and mingw come
from Debian's packages (.ci/run installs them); without them these tests are skipped locally and
fail in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, in_ci

HOSTILE = (
    'x & echo INJECTED > "{canary}" | find "y" < nul > nul ^ %PATH% !PATH! "quoted" '
    "ジョブネット(AJSROOT1:/本番/日次:@A1)が異常終了しました"
)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install wine wine64 gcc-mingw-w64-x86-64)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh, headless Wine prefix with its server started and warmed up."""
    need("wine")
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DISPLAY" and not key.startswith(("EV", "JP1NOTIFY", "AJS"))
    }
    env.update(
        WINEPREFIX=str(tmp_path_factory.mktemp("wineprefix")),
        WINEDEBUG="-all",
        WINEDLLOVERRIDES="mscoree=d;mshtml=d",
        LC_ALL="C.UTF-8",  # with the C locale, Japanese text in the environment is mangled
    )
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["wineboot", "-i"], env=env, timeout=300, check=False, **quiet)
    subprocess.run(["wineserver", "-p"], env=env, timeout=60, check=False, **quiet)
    # One warm-up with every stream on /dev/null, or later runs hang on inherited pipes.
    subprocess.run(["wine", "cmd", "/c", "exit", "0"], env=env, timeout=120, check=False, **quiet)
    yield env
    subprocess.run(["wineserver", "-k"], env=env, timeout=60, check=False, **quiet)


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = need("x86_64-w64-mingw32-gcc")
    exe = tmp_path_factory.mktemp("probe") / "probe.exe"
    subprocess.run(
        [gcc, "-municode", "-O2", "-o", str(exe), str(ROOT / "tests" / "windows" / "probe.c")],
        check=True,
    )
    return exe


@pytest.fixture
def install(tmp_path: Path, probe: Path) -> Path:
    """An install folder: notification.bat with the probe standing in for jp1notify.exe."""
    folder = tmp_path / "jp1notify"
    folder.mkdir()
    shutil.copy2(ROOT / "scripts" / "notification.bat", folder / "notification.bat")
    shutil.copy2(probe, folder / "jp1notify.exe")
    return folder


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def run_bat(bat: Path, wine: dict[str, str], cwd: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    # Output through pipes: Python under Wine dies when a stream is a regular file.
    return subprocess.run(
        ["wine", "cmd", "/c", windows_path(bat)],
        env={**wine, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )


def probe_output(folder: Path) -> dict[str, str]:
    text = (folder / "probe-out.txt").read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines())


def test_hostile_event_text_reaches_the_exe_intact_and_runs_nothing(install: Path, wine, tmp_path: Path):
    canary = tmp_path / "canary.txt"
    message = HOSTILE.format(canary=windows_path(canary))
    elsewhere = tmp_path / "jp1-working-dir"
    elsewhere.mkdir()
    result = run_bat(install / "notification.bat", wine, elsewhere, EVMSG=message, PROBE_EXIT="0")
    assert result.returncode == 0, result.stderr
    seen = probe_output(install)
    assert seen["EVMSG"] == message  # byte for byte, Japanese included
    assert seen["CWD"] == windows_path(install)  # cd /d "%~dp0", not JP1's working directory
    assert seen["ARGC"] == "0"
    assert not canary.exists(), "event text was executed by cmd.exe"
    assert not list(elsewhere.iterdir())


def test_the_harness_would_catch_an_unsafe_bat(install: Path, wine, tmp_path: Path):
    """Proof that the test above can fail: a .bat that expands %EVMSG% runs the injected command."""
    canary = tmp_path / "canary.txt"
    unsafe = install / "unsafe.bat"
    unsafe.write_bytes(b"@echo off\r\necho %EVMSG%\r\n")
    run_bat(unsafe, wine, tmp_path, EVMSG=HOSTILE.format(canary=windows_path(canary)))
    assert canary.exists()


@pytest.mark.parametrize("code", [0, 64, 65, 69, 74, 78])
def test_exit_code_is_handed_back_to_jp1(install: Path, wine, tmp_path: Path, code: int):
    result = run_bat(install / "notification.bat", wine, tmp_path, EVMSG="x", PROBE_EXIT=str(code))
    assert result.returncode == code
