"""Delivery: post a payload to a Slack incoming webhook, judge the answer, retry within a budget.

Every answer is one of three verdicts (`judge`, `judge_error`): delivered; worth retrying
(network error, timeout, 5xx, 429 with Retry-After, a TLS trust problem fixed on our side);
permanent (the webhook or channel is gone, the payload is refused: retrying cannot help). Retries happen here, in one loop, bounded by
`http.max_attempts` and `http.retry_budget_seconds`, honouring Retry-After. Nothing here ever
puts a webhook URL into a message: reasons are built from status codes and Slack's error codes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import httpx

from jp1notify import __version__
from jp1notify.config import HttpSettings

DELIVERED = "delivered"
RETRY = "retry"
PERMANENT = "permanent"

# What an operator should do about Slack's documented webhook errors
# (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors).
HINTS = {
    "invalid_payload": "Slack refused the message format; report it with the --dry-run output",
    "no_text": "Slack found no text in the message; report it with the --dry-run output",
    "too_many_attachments": "Slack refused the message size; report it with the --dry-run output",
    "user_not_found": "the webhook's user no longer exists; create a new webhook",
    "channel_not_found": "the webhook's channel no longer exists; create a new webhook",
    "channel_is_archived": "the channel is archived; unarchive it or create a new webhook",
    "action_prohibited": "a Slack admin has restricted this webhook; ask them or create a new one",
    "posting_to_general_channel_denied": "only admins may post to this channel; use another channel",
    "invalid_token": "the webhook was revoked; create a new webhook",
    "no_service": "the webhook was removed or disabled; create a new webhook",
    "no_service_id": "the webhook URL is incomplete; copy it again from Slack",
    "no_team": "the webhook URL is incomplete; copy it again from Slack",
    "team_disabled": "the Slack workspace is disabled",
}
MAX_RETRY_AFTER = 3600.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


class Verdict(NamedTuple):
    outcome: str  # DELIVERED, RETRY or PERMANENT
    reason: str  # for operators; never contains the URL
    retry_after: float | None = None


class Result(NamedTuple):
    """The end of one destination's delivery."""

    destination: str
    outcome: str  # DELIVERED, RETRY (gave up for now), PERMANENT, or "config"
    attempts: int
    reason: str


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify a webhook answer by status and body (Slack's error code is in the body)."""
    code = _error_code(body)
    if status == 200 and code == "ok":
        return Verdict(DELIVERED, "ok")
    if status == 429:
        return Verdict(RETRY, "rate limited (HTTP 429)", _retry_after(headers, body))
    if status >= 500 or status == 408:
        return Verdict(RETRY, f"Slack answered HTTP {status} {code}".rstrip())
    if 200 <= status < 300:
        # A 2xx without "ok" is not Slack's answer: a proxy or captive portal replied instead.
        return Verdict(RETRY, f"unexpected answer (HTTP {status} {code!r}); check http.proxy")
    hint = HINTS.get(code)
    reason = f"Slack answered HTTP {status} {code}".rstrip()
    return Verdict(PERMANENT, f"{reason}: {hint}" if hint else reason)


def judge_error(exc: httpx.HTTPError) -> Verdict:
    """Classify a transport failure: most are worth retrying, a TLS or URL problem is not."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return Verdict(RETRY, f"timed out ({type(exc).__name__})")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return Verdict(PERMANENT, f"unusable webhook URL ({type(exc).__name__})")
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        # Retryable, not permanent: it is fixed on this side (http.ca_file, the proxy), and the
        # queued messages must still go out once it is.
        return Verdict(
            RETRY,
            "TLS certificate verification failed; if a proxy inspects TLS, set http.ca_file to "
            "its CA certificate (PEM)",
        )
    if isinstance(exc, httpx.ProxyError):
        return Verdict(RETRY, f"proxy error: {detail}")
    return Verdict(RETRY, f"network error: {detail}")


def backoff(attempt: int, rand: Callable[[], float], cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4 ... seconds, capped."""
    return min(cap, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + rand() / 2)


def make_client(settings: HttpSettings, tls: bool = True) -> httpx.Client:
    """An httpx client. TLS verification is always on; with `tls=False` (plain-http loopback
    URLs of tests and benchmarks) the context verifies against no trust anchors at all, so the
    CA bundle is not loaded (about 30 ms) and no TLS connection could succeed by accident."""
    import ssl

    if not tls:
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif settings.ca_file:
        verify = ssl.create_default_context(cafile=settings.ca_file)
    else:
        verify = httpx.create_ssl_context(trust_env=True)  # certifi, or SSL_CERT_FILE/_DIR
    return httpx.Client(
        timeout=settings.timeout,
        proxy=settings.proxy,  # None: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment
        verify=verify,
        trust_env=True,
        follow_redirects=False,
        headers={"User-Agent": f"jp1notify/{__version__}"},
    )


class Clients:
    """The clients of one invocation, made on first use: one for TLS, one for plain http."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self.made: dict[bool, httpx.Client] = {}

    def for_url(self, url: str) -> httpx.Client:
        tls = not url.startswith("http://") or (self.settings.proxy or "").startswith("https:")
        if tls not in self.made:
            self.made[tls] = make_client(self.settings, tls)
        return self.made[tls]

    def close(self) -> None:
        for client in self.made.values():
            client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def post(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    settings: HttpSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> tuple[Verdict, int]:
    """Post until delivered, permanent, or out of attempts or budget. Returns (verdict, attempts)."""
    deadline = clock() + settings.retry_budget
    attempt = 0
    while True:
        attempt += 1
        timeout = (
            settings.timeout
            if attempt == 1
            else max(0.1, min(settings.timeout, deadline - clock()))
        )
        verdict = attempt_once(client, url, payload, timeout)
        if verdict.outcome != RETRY or attempt >= settings.max_attempts:
            return verdict, attempt
        wait = verdict.retry_after if verdict.retry_after is not None else backoff(attempt, rand)
        if clock() + wait > deadline:
            return verdict._replace(
                reason=f"{verdict.reason}; next try in {wait:.1f}s is past the retry budget"
            ), attempt
        sleep(wait)


def attempt_once(
    client: httpx.Client, url: str, payload: dict[str, Any], timeout: float
) -> Verdict:
    """One POST of a payload, judged."""
    try:
        response = client.post(
            url,
            content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return judge_error(exc)
    return judge(response.status_code, response.text, response.headers)


def _error_code(body: str) -> str:
    """Slack's error code: the plain-text body, or `error` of a JSON body (429 answers)."""
    text = body.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text[:80]
        if data.get("ok") is True:
            return "ok"
        return str(data.get("error", ""))[:80]
    return text[:80]


def _retry_after(headers: Mapping[str, str], body: str) -> float:
    """Seconds to wait from Retry-After (header, else the JSON body's retry_after), at least 1."""
    raw: Any = headers.get("retry-after")
    if raw is None:
        try:
            raw = json.loads(body).get("retry_after")
        except (ValueError, AttributeError):
            raw = None
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = 1.0
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)
