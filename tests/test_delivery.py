import httpx
import pytest
import respx

from jp1notify.config import HttpSettings
from jp1notify.delivery import DELIVERED, PERMANENT, RETRY, backoff, judge, judge_error, post

URL = "https://hooks.slack.com/services/T000/B000/secretsecret"
SETTINGS = HttpSettings(timeout=2, retry_budget=10, max_attempts=4, proxy=None, ca_file=None)


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "reason_part", "retry_after"),
    [
        (200, "ok", {}, DELIVERED, "ok", None),
        (200, '{"ok":true}', {}, DELIVERED, "ok", None),
        (200, "<html>proxy login</html>", {}, RETRY, "unexpected answer", None),
        (
            429,
            '{"ok":false,"error":"rate_limited","retry_after":3}',
            {"retry-after": "7"},
            RETRY,
            "rate limited",
            7.0,
        ),
        (
            429,
            '{"ok":false,"error":"rate_limited","retry_after":3}',
            {},
            RETRY,
            "rate limited",
            3.0,
        ),
        (429, "", {}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "0"}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "99999"}, RETRY, "rate limited", 3600.0),
        (500, "rollup_error", {}, RETRY, "HTTP 500 rollup_error", None),
        (502, "", {}, RETRY, "HTTP 502", None),
        (503, "<html>", {}, RETRY, "HTTP 503", None),
        (408, "", {}, RETRY, "HTTP 408", None),
        (400, "invalid_payload", {}, PERMANENT, "report it with the --dry-run output", None),
        (400, "no_text", {}, PERMANENT, "no text", None),
        (400, "too_many_attachments", {}, PERMANENT, "message size", None),
        (400, "user_not_found", {}, PERMANENT, "user no longer exists", None),
        (400, "invalid_token", {}, PERMANENT, "revoked", None),
        (403, "invalid_token", {}, PERMANENT, "revoked", None),
        (403, "action_prohibited", {}, PERMANENT, "restricted", None),
        (403, "posting_to_general_channel_denied", {}, PERMANENT, "only admins", None),
        (404, "channel_not_found", {}, PERMANENT, "channel no longer exists", None),
        (404, "no_service", {}, PERMANENT, "removed or disabled", None),
        (410, "channel_is_archived", {}, PERMANENT, "archived", None),
        (401, "something_new", {}, PERMANENT, "HTTP 401 something_new", None),
    ],
)
def test_judge_table(status, body, headers, outcome, reason_part, retry_after):
    verdict = judge(status, body, httpx.Headers(headers))
    assert verdict.outcome == outcome
    assert reason_part in verdict.reason
    assert verdict.retry_after == retry_after


@pytest.mark.parametrize(
    ("exc", "outcome", "reason_part"),
    [
        (httpx.ConnectTimeout("t"), RETRY, "timed out"),
        (httpx.ReadTimeout("t"), RETRY, "timed out"),
        (httpx.ConnectError("[Errno 111] Connection refused"), RETRY, "network error"),
        (httpx.ProxyError("407"), RETRY, "proxy error"),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            RETRY,
            "http.ca_file",
        ),
        (httpx.UnsupportedProtocol("ftp"), PERMANENT, "unusable webhook URL"),
        (httpx.RemoteProtocolError("server disconnected"), RETRY, "network error"),
    ],
)
def test_judge_error_table(exc, outcome, reason_part):
    verdict = judge_error(exc)
    assert verdict.outcome == outcome and reason_part in verdict.reason


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def send(settings=SETTINGS):
    clock = FakeClock()
    with httpx.Client() as client:
        verdict, attempts = post(
            client, URL, {"text": "hi"}, settings, sleep=clock.sleep, clock=clock, rand=lambda: 1.0
        )
    return verdict, attempts, clock.sleeps


@respx.mock
def test_429_waits_retry_after_then_delivers():
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, text="rate_limited"),
            httpx.Response(200, text="ok"),
        ]
    )
    verdict, attempts, sleeps = send()
    assert (verdict.outcome, attempts, sleeps) == (DELIVERED, 2, [2.0])
    sent = route.calls[0].request
    assert sent.headers["content-type"] == "application/json; charset=utf-8"
    assert sent.content == b'{"text": "hi"}'


@respx.mock
def test_5xx_and_network_errors_back_off_then_deliver():
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(500, text="rollup_error"),
            httpx.ConnectError("refused"),
            httpx.Response(200, text="ok"),
        ]
    )
    verdict, attempts, sleeps = send()
    assert (verdict.outcome, attempts, sleeps) == (DELIVERED, 3, [0.5, 1.0])


@respx.mock
def test_permanent_error_is_not_retried():
    route = respx.post(URL).mock(return_value=httpx.Response(404, text="channel_not_found"))
    verdict, attempts, sleeps = send()
    assert (verdict.outcome, attempts, sleeps, route.call_count) == (PERMANENT, 1, [], 1)


@respx.mock
def test_attempts_are_bounded():
    route = respx.post(URL).mock(return_value=httpx.Response(503, text=""))
    verdict, attempts, _ = send()
    assert (verdict.outcome, attempts, route.call_count) == (RETRY, 4, 4)


@respx.mock
def test_retry_after_beyond_the_budget_gives_up_at_once():
    route = respx.post(URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "60"}, text="")
    )
    verdict, attempts, sleeps = send()
    assert (verdict.outcome, attempts, sleeps, route.call_count) == (RETRY, 1, [], 1)
    assert "past the retry budget" in verdict.reason


def test_backoff_grows_with_jitter_and_is_capped():
    assert [backoff(n, lambda: 1.0) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert backoff(3, lambda: 0.0) == 1.0
