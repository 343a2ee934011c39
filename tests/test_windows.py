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
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import fakeslack
import test_tls
from conftest import ROOT, in_ci

# The throwaway CA and the HTTPS fake Slack it signed (tests/test_tls.py).
certificates = test_tls.certificates
https_slack_sending_its_ca = test_tls.https_slack_sending_its_ca

HOSTILE = (
    'x & echo INJECTED > "{canary}" | find "y" < nul > nul ^ %PATH% !PATH! "quoted" '
    "ジョブネット(AJSROOT1:/本番/日次:@A1)が異常終了しました"
)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install wine wine64 gcc-mingw-w64-x86-64)"
        if in_ci() and sys.platform.startswith("linux"):
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
    quiet = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
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


def run_bat(
    bat: Path, wine: dict[str, str], cwd: Path, **env: str
) -> subprocess.CompletedProcess[bytes]:
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


def test_hostile_event_text_reaches_the_exe_intact_and_runs_nothing(
    install: Path, wine, tmp_path: Path
):
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


WINDOWS_DIST = ROOT / "dist-windows" / "jp1notify"


@pytest.fixture(scope="session")
def wine_with_bcryptprimitives(wine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Wine prefix plus a stand-in bcryptprimitives.dll in its system32: Wine 8 lacks the
    DLL, which the Windows pydantic-core needs (tests/windows/bcryptprimitives.c)."""
    gcc = need("x86_64-w64-mingw32-gcc")
    source = ROOT / "tests" / "windows"
    system32 = Path(wine["WINEPREFIX"]) / "drive_c" / "windows" / "system32"
    subprocess.run(
        [
            gcc,
            "-shared",
            "-O2",
            "-o",
            str(system32 / "bcryptprimitives.dll"),
            str(source / "bcryptprimitives.c"),
            str(source / "bcryptprimitives.def"),
            "-ladvapi32",
        ],
        check=True,
    )
    return wine


@pytest.fixture
def windows_app(tmp_path: Path) -> Path:
    """A copy of the real Windows build made by scripts/build-windows-under-wine.sh."""
    if not (WINDOWS_DIST / "jp1notify.exe").exists():
        if in_ci() and sys.platform.startswith("linux"):
            pytest.fail(
                "dist-windows/ is missing: .ci/run builds it with scripts/build-windows-under-wine.sh"
            )
        pytest.skip("no Windows build: run scripts/build-windows-under-wine.sh (a few minutes)")
    app = tmp_path / "jp1notify"
    shutil.copytree(WINDOWS_DIST, app, ignore=shutil.ignore_patterns("logs", "data", "*.cache"))
    return app


def test_real_windows_exe_through_the_bat(
    windows_app: Path, wine_with_bcryptprimitives, tmp_path: Path, slack
):
    wine = wine_with_bcryptprimitives
    canary = tmp_path / "canary.txt"
    message = HOSTILE.format(canary=windows_path(canary)).replace(
        "ジョブネット(AJSROOT1:/本番/日次:@A1)",
        "KAVS0262-E ジョブネット(AJSROOT1:/PROD/日次:@A1) <!channel>",
    )
    hooks = {
        "JP1NOTIFY_WEBHOOK_ALERTS": slack.url("alerts"),
        "JP1NOTIFY_WEBHOOK_NOTICE": slack.url("notice"),
    }
    event = {"EVID": "4104:0", "EVDATE": "2026/11/22", "EVTIME": "02:13:05", "EVHOST": "jp1mgr01"}
    result = run_bat(
        windows_app / "notification.bat", wine, tmp_path, EVMSG=message, **hooks, **event
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    (payload,) = slack.payloads("alerts")
    assert payload["text"].startswith("<!channel> [エラー] ジョブネット異常終了:")
    assert "&lt;!channel&gt;" in payload["attachments"][0]["text"]
    assert not canary.exists()
    assert list((windows_app / "logs").glob("jp1notify-*.log"))
    assert (windows_app / "data" / "jp1notify.db").exists()
    slack.script("alerts", fakeslack.NOT_FOUND)
    later = {**event, "EVTIME": "02:20:00"}
    dead = run_bat(
        windows_app / "notification.bat", wine, tmp_path, EVMSG=message, **hooks, **later
    )
    assert dead.returncode == 69
    nothing = run_bat(windows_app / "notification.bat", wine, tmp_path, EVID="?AJS2EVID?")
    assert nothing.returncode == 65


def test_real_windows_exe_validates_a_changed_config(
    windows_app: Path, wine_with_bcryptprimitives, tmp_path: Path
):
    config = windows_app / "config" / "jp1notify.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('language = "ja"', 'language = "fr"'),
        encoding="utf-8",
    )
    (windows_app / "check.bat").write_bytes(
        b'@echo off\r\ncd /d "%~dp0"\r\njp1notify.exe check-config\r\nexit /b %ERRORLEVEL%\r\n'
    )
    result = run_bat(windows_app / "check.bat", wine_with_bcryptprimitives, tmp_path)
    assert result.returncode == 78
    assert b"message.language: 'fr' is not allowed (allowed: ja, en)" in result.stderr


def test_real_windows_exe_carries_its_version(windows_app: Path):
    from jp1notify import __version__

    data = (windows_app / "jp1notify.exe").read_bytes()
    assert "FileVersion".encode("utf-16-le") in data
    assert __version__.encode("utf-16-le") in data


def test_real_windows_exe_takes_overrides_from_the_environment(
    windows_app: Path, wine_with_bcryptprimitives, tmp_path: Path
):
    """Windows upper-cases variable names; pydantic-settings is bundled for the cache miss."""
    (windows_app / "check.bat").write_bytes(
        b'@echo off\r\ncd /d "%~dp0"\r\njp1notify.exe check-config\r\nexit /b %ERRORLEVEL%\r\n'
    )
    data = tmp_path / "shared" / "data"
    env = {
        "jp1notify_outbox__data_dir": windows_path(data),
        "JP1NOTIFY_DESTINATIONS__ALERTS__WEBHOOK_URL_ENV": "HOOK",
        "HOOK": "https://hooks.slack.com/services/T0/B0/windowsecret",
    }
    result = run_bat(windows_app / "check.bat", wine_with_bcryptprimitives, tmp_path, **env)
    out = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 0, out + result.stderr.decode("utf-8", "replace")
    assert f"JP1NOTIFY_OUTBOX__DATA_DIR sets outbox.data_dir = {windows_path(data)}" in out
    assert "alerts: environment variable HOOK (readable)" in out


def trust_in_wine(wine: dict[str, str], ca: Path, trusted: bool) -> None:
    """Add `ca` to (or remove it from) the Local Computer's Trusted Root Certification
    Authorities of the Wine prefix: the registry value `certutil -addstore Root` writes, a
    serialized certificate (property CERT_CERT_PROP_ID 0x20, reserved 1, length, DER) under the
    certificate's SHA-1 thumbprint."""
    import hashlib
    import ssl
    import struct

    der = ssl.PEM_cert_to_DER_cert(ca.read_text(encoding="ascii"))
    thumbprint = hashlib.sha1(der).hexdigest().upper()
    key = rf"HKLM\Software\Microsoft\SystemCertificates\Root\Certificates\{thumbprint}"
    blob = (struct.pack("<III", 0x20, 1, len(der)) + der).hex()
    args = (
        ["add", key, "/v", "Blob", "/t", "REG_BINARY", "/d", blob] if trusted else ["delete", key]
    )
    subprocess.run(
        ["wine", "reg", *args, "/f"],
        env=wine,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=True,
    )


def test_real_windows_exe_verifies_tls_through_the_windows_certificate_store(
    windows_app: Path,
    wine_with_bcryptprimitives,
    tmp_path: Path,
    certificates,
    https_slack_sending_its_ca,
):
    """truststore's Windows backend (ctypes and crypt32, Wine's here) in the real build: a CA
    that is not in the certificate store is refused in Windows' terms (an error code, no
    CERTIFICATE_VERIFY_FAILED), with the advice; once an administrator imported it into the
    Local Computer's Trusted Root Certification Authorities, the kept message goes out with no
    ca_file. (http.ca_file cannot be tried here: Wine 8's CertCreateCertificateChainEngine
    refuses truststore's engine with an exclusive root store, E_INVALIDARG; Windows 7 and later
    take it.)"""
    wine, slack = wine_with_bcryptprimitives, https_slack_sending_its_ca
    (windows_app / "config" / "jp1notify.toml").write_text(
        '[outbox]\nmax_wait_seconds = 1\n[destinations.alerts]\nwebhook_url_env = "HOOK"\n'
        '[[routes]]\ndestination = "alerts"\n',
        encoding="utf-8",
    )
    event = {"EVID": "4104:0", "EVMSG": "KAVS0262-E jobnet (AJSROOT1:/PROD/NIGHT:@A1)"}
    env = {"HOOK": slack.url("alerts"), **event}
    refused = run_bat(windows_app / "notification.bat", wine, tmp_path, **env)
    stderr = refused.stderr.decode("utf-8", "replace")
    assert refused.returncode == 0, stderr
    assert "TLS certificate verification failed (" in stderr, stderr
    assert test_tls.WINDOWS_STORE in stderr and "http.ca_file" in stderr
    assert slack.received == []
    (windows_app / "flush.bat").write_bytes(
        b'@echo off\r\ncd /d "%~dp0"\r\njp1notify.exe flush\r\nexit /b %ERRORLEVEL%\r\n'
    )
    trust_in_wine(wine, certificates["ca.pem"], trusted=True)
    try:
        flushed = run_bat(windows_app / "flush.bat", wine, tmp_path, **env)
    finally:
        trust_in_wine(wine, certificates["ca.pem"], trusted=False)
    assert flushed.returncode == 0, flushed.stderr.decode("utf-8", "replace")
    assert len(slack.payloads("alerts")) == 1, flushed.stderr.decode("utf-8", "replace")
