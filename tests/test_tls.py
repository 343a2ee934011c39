"""TLS verification is always on, against the operating system's trust store plus `http.ca_file`
(jp1notify/trust.py): a webhook whose certificate jp1notify cannot verify is not posted to (the
message stays queued, with advice), a CA in the system store is trusted with no setting (a
company's TLS-inspecting proxy), and `http.ca_file` adds one. A local HTTPS fake Slack with a
throwaway CA from openssl; on Linux the "system store" is OpenSSL's, reached through its
standard variables (SSL_CERT_FILE, SSL_CERT_DIR) and, as root, its default folder."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jp1notify.delivery import RETRY, judge_error

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack

# What Windows says through truststore's CryptoAPI backend (FormatMessageW of
# CERT_E_UNTRUSTEDROOT); it holds no "CERTIFICATE_VERIFY_FAILED".
UNTRUSTED_ROOT = (
    "A certificate chain processed, but terminated in a root certificate which is not "
    "trusted by the trust provider."
)
WINDOWS_STORE = "Trusted Root Certification Authorities of the Local Computer"


# P-256 keys: made in milliseconds, where an RSA 2048 key takes up to a second.
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def openssl(folder: Path, *args: str) -> str:
    done = subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    return done.stdout.decode().strip()


def make_ca(folder: Path, name: str) -> None:
    """A throwaway CA, `name`.pem and `name`.key. Its subject is unique, so that its hash never
    names a real CA's file in a system folder."""
    subject = f"/CN=jp1notify throwaway {name} {uuid.uuid4().hex[:12]}"
    openssl(
        folder,
        *("req", "-x509", *EC_KEY, "-nodes", "-days", "2", "-subj", subject),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem"),
    )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ca.pem, the server certificate it signed for localhost/127.0.0.1 (server.pem; chain.pem
    with the CA after it), and other-ca.pem, a second CA that signed nothing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    openssl(
        folder,
        *("req", *EC_KEY, "-nodes", "-subj", "/CN=localhost"),
        *("-keyout", "server.key", "-out", "server.csr"),
    )
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        folder,
        *("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem"),
    )
    chain = (folder / "server.pem").read_text() + (folder / "ca.pem").read_text()
    (folder / "chain.pem").write_text(chain)
    names = ("ca.pem", "other-ca.pem", "server.pem", "chain.pem", "server.key")
    return {name: folder / name for name in names}


def subject_hash(ca: Path) -> str:
    """The name OpenSSL looks a CA up by in a hashed folder (`openssl rehash` makes the same)."""
    return openssl(ca.parent, "x509", "-hash", "-noout", "-in", str(ca))


@pytest.fixture(scope="session")
def system_bundle(certificates, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle as an administrator makes one for SSL_CERT_FILE: the system's CAs plus ours."""
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    bundle = tmp_path_factory.mktemp("bundle") / "ca-bundle.crt"
    existing = system.read_text(encoding="ascii") if system.is_file() else ""
    bundle.write_text(existing + "\n" + certificates["ca.pem"].read_text(), encoding="ascii")
    return bundle


@pytest.fixture(scope="session")
def hashed_folder(certificates, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for SSL_CERT_DIR, as `openssl rehash` leaves it: <subject hash>.0."""
    folder = tmp_path_factory.mktemp("certs")
    shutil.copy(certificates["ca.pem"], folder / f"{subject_hash(certificates['ca.pem'])}.0")
    return folder


@pytest.fixture
def https_slack(certificates) -> Iterator[FakeSlack]:
    fake = FakeSlack(tls=(str(certificates["server.pem"]), str(certificates["server.key"])))
    yield fake
    fake.close()


@pytest.fixture
def https_slack_sending_its_ca(certificates) -> Iterator[FakeSlack]:
    """The fake sending its CA after its certificate, as many servers and proxies do. Wine 8's
    crypt32 accepts a chain that stops at an unknown issuer (observed; Windows answers
    CERT_E_CHAINING), so the Windows-backend test needs the root in the chain to be refused."""
    fake = FakeSlack(tls=(str(certificates["chain.pem"]), str(certificates["server.key"])))
    yield fake
    fake.close()


CONFIG = """
[http]
timeout_seconds = 2
{ca_line}
[outbox]
data_dir = "data"
max_wait_seconds = 1
[log]
dir = "logs"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""


def site_env(tmp_path: Path, slack: FakeSlack, ca_line: str = "", **extra: str) -> dict[str, str]:
    """A config posting to the fake, and an environment with no trust store variable but
    `extra`'s."""
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(ca_line=ca_line), encoding="utf-8")
    env = clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env())
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    env.update(extra)
    return env


def send(tmp_path: Path, slack: FakeSlack, ca_line: str = "", **extra: str):
    return run([], site_env(tmp_path, slack, ca_line, **extra))


def ca_file_line(ca: Path | str) -> str:
    return f"ca_file = '{ca}'"  # a TOML literal string: a Windows path's \\ stays as it is


def delivered(result, slack: FakeSlack) -> bool:
    return (
        result.returncode == 0
        and "delivered to alerts" in result.stderr
        and len(slack.payloads("alerts")) == 1
    )


# -- refused --------------------------------------------------------------------------------


def test_an_unverifiable_certificate_is_refused_the_message_kept_and_both_fixes_named(
    tmp_path, https_slack, system_bundle
):
    result = send(tmp_path, https_slack)
    assert result.returncode == 0, result.stderr  # safely queued
    assert "TLS certificate verification failed (unable to get local issuer" in result.stderr
    assert WINDOWS_STORE in result.stderr and "set http.ca_file" in result.stderr
    assert https_slack.received == []
    # Kept: once the CA is in the trust store, a flush delivers it.
    flushed = run(["flush"], site_env(tmp_path, https_slack, SSL_CERT_FILE=str(system_bundle)))
    assert flushed.returncode == 0, flushed.stderr
    assert len(https_slack.payloads("alerts")) == 1


@pytest.mark.parametrize(
    "windows_error",
    [
        pytest.param({"verify_message": UNTRUSTED_ROOT, "verify_code": 0x800B0109}, id="full"),
        pytest.param({}, id="bare"),
    ],
)
def test_a_refusal_in_the_systems_own_words_is_still_a_certificate_failure(windows_error):
    """truststore on Windows and macOS raises ssl.SSLCertVerificationError with the system's
    message; httpx wraps it in a ConnectError whose text has no CERTIFICATE_VERIFY_FAILED."""
    refusal = ssl.SSLCertVerificationError(UNTRUSTED_ROOT)
    for name, value in windows_error.items():
        setattr(refusal, name, value)
    try:
        try:
            raise refusal
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as exc:
        verdict = judge_error(exc)
    assert verdict.disposition == RETRY
    assert verdict.reason.startswith("TLS certificate verification failed (A certificate chain")
    assert WINDOWS_STORE in verdict.reason and "http.ca_file" in verdict.reason


# -- the system trust store, without ca_file -------------------------------------------------


def test_a_ca_in_the_bundle_of_ssl_cert_file_is_trusted(tmp_path, https_slack, system_bundle):
    result = send(tmp_path, https_slack, SSL_CERT_FILE=str(system_bundle))
    assert delivered(result, https_slack), result.stderr


def test_a_ca_in_the_hashed_folder_of_ssl_cert_dir_is_trusted(tmp_path, https_slack, hashed_folder):
    result = send(tmp_path, https_slack, SSL_CERT_DIR=str(hashed_folder))
    assert delivered(result, https_slack), result.stderr


@pytest.fixture
def ca_in_the_default_folder(certificates) -> Iterator[Path]:
    """Our CA as <hash>.N in the folder OpenSSL reads with no variable set (Debian:
    /usr/lib/ssl/certs -> /etc/ssl/certs), removed afterwards: what an administrator does."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("adding a CA to the system's trust store needs root (CI runs as root)")
    folder = Path(ssl.get_default_verify_paths().openssl_capath)
    if not folder.is_dir():
        pytest.skip(f"OpenSSL's default CA folder {folder} does not exist here")
    stem = subject_hash(certificates["ca.pem"])
    target = next(
        folder / f"{stem}.{n}" for n in range(10) if not (folder / f"{stem}.{n}").exists()
    )
    shutil.copy(certificates["ca.pem"], target)
    try:
        yield target
    finally:
        target.unlink()


def test_a_ca_added_to_the_system_store_is_trusted_with_no_setting(
    tmp_path, https_slack, ca_in_the_default_folder
):
    """What certifi's bundle (jp1notify before truststore) could never do."""
    env = site_env(tmp_path, https_slack)
    assert not {"SSL_CERT_FILE", "SSL_CERT_DIR"} & env.keys()
    result = run([], env)
    assert delivered(result, https_slack), result.stderr


# -- http.ca_file ------------------------------------------------------------------------------


def test_ca_file_makes_the_proxy_or_private_ca_trusted(tmp_path, https_slack, certificates):
    result = send(tmp_path, https_slack, ca_file_line(certificates["ca.pem"]))
    assert delivered(result, https_slack), result.stderr


def test_ca_file_adds_to_the_system_store_and_does_not_replace_it(
    tmp_path, https_slack, certificates, system_bundle
):
    """ca_file names a CA that signed nothing here; the fake's CA is in the system store."""
    line = ca_file_line(certificates["other-ca.pem"])
    result = send(tmp_path, https_slack, line, SSL_CERT_FILE=str(system_bundle))
    assert delivered(result, https_slack), result.stderr


def test_check_config_says_which_trust_store_verifies(tmp_path, https_slack, certificates):
    env = site_env(tmp_path, https_slack, ca_file_line(certificates["other-ca.pem"]))
    checked = run(["check-config"], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (line,) = [x for x in checked.stdout.splitlines() if x.startswith("TLS:")]
    store = "the Windows certificate store" if os.name == "nt" else "the system trust store"
    assert line.startswith(f"TLS: certificates verified with {store}")
    assert line.endswith(f", plus http.ca_file {certificates['other-ca.pem']}")


# -- when truststore cannot be used ------------------------------------------------------------


@pytest.fixture
def broken_truststore(tmp_path: Path) -> str:
    """A PYTHONPATH folder whose truststore fails to import, as on an OS it does not support."""
    folder = tmp_path / "shadow"
    folder.mkdir()
    (folder / "truststore.py").write_text(
        'raise ImportError("truststore requires peer certificate chain APIs to be available")\n'
    )
    return str(folder)


def test_without_truststore_tls_falls_back_to_the_bundle_with_one_warning(
    tmp_path, https_slack, system_bundle, broken_truststore
):
    extra = {"SSL_CERT_FILE": str(system_bundle), "PYTHONPATH": broken_truststore}
    result = send(tmp_path, https_slack, **extra)
    assert delivered(result, https_slack), result.stderr
    warnings = [x for x in result.stderr.splitlines() if "trust store cannot be used" in x]
    assert len(warnings) == 1 and f"SSL_CERT_FILE {system_bundle}" in warnings[0]
    assert "http.ca_file" in warnings[0]
    checked = run(["check-config"], site_env(tmp_path, https_slack, **extra))
    assert f"TLS: certificates verified with SSL_CERT_FILE {system_bundle}" in checked.stdout
    assert "trusted only through http.ca_file" in checked.stdout
