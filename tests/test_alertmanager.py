"""`kind = "alertmanager"`: the installed `jp1notify` posts to two real, clustered Prometheus
Alertmanager instances on loopback (Debian's prometheus-alertmanager, which .ci/run installs;
without it these tests are skipped locally and fail in CI), and reads back what each instance
holds (GET /api/v2/alerts). The pure parts (alerts of an item, the body, the table of answers,
the outcome over several instances) are tested as functions."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jp1notify.classify import Classification
from jp1notify.delivery import Disposition, Verdict
from jp1notify.destinations import Item
from jp1notify.destinations import alertmanager as am
from jp1notify.event import parse_event
from jp1notify.incidents import Incident, State

from conftest import ROOT, clean_env, in_ci, jobnet_env, make_config, run

BINARY = "prometheus-alertmanager"
PASSWORD = "s3cret-Pa55word-4am"
# bcrypt of PASSWORD (cost 4), for Alertmanager's --web.config.file basic_auth_users
PASSWORD_HASH = "$2b$04$7yLVl9DNPHAngN8WjuplS.unN.67eLroeVE1fq792BliasSz8lGzC"
RECEIVERS = "route:\n  receiver: none\nreceivers:\n  - name: none\n"
READY_WAIT = 60.0  # generous: a shared machine; no test asserts how long anything took

CONFIG = """
[message]
language = "en"
timezone = "Asia/Tokyo"
[http]
timeout_seconds = 3
max_attempts = 2
retry_budget_seconds = 8
[outbox]
data_dir = "data"
max_wait_seconds = 2
[log]
dir = "logs"
[destinations.am]
kind = "alertmanager"
urls = [{urls}]
{auth}
[[routes]]
name = "problems"
levels = ["error", "warning"]
destination = "am"
"""
AUTH = 'username = "jp1"\npassword_env = "AM_PASSWORD"'


def need_alertmanager() -> str:
    path = shutil.which(BINARY)
    if path is None:
        message = f"{BINARY} is not installed (apt-get install prometheus-alertmanager)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    """One Alertmanager on loopback, in a cluster with its peers."""

    def __init__(self, root: Path, name: str, web_config: Path | None) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.port, self.cluster_port = free_port(), free_port()
        self.web_config = web_config
        self.peers: list[int] = []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def auth(self) -> tuple[str, str] | None:
        return ("jp1", PASSWORD) if self.web_config else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.dir / "am.yml").write_text(RECEIVERS, encoding="utf-8")
        args = [
            need_alertmanager(),
            f"--config.file={self.dir / 'am.yml'}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
            f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
            *(f"--cluster.peer=127.0.0.1:{p}" for p in self.peers),
        ]
        if self.web_config:
            args.append(f"--web.config.file={self.web_config}")
        log = open(self.dir / "log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2, auth=self.auth).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"Alertmanager at {self.url} never became ready:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def log(self) -> str:
        return (self.dir / "log").read_text(encoding="utf-8", errors="replace")[-3000:]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds that are not resolved (GET leaves those out), by incident."""
        answer = httpx.get(f"{self.url}/api/v2/alerts", timeout=10, auth=self.auth)
        assert answer.status_code == 200, answer.text
        return sorted(answer.json(), key=lambda a: a["labels"].get("incident", ""))


class Cluster:
    def __init__(self, root: Path, auth: bool = False) -> None:
        web_config = None
        if auth:
            web_config = root / "web.yml"
            web_config.write_text(f"basic_auth_users:\n  jp1: {PASSWORD_HASH}\n", "utf-8")
        self.a = Instance(root, "a", web_config)
        self.b = Instance(root, "b", web_config)
        self.a.peers, self.b.peers = [self.b.cluster_port], [self.a.cluster_port]

    def start(self) -> None:
        self.a.start()
        self.b.start()

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need_alertmanager()
    (tmp_path / "am").mkdir()
    pair = Cluster(tmp_path / "am")
    pair.start()
    yield pair
    pair.stop()


def write_config(folder: Path, urls: list[str], auth: str = "") -> Path:
    config = folder / "jp1notify.toml"
    shown = ", ".join(json.dumps(u) for u in urls)
    config.write_text(CONFIG.format(urls=shown, auth=auth), encoding="utf-8")
    return config


def jobnet_event(
    config: Path, event_id: str, path: str, at: str, exec_id: str = "@A100", **extra: str
) -> dict[str, str]:
    env = jobnet_env(event_id, path, exec_id, "2026/11/22", at)
    return clean_env(JP1NOTIFY_CONFIG=str(config), **env, **extra)


def flush(config: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return run(["flush"], clean_env(JP1NOTIFY_CONFIG=str(config), **extra))


def written(config: Path) -> list[Path]:
    folder = config.parent
    files = [*(folder / "logs").glob("*"), *(folder / "data").glob("*")]
    return [*files, *folder.glob("*.cache")]


def assert_clean(config: Path, secret: str, *results: subprocess.CompletedProcess[str]) -> None:
    """No traceback, and the secret in no byte of stdout, stderr, the logs, store or cache."""
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
        assert secret not in result.stdout + result.stderr
    for path in written(config):
        assert secret.encode() not in path.read_bytes(), path


# -- through the installed command, against two real instances -------------------------------


def test_an_abnormal_end_fires_one_alert_on_both_instances(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    result = run([], jobnet_event(config, "4104", "/PROD/DAILY/BACKUP", "02:13:05"))
    assert result.returncode == 0, result.stderr
    for instance in (cluster.a, cluster.b):
        (alert,) = instance.alerts()
        assert alert["status"]["state"] == "active"
        assert alert["labels"] == {
            "alertname": "JP1JobnetProblem",
            "incident": "1",
            "jobnet": "/PROD/DAILY/BACKUP",
            "service": "AJSROOT1",
            "host": "jp1mgr01",
            "severity": "critical",
        }
        assert alert["annotations"]["summary"] == "Jobnet ended abnormally: /PROD/DAILY/BACKUP"
        assert "KAVS0262-E" in alert["annotations"]["description"]
        assert alert["startsAt"] == "2026-11-21T17:13:05.000Z"  # 02:13:05 in Asia/Tokyo
    assert_clean(config, "AM_PASSWORD_NEVER_SET", result)


def test_a_normal_end_resolves_the_alert_on_both_instances(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    failed = run([], jobnet_event(config, "4104", "/PROD/DAILY/BACKUP", "02:13:05"))
    assert [len(i.alerts()) for i in (cluster.a, cluster.b)] == [1, 1], failed.stderr
    ended = run([], jobnet_event(config, "4103", "/PROD/DAILY/BACKUP", "02:40:00", "@A101"))
    assert ended.returncode == 0, ended.stderr
    # resolved: endsAt lies in the past, so GET /api/v2/alerts no longer lists it as active
    assert cluster.a.alerts() == [] and cluster.b.alerts() == []
    again = flush(config)  # the re-send says "resolved" too, never fires it again
    assert again.returncode == 0, again.stderr
    assert cluster.a.alerts() == [] and cluster.b.alerts() == []


def test_recovery_false_on_the_route_still_resolves_the_alert(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('destination = "am"', 'destination = "am"\nrecovery = false'))
    run([], jobnet_event(config, "4104", "/PROD/DAILY/BACKUP", "02:13:05"))
    assert [len(i.alerts()) for i in (cluster.a, cluster.b)] == [1, 1]
    ended = run([], jobnet_event(config, "4103", "/PROD/DAILY/BACKUP", "02:40:00", "@A101"))
    assert ended.returncode == 0, ended.stderr
    assert cluster.a.alerts() == [] and cluster.b.alerts() == []


def test_an_instance_killed_mid_stream_loses_nothing(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    first = run([], jobnet_event(config, "4104", "/PROD/A", "02:00:00"))
    assert first.returncode == 0, first.stderr
    cluster.b.stop()
    later = [
        run([], jobnet_event(config, "4104", path, at, exec_id))
        for path, at, exec_id in (("/PROD/B", "02:01:00", "@B1"), ("/PROD/C", "02:02:00", "@C1"))
    ]
    for result in later:
        assert result.returncode == 0, result.stderr  # delivered: one instance accepted
        assert "accepted by 1 of 2 Alertmanager instances" in result.stderr
        assert cluster.b.url in result.stderr
    jobnets = [a["labels"]["jobnet"] for a in cluster.a.alerts()]
    assert jobnets == ["/PROD/A", "/PROD/B", "/PROD/C"]  # the alive one has all
    cluster.b.start()  # alerts live in memory: it comes back empty
    assert cluster.b.alerts() == []
    resent = flush(config)
    assert resent.returncode == 0, resent.stderr
    assert [a["labels"]["jobnet"] for a in cluster.b.alerts()] == jobnets
    assert [a["labels"]["jobnet"] for a in cluster.a.alerts()] == jobnets
    logged = "".join(p.read_text("utf-8") for p in (tmp_path / "logs").glob("*.log"))
    assert "phase=resend destination=am alerts=3 outcome=delivered" in logged


def test_flush_re_sends_open_incidents_with_a_new_end(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    run([], jobnet_event(config, "4104", "/PROD/A", "02:00:00"))
    (before,) = cluster.a.alerts()
    resent = flush(config)
    assert resent.returncode == 0, resent.stderr
    (after,) = cluster.a.alerts()
    assert after["labels"] == before["labels"]  # the same alert, not a new one
    assert after["fingerprint"] == before["fingerprint"]
    assert after["endsAt"] >= before["endsAt"]  # RFC 3339 UTC strings sort as times
    assert after["updatedAt"] > before["updatedAt"]


def test_when_no_instance_answers_the_alert_stays_queued(tmp_path, cluster):
    config = write_config(tmp_path, [cluster.a.url, cluster.b.url])
    cluster.stop()
    result = run([], jobnet_event(config, "4104", "/PROD/A", "02:00:00"))
    assert "no Alertmanager instance accepted it" in result.stderr
    cluster.start()
    resent = flush(config)
    assert resent.returncode == 0, resent.stderr
    assert [len(i.alerts()) for i in (cluster.a, cluster.b)] == [1, 1]


# -- basic auth ------------------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Cluster]:
    need_alertmanager()
    (tmp_path / "am").mkdir()
    pair = Cluster(tmp_path / "am", auth=True)
    pair.start()
    yield pair
    pair.stop()


def test_basic_auth_posts_and_the_password_is_never_written(tmp_path, guarded):
    config = write_config(tmp_path, [guarded.a.url, guarded.b.url], AUTH)
    event = jobnet_event(config, "4104", "/PROD/A", "02:00:00", AM_PASSWORD=PASSWORD)
    result = run([], event)
    assert result.returncode == 0, result.stderr
    assert [len(i.alerts()) for i in (guarded.a, guarded.b)] == [1, 1]
    checked = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config), AM_PASSWORD=PASSWORD))
    dry = run(["send", "--dry-run"], event)
    resent = flush(config, AM_PASSWORD=PASSWORD)
    assert resent.returncode == 0, resent.stderr
    assert_clean(config, PASSWORD, result, checked, dry, resent)


def test_a_wrong_password_keeps_the_alert_queued_and_names_the_keys(tmp_path, guarded):
    config = write_config(tmp_path, [guarded.a.url, guarded.b.url], AUTH)
    wrong = "wrong-Pa55word-4am"
    result = run([], jobnet_event(config, "4104", "/PROD/A", "02:00:00", AM_PASSWORD=wrong))
    assert result.returncode != 0
    assert "refused the credentials (HTTP 401)" in result.stderr
    assert "username and password" in result.stderr
    assert guarded.a.alerts() == []
    fixed = flush(config, AM_PASSWORD=PASSWORD)  # the message waited, it goes out now
    assert fixed.returncode == 0, fixed.stderr
    assert [len(i.alerts()) for i in (guarded.a, guarded.b)] == [1, 1]
    assert_clean(config, wrong, result, fixed)
    assert_clean(config, PASSWORD, result, fixed)


# -- check-config and the dry run (no Alertmanager needed) ------------------------------------


def test_check_config_lists_the_instances_and_warns_of_a_password_over_http(tmp_path):
    config = write_config(tmp_path, ["http://am1.example.co.jp:9093", "https://am2:9093"], AUTH)
    result = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config), AM_PASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "am: alertmanager, environment variable AM_PASSWORD (readable)" in out
    assert "2 instances: http://am1.example.co.jp:9093, https://am2:9093" in out
    assert "basic auth as jp1" in out and "firing alerts live 15 min" in out
    assert "destinations.am.urls: http://am1.example.co.jp:9093 is plain http" in out
    assert "https://am2:9093 is plain" not in out
    assert PASSWORD not in out


def test_without_username_there_is_no_secret_and_no_warning(tmp_path):
    config = write_config(tmp_path, ["http://am1.example.co.jp:9093"])
    result = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert result.returncode == 0, result.stderr
    assert "am: alertmanager, no credentials (readable), 1 instance" in result.stdout
    assert "plain http" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("destination", "wanted"),
    [
        ('kind = "alertmanager"', "kind 'alertmanager' needs urls"),
        ('kind = "alertmanager"\nurls = ["am1:9093"]', "must start with http:// or https://"),
        (
            'kind = "alertmanager"\nurls = ["http://am1:9093/api/v2/alerts"]',
            "without /api/v2/alerts",
        ),
        ('kind = "alertmanager"\nurls = ["http://u:p@am1:9093"]', "username and password_env"),
        (
            'kind = "alertmanager"\nurls = ["http://am1:9093"]\nusername = "jp1"',
            "with username, exactly one of password, password_env, password_file",
        ),
        (
            'kind = "alertmanager"\nurls = ["http://am1:9093"]\npassword_env = "X"',
            "password_env needs username",
        ),
        ('urls = ["http://am1:9093"]\nwebhook_url_env = "X"', 'set kind = "alertmanager"'),
        (
            'kind = "alertmanager"\nurls = ["http://am1:9093"]\nalert_lifetime_minutes = 0',
            "alert_lifetime_minutes",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path, destination, wanted):
    config = tmp_path / "jp1notify.toml"
    text = f'[destinations.am]\n{destination}\n[[routes]]\ndestination = "am"\n'
    config.write_text(text, encoding="utf-8")
    result = run(["check-config"], clean_env(JP1NOTIFY_CONFIG=str(config)))
    assert result.returncode != 0
    assert wanted in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_dry_run_shows_the_alerts_without_the_password(tmp_path):
    config = write_config(tmp_path, ["http://127.0.0.1:9", "http://127.0.0.1:10"], AUTH)
    event = jobnet_event(config, "4104", "/PROD/A", "02:00:00", AM_PASSWORD=PASSWORD)
    result = run(["send", "--dry-run"], event)
    assert result.returncode == 0, result.stderr
    (message,) = json.loads(result.stdout)["messages"]
    assert message["kind"] == "alertmanager"
    assert message["webhook"] == "environment variable AM_PASSWORD"
    shown = message["payload"]
    assert shown["urls"] == ["http://127.0.0.1:9", "http://127.0.0.1:10"]
    (alert,) = shown["alerts"]
    assert alert["labels"]["alertname"] == "JP1Event"  # a dry run records no incident
    assert alert["endsAt"] == "(send time + 15 min)"
    assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


# -- the pure parts --------------------------------------------------------------------------

AM_CONFIG = make_config(
    """
[message]
language = "en"
timezone = "Asia/Tokyo"
[destinations.am]
kind = "alertmanager"
urls = ["http://am1:9093"]
[[routes]]
destination = "am"
[[runbooks]]
units = ["/PROD/*"]
text = "Rerun {jobnet} after checking the disk"
url = "https://wiki.example.co.jp/jp1/prod"
"""
)
OPENED, RESOLVED = 1_795_000_000.0, 1_795_003_600.0


def event(message: str = "KAVS0262-E ジョブネット(AJSROOT1:/PROD/A:@A1)が異常終了しました", **more):
    values = {"EVID": "4104:0", "EVMSG": message, "EVDATE": "2026/11/22", "EVTIME": "02:00:00"}
    return parse_event({**values, "EVHOST": "jp1mgr01", **more})


def incident(level: str = "error", events: int = 1, resolved: bool = False) -> Incident:
    first = event()
    state = State.RESOLVED if resolved else State.OPEN
    return Incident(
        7, "AJSROOT1", "/PROD", "@A1", state, level, OPENED, RESOLVED if resolved else None,
        events, first, first, level,
    )  # fmt: skip


def item(inc: Incident | None, level: str = "error", recovery: bool = False, **more) -> Item:
    return Item(
        3, event(**more), Classification(level, "", "prod"), "problems", (), "en", inc, recovery
    )


def test_an_incident_and_its_recovery_carry_the_same_labels():
    (firing,), _ = am.alerts_for(item(incident()), AM_CONFIG)
    (resolved,), _ = am.alerts_for(item(incident(resolved=True), recovery=True), AM_CONFIG)
    assert firing.labels == resolved.labels
    assert firing.labels["jobnet"] == "/PROD/A"  # the first problem's, not the widened /PROD
    assert (firing.starts_at, firing.ends_at) == (OPENED, None)
    assert (resolved.starts_at, resolved.ends_at) == (OPENED, RESOLVED)
    assert resolved.annotations["summary"] == "Resolved: /PROD"
    assert "runbook" not in resolved.annotations


def test_the_body_gives_firing_alerts_a_lifetime_and_resolved_ones_their_end():
    now = RESOLVED + 10
    (firing,) = am.payload(am.alerts_for(item(incident()), AM_CONFIG)[0], now, 900)
    assert firing["startsAt"] == am.rfc3339(OPENED)
    assert firing["endsAt"] == am.rfc3339(now + 900)
    resolved_item = item(incident(resolved=True), recovery=True)
    (resolved,) = am.payload(am.alerts_for(resolved_item, AM_CONFIG)[0], now, 900)
    assert resolved["endsAt"] == am.rfc3339(RESOLVED)
    # a JP1 clock ahead of ours: never a start or an end in the future
    (ahead,) = am.payload(am.alerts_for(resolved_item, AM_CONFIG)[0], OPENED - 60, 900)
    assert ahead["startsAt"] == ahead["endsAt"] == am.rfc3339(OPENED - 60)
    assert am.rfc3339(0) == "1970-01-01T00:00:00.000Z"


def test_a_recovery_dated_before_the_first_problem_still_ends_after_it_started():
    inc = incident(resolved=True)._replace(resolved_at=OPENED - 300)
    (alert,), _ = am.alerts_for(item(inc, recovery=True), AM_CONFIG)
    assert alert.ends_at == OPENED


def test_an_escalated_incident_resolves_its_warning_twin():
    alerts, _ = am.alerts_for(item(incident("error", events=2)), AM_CONFIG)
    critical, twin = alerts
    assert critical.labels["severity"] == "critical" and critical.ends_at is None
    assert twin.labels == {**critical.labels, "severity": "warning"}
    assert twin.ends_at == OPENED  # resolved
    assert len(am.alerts_for(item(incident("warning", events=2)), AM_CONFIG)[0]) == 1


def test_runbook_and_annotations():
    (alert,), cuts = am.alerts_for(item(incident()), AM_CONFIG)
    assert cuts == ()
    notes = alert.annotations
    assert notes["runbook"] == "Rerun /PROD/A after checking the disk"
    assert notes["runbook_url"] == "https://wiki.example.co.jp/jp1/prod"
    assert (notes["level"], notes["scope"], notes["route"]) == ("error", "prod", "problems")
    assert notes["event_id"] == "4104 KAVS0262-E" and notes["exec_id"] == "@A1"


def test_hostile_event_text_makes_no_markup_and_is_cut():
    hostile = "<!channel> <https://evil.example|click> \x07bell\r\nnext"
    (alert,), cuts = am.alerts_for(item(None, EVMSG=hostile), AM_CONFIG)
    text = alert.annotations["description"]
    assert "<" not in text and ">" not in text and "\x07" not in text and "\r" not in text
    assert text == "＜!channel＞ ＜https://evil.example|click＞  bell\nnext"
    assert cuts == ()
    long, cut = am.clean("x" * 5000, am.ANNOTATION_LIMIT)
    assert cut and len(long) == am.ANNOTATION_LIMIT and long.endswith("…")
    runbook = AM_CONFIG._replace(runbooks=(AM_CONFIG.runbooks[0]._replace(text="step " * 1000),))
    (alert,), cuts = am.alerts_for(item(incident()), runbook)
    assert cuts == ("runbook",) and len(alert.annotations["runbook"]) == am.ANNOTATION_LIMIT


def test_an_event_without_incident_is_an_alert_of_its_own():
    (alert,), _ = am.alerts_for(item(None, level="warning"), AM_CONFIG)
    assert alert.labels["alertname"] == "JP1Event"
    assert alert.labels["severity"] == "warning" and alert.labels["message"] == "3"
    assert alert.starts_at is not None and alert.ends_at is None
    info, _ = am.alerts_for(item(None, level="success"), AM_CONFIG)
    assert info[0].labels["severity"] == "info"


def test_ja_summaries():
    resolved_item = item(incident(resolved=True), recovery=True)._replace(language="ja")
    (alert,), _ = am.alerts_for(resolved_item, AM_CONFIG)
    assert alert.annotations["summary"] == "復旧: /PROD"


@pytest.mark.parametrize(
    ("status", "body", "headers", "disposition"),
    [
        (200, "", {}, Disposition.DELIVERED),
        (400, '{"code":400,"message":"bad"}', {}, Disposition.INVALID),
        (422, '{"code":602,"message":"0.labels in body is required"}', {}, Disposition.INVALID),
        (401, "Unauthorized", {}, Disposition.UNUSABLE),
        (404, "404 page not found", {}, Disposition.UNUSABLE),
        (405, "", {}, Disposition.UNUSABLE),
        (500, "boom", {}, Disposition.RETRY),
        (503, "<html><title>Down</title></html>", {"retry-after": "7"}, Disposition.RETRY),
        (429, "", {}, Disposition.RETRY),
        (408, "", {}, Disposition.RETRY),
        (407, "", {}, Disposition.RETRY),
        (302, "", {"location": "http://portal/"}, Disposition.RETRY),
        (403, "<html><title>Blocked</title></html>", {}, Disposition.REFUSED),
    ],
)
def test_answers(status, body, headers, disposition):
    verdict = am.judge(status, body, headers)
    assert verdict.disposition is disposition
    if "retry-after" in headers:
        assert verdict.retry_after == 7


def test_one_instance_accepting_is_enough_and_is_said():
    ok, down = Verdict(Disposition.DELIVERED, "ok"), Verdict(Disposition.RETRY, "network error")
    sent = am.combine([("http://a", ok), ("http://b", down)])
    assert sent.verdict.disposition is Disposition.DELIVERED
    assert "accepted by 1 of 2" in sent.notes[0] and "http://b: network error" in sent.notes[0]
    assert am.combine([("http://a", ok), ("http://b", ok)]).notes == ()


def test_when_none_accepts_the_most_telling_failure_wins():
    down = Verdict(Disposition.RETRY, "network error", 3.0, unanswered=True)
    busy = Verdict(Disposition.RETRY, "HTTP 503", 9.0)
    refused = Verdict(Disposition.INVALID, "HTTP 400")
    both = am.combine([("http://a", down), ("http://b", busy)]).verdict
    assert (both.disposition, both.retry_after, both.unanswered) == (Disposition.RETRY, 9.0, True)
    assert "http://a: network error; http://b: HTTP 503" in both.reason
    worst = am.combine([("http://a", down), ("http://b", refused)]).verdict
    assert worst.disposition is Disposition.INVALID


def test_basic_auth_header():
    assert am.basic_auth("jp1", "pw") == {"Authorization": "Basic anAxOnB3"}


def test_the_module_is_not_imported_by_modules_on_the_hot_path():
    code = (
        "import sys, jp1notify.cli, jp1notify.notify, jp1notify.outbox, jp1notify.config;"
        "print('jp1notify.destinations.alertmanager' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the documented examples -----------------------------------------------------------------


def _guide_blocks(language: str) -> list[str]:
    guide = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    english, japanese = guide.split("## 日本語 (運用ガイド)")
    text = english if language == "en" else japanese
    start = text.index("# Prometheus Alertmanager\n")
    part = text[start : text.index("\n## " if language == "en" else "\n### ", start + 30)]
    return [b.split("\n", 1)[1] for b in part.split("```")[1::2]]


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_guides_alertmanager_yml_passes_amtool(tmp_path, language):
    need_alertmanager()
    (toml, yml) = _guide_blocks(language)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yml, encoding="utf-8")
    checked = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = make_config(toml)
    assert config.destinations["am"].urls == (
        "http://am1.example.co.jp:9093",
        "http://am2.example.co.jp:9093",
    )


def test_the_sample_configs_commented_destination_is_valid():
    sample = (ROOT / "config" / "jp1notify.toml").read_text(encoding="utf-8")
    start = sample.index("# [destinations.am]")
    block = sample[start : sample.index("\n\n", start)]
    toml = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    config = make_config(toml + '\n[[routes]]\ndestination = "am"\n')
    destination = config.destinations["am"]
    assert (destination.kind, destination.username) == ("alertmanager", "jp1notify")
    assert destination.alert_lifetime_minutes == 15
