"""The drain loop with a fake clock: pacing, digests, Retry-After, backoff, dead messages."""

import json

import httpx
import pytest
import respx

from jp1notify.classify import classify
from jp1notify.event import parse_event
from jp1notify.outbox import MIN_INTERVAL, Sender
from jp1notify.redaction import Secrets
from jp1notify.routing import route
from jp1notify.store import Store, record_event

from conftest import make_config

ALERTS = "https://hooks.slack.com/services/T1/B1/alertsecret"
NOTICE = "https://hooks.slack.com/services/T1/B2/noticesecret"
CONFIG = make_config(
    """
[message]
timezone = "Asia/Tokyo"
[outbox]
max_wait_seconds = 10
digest_interval_seconds = 5
drain_seconds = 60
[destinations.alerts]
webhook_url_env = "A"
[destinations.notice]
webhook_url_env = "N"
[[routes]]
levels = ["error"]
destination = "alerts"
mention = "here"
[[routes]]
destination = "notice"
"""
)
ENV = {"A": ALERTS, "N": NOTICE}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def enqueue(store, clock, count=1, evid="4104:0", prefix="/PROD/NET"):
    for i in range(count):
        event = parse_event(
            {
                "EVID": evid,
                "EVMSG": f"KAVS0262-E jobnet (AJSROOT1:{prefix}{i}:@A{i}) ended",
                "EVDATE": "2026/11/22",
                "EVTIME": f"02:13:{i % 60:02d}",
            }
        )
        classification = classify(event, CONFIG)
        record_event(store, event, classification, route(event, classification, CONFIG), clock())


def drain(store, clock, config=CONFIG, environ=ENV):
    secrets = Secrets()
    report = Sender(
        store,
        config,
        environ,
        secrets,
        clock=clock,
        monotonic=clock,
        sleep=clock.sleep,
        rand=lambda: 1.0,
    ).drain()
    return report, secrets


def bodies(mock_route):
    return [json.loads(call.request.content) for call in mock_route.calls]


@respx.mock
def test_one_event_goes_out_alone_at_once(store, clock):
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(200, text="ok"))
    enqueue(store, clock)
    report, secrets = drain(store, clock)
    (payload,) = bodies(alerts)
    assert payload["text"].startswith("<!here> [ERROR] Jobnet ended abnormally: /PROD/NET0")
    assert "fields" in payload["attachments"][0]
    assert (report.holder, report.posts, report.sent, report.stopped) == (True, 1, 1, "idle")
    assert clock.sleeps == [] and secrets == [ALERTS]
    assert store.lease_holder(clock()) is None


@respx.mock
def test_many_pending_events_become_one_digest(store, clock):
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(200, text="ok"))
    enqueue(store, clock, 40)
    report, _ = drain(store, clock)
    (payload,) = bodies(alerts)
    assert payload["text"] == "<!here> [ERROR] 40 JP1 events: 40 ERROR"
    text = "\n".join(a["text"] for a in payload["attachments"])
    assert all(f"/PROD/NET{i}\n" in text + "\n" for i in range(40))
    assert report.sent == 40 and store.counts() == {"sent": 40}


@respx.mock
def test_destinations_are_paced_and_served_in_turn(store, clock):
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(200, text="ok"))
    notice = respx.post(NOTICE).mock(return_value=httpx.Response(200, text="ok"))
    enqueue(store, clock, 1)
    enqueue(store, clock, 1, evid="4108:0", prefix="/DEV/W")
    drain(store, clock)
    assert alerts.call_count == 1 and notice.call_count == 1
    assert clock.sleeps == []  # different webhooks do not wait for each other
    enqueue(store, clock, 1, prefix="/PROD/LATER")
    drain(store, clock)
    assert clock.sleeps == [MIN_INTERVAL]  # the same webhook waits Slack's second


@respx.mock
def test_429_waits_retry_after(store, clock):
    alerts = respx.post(ALERTS).mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "3"}, text='{"ok":false,"error":"rate_limited"}'
            ),
            httpx.Response(200, text="ok"),
        ]
    )
    enqueue(store, clock)
    report, _ = drain(store, clock)
    assert alerts.call_count == 2 and clock.sleeps == [3.0] and report.sent == 1


@respx.mock
def test_outage_backs_off_then_leaves_the_rest_queued(store, clock):
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(503, text=""))
    enqueue(store, clock, 5)
    report, _ = drain(store, clock)
    # backoff 0.5, 1, 2, 4, 8 s; the next (16 s) is beyond max_wait_seconds: stop, keep queued
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert alerts.call_count == 6 and report.stopped == "waiting" and report.sent == 0
    assert store.counts() == {"pending": 5}
    assert store.lease_holder(clock()) is None
    row = store.history(None, None, "pending", 1)[0]["messages"][0]
    assert row["attempts"] == 6 and "HTTP 503" in row["last_error"]
    # Slack recovers; the next sender delivers everything as one digest
    alerts.mock(return_value=httpx.Response(200, text="ok"))
    clock.now += 60
    report, _ = drain(store, clock)
    assert report.sent == 5 and report.posts == 1 and store.counts() == {"sent": 5}


@respx.mock
def test_permanent_error_buries_with_reason(store, clock):
    respx.post(ALERTS).mock(return_value=httpx.Response(404, text="channel_not_found"))
    enqueue(store, clock, 2)
    report, _ = drain(store, clock)
    assert len(report.dead) == 2 and "channel_not_found" in report.dead[0].reason
    assert store.counts() == {"dead": 2}


@respx.mock
def test_busy_lease_sends_nothing(store, clock):
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(200, text="ok"))
    enqueue(store, clock)
    assert store.take_lease("other:1", clock(), 30)
    report, _ = drain(store, clock)
    assert not report.holder and report.stopped == "busy" and alerts.call_count == 0
    assert store.counts() == {"pending": 1}


@respx.mock
def test_unreadable_webhook_keeps_messages_queued(store, clock):
    enqueue(store, clock)
    report, _ = drain(store, clock, environ={})
    assert report.stopped == "unsendable" and "environment variable A" in report.config_errors[0]
    assert store.counts() == {"pending": 1} and store.lease_holder(clock()) is None


@respx.mock
def test_removed_destination_keeps_its_messages_queued_and_the_others_flow(store, clock):
    notice = respx.post(NOTICE).mock(return_value=httpx.Response(200, text="ok"))
    enqueue(store, clock, 2)  # errors: to alerts
    enqueue(store, clock, 1, evid="4108:0", prefix="/DEV/W")  # a warning: to notice
    config = CONFIG._replace(destinations={"notice": CONFIG.destinations["notice"]})
    report, _ = drain(store, clock, config=config)
    assert report.orphans == (("alerts", 2),) and report.dead == () and report.stopped == "idle"
    assert notice.call_count == 1 and store.counts() == {"pending": 2, "sent": 1}
    assert store.lease_holder(clock()) is None  # nobody could send them: the lease is free
    alerts = respx.post(ALERTS).mock(return_value=httpx.Response(200, text="ok"))
    report, _ = drain(store, clock)  # the name comes back: they go out
    assert report.sent == 2 and alerts.call_count == 2 and store.counts() == {"sent": 3}


@respx.mock
def test_storm_is_paced_into_digests_and_the_drain_is_bounded(store, clock):
    config = CONFIG._replace(outbox=CONFIG.outbox._replace(drain_seconds=12))
    waves = iter(range(100))

    def slack_while_events_arrive(request):  # a storm: three new events during every post
        other = Store.open(store.path.parent)  # the request runs in a worker thread
        enqueue(other, clock, 3, prefix=f"/PROD/W{next(waves)}_")
        other.close()
        return httpx.Response(200, text="ok")

    alerts = respx.post(ALERTS).mock(side_effect=slack_while_events_arrive)
    start = clock()
    enqueue(store, clock)
    report, _ = drain(store, clock, config=config)
    # a few pending go out one by one, a second apart; more become a digest, 5 s apart
    assert clock.sleeps == [1.0, 1.0, 5.0, 1.0]
    posts = bodies(alerts)
    assert ["fields" in p["attachments"][0] for p in posts] == [True, True, False, True, False]
    assert "5 JP1 events" in posts[2]["text"]
    assert report.stopped == "waiting" and clock() - start <= 12
    assert store.counts() == {"sent": 13, "pending": 3}  # left for the next sender
    assert store.lease_holder(clock()) is None


@respx.mock
def test_a_failure_quoting_the_webhook_url_is_stored_redacted(store, clock):
    respx.post(ALERTS).mock(side_effect=httpx.ConnectError(f"cannot reach {ALERTS}"))
    enqueue(store, clock)
    report, _ = drain(store, clock)
    row = store.history(None, None, "pending", 1)[0]["messages"][0]
    assert "alertsecret" not in row["last_error"] and "[redacted]" in row["last_error"]
    assert all("alertsecret" not in reason for reason in report.retry_reasons)


@respx.mock
def test_unanswered_requests_make_the_next_ones_patient_then_spaced(store, clock):
    """A slow Slack that posts but answers late: each retry may post again, so the waits grow
    (timeout, 3x at least 30 s, twice that) and after two in a row the tries are a minute apart."""
    waited = []

    def slow(request):
        waited.append(request.extensions["timeout"]["read"])
        if len(waited) < 3:
            raise httpx.ReadTimeout("no answer in time")
        return httpx.Response(200, text="ok")

    respx.post(ALERTS).mock(side_effect=slow)
    enqueue(store, clock)
    report, _ = drain(store, clock)
    assert waited == [10.0, 30.0] and report.stopped == "waiting" and report.sent == 0
    assert clock.sleeps == [0.5]  # the minute-long wait is left to the next sender
    clock.now += 61
    report, _ = drain(store, clock)
    assert waited == [10.0, 30.0, 60.0] and report.sent == 1
    assert store.destination_state("alerts").patient == 0
