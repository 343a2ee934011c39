"""TLS verification is always on: a webhook whose certificate jp1notify cannot verify is not
posted to (the message stays queued, with advice), and `http.ca_file` (a TLS-inspecting
proxy's CA) makes it trusted. A local HTTPS fake Slack with a throwaway CA from openssl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import clean_env, event_env, run
from fakeslack import FakeSlack


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    return {name: folder / name for name in ("ca.pem", "server.pem", "server.key")}


@pytest.fixture
def https_slack(certificates):
    fake = FakeSlack(tls=(str(certificates["server.pem"]), str(certificates["server.key"])))
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


def send(tmp_path: Path, slack: FakeSlack, ca_line: str = "", *args: str):
    config = tmp_path / "jp1notify.toml"
    config.write_text(CONFIG.format(ca_line=ca_line), encoding="utf-8")
    env = clean_env(JP1NOTIFY_CONFIG=str(config), HOOK=slack.url("alerts"), **event_env())
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    return run(list(args), env)


def test_an_unverifiable_certificate_is_refused_and_the_message_kept(tmp_path, https_slack):
    result = send(tmp_path, https_slack)
    assert result.returncode == 0, result.stderr  # safely queued
    assert "TLS certificate verification failed" in result.stderr
    assert "set http.ca_file" in result.stderr
    assert https_slack.received == []


def test_ca_file_makes_the_proxy_or_private_ca_trusted(tmp_path, https_slack, certificates):
    result = send(tmp_path, https_slack, f'ca_file = "{certificates["ca.pem"]}"')
    assert result.returncode == 0, result.stderr
    assert "delivered to alerts" in result.stderr
    assert len(https_slack.payloads("alerts")) == 1
