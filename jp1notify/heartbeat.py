"""The heartbeat: a dead-man's switch for jp1notify itself ([heartbeat] in the config).

Every `send`, `flush` and `watch` calls `beat`; at most one process per interval POSTs to the
heartbeat URL (a Healthchecks check, or any URL that takes a POST). A monitor that stops hearing
it pages someone: the JP1 host went silent, or jp1notify cannot run or reach the network. While
alerts are stuck (a message waiting STUCK_AFTER or longer, or one that died since the last beat)
the ping goes to `<url>/fail` instead (`report_stuck`): Healthchecks then pages at once, since
the notifier is alive but its alerts do not arrive.

A beat never changes its command's exit code and never delays an alert: it runs after the
command's own work, its ping is bounded by `timeout_seconds` (bounds.heartbeat_bound, inside
the run bound), it waits for the store's lock only briefly, and every failure is one warning.
httpx is imported only when a ping is due: most events pay for one read of the store.

Healthchecks ping API ([code] healthchecks templates/docs/http_api.md): `<url>` success,
`<url>/fail` failure, HEAD/GET/POST, answer 200 `OK`, 404 for an unknown check; a POST body is
kept as the ping's log (hosted: first 100 kB; self-hosted default 10 kB, docs/attaching_logs);
more than 5 pings a minute may be rate limited (so a failed ping is retried after 60 s, not by
every event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from jp1notify import DEBUG_ENV, __version__
from jp1notify.config import Config, HeartbeatSettings
from jp1notify.errors import StoreError, WebhookError

if TYPE_CHECKING:
    from jp1notify.delivery import Verdict
    from jp1notify.notify import Invocation
    from jp1notify.store import Store

STUCK_AFTER = 15 * 60.0  # a message pending this long (seconds) is stuck: ping /fail
RETRY_AFTER = 60.0  # after a failed ping, the next invocation this much later tries again


class Report(NamedTuple):
    """What a beat tells about the outbox (Store.outbox_health)."""

    pending: int
    dead: int
    oldest: float | None  # creation time of the oldest pending message
    stuck: int  # pending for STUCK_AFTER or longer
    died: int  # died since the beat before

    @property
    def stuck_alerts(self) -> bool:
        return bool(self.stuck or self.died)


def beat(run: Invocation, config: Config, environ: Mapping[str, str], now: float) -> None:
    """Ping the heartbeat if it is due at `now` (the command's clock: real time for send and
    flush, --now for watch). Never raises and never changes the caller's outcome."""
    if config.heartbeat is None:
        return
    try:
        _beat(run, config, config.heartbeat, environ, now)
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the alert its exit code
        if environ.get(DEBUG_ENV):
            raise
        error = f"{type(exc).__name__}: {exc}"
        run.say(
            f"warning: the heartbeat failed with an internal error ({error}); alerts are not "
            "affected. This is a bug in jp1notify: please report it with this line and the log."
        )
        run.log_line("heartbeat", outcome="internal_error", error=error)


def _beat(
    run: Invocation,
    config: Config,
    settings: HeartbeatSettings,
    environ: Mapping[str, str],
    now: float,
) -> None:
    """Claim the beat in the store, ping, hand the claim back if the ping failed. A store that
    cannot be used means no beat: the monitor then pages, which is right (the command itself
    has said what is wrong with the store)."""
    from jp1notify.bounds import HEARTBEAT_WAIT
    from jp1notify.store import Store

    try:
        store = Store.open(config.outbox.data_dir)
    except StoreError as exc:
        run.log_line("heartbeat", outcome="no_store", error=str(exc))
        return
    try:
        since = store.claim_heartbeat(now, settings.interval_seconds, HEARTBEAT_WAIT)
        if since is None:
            return
        report = Report(*store.outbox_health(now, STUCK_AFTER, since))
        if _ping(run, config, settings, environ, report, now):  # failed: try again soon
            _hand_back(store, settings, now, since)
    except StoreError as exc:  # locked by a long writer (a later process beats), or worse
        run.log_line("heartbeat", outcome="store_error", error=str(exc))
    finally:
        store.close()


def _hand_back(store: Store, settings: HeartbeatSettings, claimed: float, since: float) -> None:
    """Move the claim back so that the invocation RETRY_AFTER seconds later (or an interval,
    if shorter) pings again, still reporting since `since`."""
    from jp1notify.bounds import HEARTBEAT_WAIT

    interval = settings.interval_seconds
    last = claimed - interval + min(RETRY_AFTER, interval)
    store.unclaim_heartbeat(claimed, last, since, HEARTBEAT_WAIT)


def _ping(
    run: Invocation,
    config: Config,
    settings: HeartbeatSettings,
    environ: Mapping[str, str],
    report: Report,
    now: float,
) -> bool:
    """POST the beat; True if it failed and is to be tried again soon (no answer, or not 2xx).
    A URL that cannot be read is said, and not tried again before the next interval: it needs a
    fix, and the operator one warning per interval, not one per event."""
    from jp1notify.config import read_heartbeat_url

    try:
        url = read_heartbeat_url(config, environ, run.secrets)
    except WebhookError as exc:
        run.say(
            f"warning: no heartbeat sent: {exc.problems[0]}. Alerts are not affected; fix it "
            "(`jp1notify check-config` shows the heartbeat), else the monitor expecting it pages."
        )
        run.log_line("heartbeat", outcome="unusable", error=exc.problems[0])
        return False
    failing = settings.report_stuck and report.stuck_alerts
    target = fail_url(url) if failing else url
    run.secrets.add(target)
    verdict = _post(run, config, environ, target, body(report, now), settings.timeout_seconds)
    counts = {"pending": report.pending, "dead": report.dead, "stuck": report.stuck}
    if verdict is None:
        signal = "fail" if failing else "success"
        run.log_line("heartbeat", outcome="sent", signal=signal, died=report.died, **counts)
        return False
    retry = min(RETRY_AFTER, settings.interval_seconds)
    run.say(
        f"warning: the heartbeat ping failed ({verdict.reason}); alerts are not affected. The "
        f"next jp1notify run after {retry:g} s tries again; if it keeps failing, the monitor "
        "expecting the heartbeat pages: check the network, http.proxy and the heartbeat URL "
        f"({settings.source.describe()})."
    )
    run.log_line("heartbeat", outcome="failed", reason=verdict.reason, **counts)
    return True


def _post(
    run: Invocation,
    config: Config,
    environ: Mapping[str, str],
    url: str,
    text: str,
    timeout: float,
) -> Verdict | None:
    """One POST within `timeout` (plus the deadline's grace), through this invocation's proxy
    and CA settings: None if answered 2xx, else the failed verdict."""
    from jp1notify import delivery

    run.secrets.add_proxies(config.http.proxy, environ)
    with delivery.Clients(config.http, run.transport) as clients:
        verdict = delivery.attempt_once(
            clients, url, {}, timeout, judge, run.secrets, content=text.encode("utf-8")
        )
    return None if verdict.disposition == delivery.DELIVERED else verdict


def judge(status: int, text: str, headers: Mapping[str, str]) -> Verdict:
    """A ping's answer: any 2xx is heard (Healthchecks: 200 `OK`, 201 for a created check);
    anything else is a failed ping, its reason for the operator."""
    from jp1notify.delivery import DELIVERED, RETRY, Verdict, describe_body

    if 200 <= status < 300:
        return Verdict(DELIVERED, "heard")
    hint = " (unknown check: copy the ping URL again from Healthchecks)" if status == 404 else ""
    return Verdict(RETRY, f"HTTP {status}, {describe_body(text)}{hint}")


def fail_url(url: str) -> str:
    """`<url>/fail`: Healthchecks' failure signal for the same check (its query kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def body(report: Report, now: float) -> str:
    """The ping's text, kept by Healthchecks as its log: who beats and what the outbox holds.
    No secret: counts, ages, the version and this machine's name."""
    import socket

    lines = [f"jp1notify {__version__} on {socket.gethostname()}"]
    oldest = f" (oldest waiting {_age(now - report.oldest)})" if report.oldest else ""
    lines.append(f"outbox: {report.pending} pending{oldest}, {report.dead} dead")
    if report.stuck:
        lines.append(f"stuck: {report.stuck} waiting {STUCK_AFTER / 60:g} minutes or longer")
    if report.died:
        lines.append(f"died since the last heartbeat: {report.died}")
    return "\n".join(lines) + "\n"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
