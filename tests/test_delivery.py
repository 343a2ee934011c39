import httpx
import pytest
import respx

from jp1notify.config import HttpSettings
from jp1notify.delivery import (
    DELIVERED,
    MAX_RETRY_AFTER,
    RETRY,
    Clients,
    Disposition,
    attempt_once,
    backoff,
    judge_error,
    post,
)
from jp1notify.destinations.slack_webhook import judge


def once(clients, url, payload):
    """One attempt of the webhook kind, as delivery.post takes it."""
    return lambda timeout: attempt_once(clients, url, payload, timeout, judge)


REFUSED, INVALID, GONE, UNUSABLE = (
    Disposition.REFUSED,
    Disposition.INVALID,
    Disposition.GONE,
    Disposition.UNUSABLE,
)

URL = "https://hooks.slack.com/services/T000/B000/secretsecret"
SETTINGS = HttpSettings(timeout=2, retry_budget=10, max_attempts=4, proxy=None, ca_file=None)


HTML_BLOCK = (
    "<!DOCTYPE html><html><head><title>Access denied by policy</title></head><body>x</body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "reason_part", "retry_after"),
    [
        (200, "ok", {}, DELIVERED, "ok", None),
        (200, '{"ok":true}', {}, DELIVERED, "ok", None),
        (200, "<html>proxy login</html>", {}, RETRY, "not Slack's", None),
        (204, "", {}, RETRY, "empty body", None),
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
        (429, "", {"retry-after": "-5"}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "nan"}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "inf"}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "1e400"}, RETRY, "rate limited", 1.0),
        (429, "", {"retry-after": "soon"}, RETRY, "rate limited", 1.0),
        # an absurd proxy value is capped: Slack's own are seconds
        (429, "", {"retry-after": "86400"}, RETRY, "rate limited", MAX_RETRY_AFTER),
        (429, "", {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}, RETRY, "rate", MAX_RETRY_AFTER),
        (503, "", {"retry-after": "86400"}, RETRY, "HTTP 503", MAX_RETRY_AFTER),
        (400, "rate_limited", {}, RETRY, "rate limited", 1.0),
        (500, "rollup_error", {}, RETRY, "HTTP 500 rollup_error", None),
        (502, "", {}, RETRY, "HTTP 502", None),
        (503, "<html>", {}, RETRY, "HTTP 503", None),
        (408, "", {}, RETRY, "HTTP 408", None),
        # answers that are not Slack's: retried, never final
        (301, "", {"location": "https://portal.example/login"}, RETRY, "portal.example", None),
        (302, "", {"location": "http://captive.example/"}, RETRY, "captive portal", None),
        (307, "", {}, RETRY, "redirected (HTTP 307)", None),
        (407, "<html>auth</html>", {}, RETRY, "user:password in http.proxy", None),
        (403, HTML_BLOCK, {}, REFUSED, "HTML page 'Access denied by policy'", None),
        (404, "<html><body>Not Found</body></html>", {}, REFUSED, "an HTML page", None),
        (400, "Bad Request", {}, REFUSED, "not Slack's", None),
        (401, "something_new", {}, REFUSED, "HTTP 401", None),
        (413, "", {}, REFUSED, "HTTP 413", None),
        # Slack's own refusals: of the payload, or of the webhook itself
        (400, "invalid_payload", {}, INVALID, "report it with the --dry-run output", None),
        (400, '{"ok":false,"error":"invalid_payload"}', {}, INVALID, "--dry-run", None),
        (400, "no_text", {}, INVALID, "no text", None),
        (400, "too_many_attachments", {}, INVALID, "message size", None),
        (400, "user_not_found", {}, GONE, "user no longer exists", None),
        (400, "invalid_token", {}, GONE, "revoked", None),
        (403, "invalid_token", {}, GONE, "revoked", None),
        (403, "action_prohibited", {}, GONE, "restricted", None),
        (403, "posting_to_general_channel_denied", {}, GONE, "only admins", None),
        (404, "channel_not_found", {}, GONE, "channel no longer exists", None),
        (404, "no_service", {}, GONE, "removed or disabled", None),
        (410, "channel_is_archived", {}, GONE, "archived", None),
    ],
)
def test_judge_table(status, body, headers, outcome, reason_part, retry_after):
    verdict = judge(status, body, httpx.Headers(headers))
    assert verdict.disposition == outcome
    assert reason_part in verdict.reason
    assert verdict.retry_after == retry_after


@pytest.mark.parametrize(
    ("exc", "outcome", "reason_part", "unanswered"),
    [
        (httpx.ConnectTimeout("t"), RETRY, "timed out", False),
        (httpx.ReadTimeout("t"), RETRY, "timed out", True),
        (httpx.ConnectError("[Errno 111] Connection refused"), RETRY, "network error", False),
        (httpx.ProxyError("407"), RETRY, "proxy error", False),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            RETRY,
            "http.ca_file",
            False,
        ),
        (httpx.UnsupportedProtocol("ftp"), UNUSABLE, "cannot be used", False),
        (httpx.InvalidURL("Invalid port: 'abc'"), UNUSABLE, "cannot be used", False),
        (UnicodeError("label empty or too long"), UNUSABLE, "cannot be used", False),
        (OverflowError("port must be 0-65535"), UNUSABLE, "cannot be used", False),
        (httpx.RemoteProtocolError("server disconnected"), RETRY, "network error", False),
        (RuntimeError("surprise"), RETRY, "unexpected error", False),
    ],
)
def test_judge_error_table(exc, outcome, reason_part, unanswered):
    verdict = judge_error(exc)
    assert verdict.disposition == outcome and reason_part in verdict.reason
    assert verdict.unanswered == unanswered


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
    with Clients(settings) as clients:
        verdict, attempts = post(
            once(clients, URL, {"text": "hi"}),
            settings,
            clock() + settings.retry_budget,
            sleep=clock.sleep,
            clock=clock,
            rand=lambda: 1.0,
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
    assert (verdict.disposition, attempts, sleeps) == (DELIVERED, 2, [2.0])
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
    assert (verdict.disposition, attempts, sleeps) == (DELIVERED, 3, [0.5, 1.0])


@respx.mock
def test_permanent_error_is_not_retried():
    route = respx.post(URL).mock(return_value=httpx.Response(404, text="channel_not_found"))
    verdict, attempts, sleeps = send()
    assert (verdict.disposition, attempts, sleeps, route.call_count) == (GONE, 1, [], 1)


@respx.mock
def test_attempts_are_bounded():
    route = respx.post(URL).mock(return_value=httpx.Response(503, text=""))
    verdict, attempts, _ = send()
    assert (verdict.disposition, attempts, route.call_count) == (RETRY, 4, 4)


@respx.mock
def test_retry_after_beyond_the_budget_gives_up_at_once():
    route = respx.post(URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"}, text="")
    )
    verdict, attempts, sleeps = send()
    assert (verdict.disposition, attempts, sleeps, route.call_count) == (RETRY, 1, [], 1)
    assert "past the retry budget" in verdict.reason


def test_backoff_grows_with_jitter_and_is_capped():
    assert [backoff(n, lambda: 1.0) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert backoff(3, lambda: 0.0) == 1.0


def test_a_client_that_cannot_be_built_is_a_verdict_not_a_crash(tmp_path):
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate")
    settings = SETTINGS._replace(ca_file=str(bad_ca))
    with Clients(settings) as clients:
        verdict = attempt_once(clients, URL, {"text": "hi"}, 1.0, judge)
    assert verdict.disposition == UNUSABLE and "http.ca_file" in verdict.reason
    assert "secretsecret" not in verdict.reason


@respx.mock
def test_without_a_store_a_slow_slack_gets_a_patient_second_try():
    timeouts = []

    def answer(request):
        timeouts.append(request.extensions["timeout"]["read"])
        if len(timeouts) == 1:
            raise httpx.ReadTimeout("slow")
        return httpx.Response(200, text="ok")

    respx.post(URL).mock(side_effect=answer)
    clock = FakeClock()
    with Clients(SETTINGS) as clients:
        verdict, attempts = post(
            once(clients, URL, {}),
            SETTINGS,
            10.0,
            patient=6.0,
            sleep=clock.sleep,
            clock=clock,
            rand=lambda: 1.0,
        )
    assert (verdict.disposition, attempts) == (DELIVERED, 2)
    assert timeouts == [SETTINGS.timeout, 6.0]
