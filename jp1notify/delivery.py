"""Delivery: one HTTP POST within a total deadline, and the dispositions its answer can have.

Every attempt ends with one `Disposition` (a kind's `judge` for an HTTP answer, each kind in
jp1notify/destinations/ with its own table; `judge_error` here for a failure to get one):
- DELIVERED: the destination accepted it;
- RETRY: the way there failed (network error, timeout, 5xx, 429 with Retry-After, a proxy asking
  for credentials, a redirect from a captive portal, a TLS trust problem fixed on our side): try later;
- REFUSED: something that is not the destination refused this request (an HTML 403 page of a
  filtering proxy, an unknown 4xx): retried later too, but a digest is split so that one message
  cannot hold the others;
- INVALID: the destination refused this payload: a digest is split, a single message dies;
- GONE: the destination says it is gone or forbidden (webhook revoked, channel archived, token
  invalid): every message to it dies, with the operator's next step;
- UNUSABLE: the destination cannot be used at all as configured: the messages stay queued.

A request never outlives its deadline: httpx's timeouts apply per read (a server trickling header
bytes would defeat them), so the request runs in a worker thread that is abandoned at the deadline.
Answers are read raw and bounded; reasons are built from status codes, error codes and redacted,
cut excerpts: never a URL, token or other secret. `post` (used only without a store) retries
within a budget; the outbox retries with the store.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from jp1notify import __version__
from jp1notify.bounds import DEADLINE_GRACE
from jp1notify.config import HttpSettings
from jp1notify.redaction import redact

if TYPE_CHECKING:  # httpx is imported when a client is made: a process that only records
    import httpx  # its event (another holds the sender lease) never pays for it (~45 ms)


class Disposition(StrEnum):
    """What one attempt means for the messages it carried (see the module docstring)."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"
    INVALID = "invalid"
    GONE = "gone"
    UNUSABLE = "unusable"


DELIVERED = Disposition.DELIVERED
RETRY = Disposition.RETRY
# The dispositions that end a message: with no store to keep it, and in the direct-send summary.
FINAL = frozenset({Disposition.INVALID, Disposition.GONE})

# Slack's own Retry-After values are a few seconds; a proxy's "86400" must not hold every alert for a
# day. Longer values are cut to this (README: "Retry-After").
MAX_RETRY_AFTER = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
# Bytes of an answer read at most: a webhook answers a few bytes, but chat.postMessage echoes the
# posted message (up to about 40 KB of text and attachments), and a cut answer would be taken
# for one that is not Slack's and retried: a duplicate parent.
MAX_BODY = 262144
EXCERPT = 80  # characters of a non-Slack answer shown in a reason


class Verdict(NamedTuple):
    disposition: Disposition
    reason: str  # for operators; never contains the URL
    retry_after: float | None = None
    unanswered: bool = False  # the request may have reached Slack, but no answer came back
    data: dict[str, Any] | None = None  # the answer's JSON object, for kinds that read it


# How a kind classifies an HTTP answer: (status, redacted body, redacted lower-case headers).
Judge = Callable[[int, str, Mapping[str, str]], Verdict]


class Result(NamedTuple):
    """The end of one destination's delivery (direct sending, without a store)."""

    destination: str
    outcome: Disposition
    attempts: int
    reason: str


def judge_error(exc: BaseException) -> Verdict:
    """Classify a failure to get an answer: most are worth retrying, an unusable URL is not."""
    import httpx  # already loaded: the failure came from a client

    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        # A read timeout: the request went out and Slack may have posted it.
        unanswered = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return Verdict(RETRY, f"timed out ({type(exc).__name__})", unanswered=unanswered)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL, UnicodeError, OverflowError)):
        # httpx, idna and the socket layer refuse the URL itself ("hooks..slack.com", port 99999).
        return Verdict(
            Disposition.UNUSABLE,
            f"the webhook URL cannot be used ({type(exc).__name__}); copy it again from Slack",
        )
    refused = _certificate_refusal(exc)
    if refused is not None:
        # Retryable, not permanent: it is fixed on this side (the trust store, http.ca_file, the
        # proxy), and the queued messages must still go out once it is.
        return Verdict(
            RETRY,
            f"TLS certificate verification failed ({cut_text(refused, 120)}); if a proxy "
            "inspects TLS, import its CA certificate into this machine's trust store (on "
            "Windows: Trusted Root Certification Authorities of the Local Computer, which the "
            "JP1 service account sees) or set http.ca_file to it (PEM)",
        )
    if isinstance(exc, httpx.ProxyError):
        return Verdict(RETRY, f"proxy error: {cut_text(detail)}")
    if isinstance(exc, (httpx.HTTPError, OSError)):
        return Verdict(RETRY, f"network error: {cut_text(detail)}")
    return Verdict(
        RETRY, f"unexpected error while sending ({type(exc).__name__}: {cut_text(detail)})"
    )


def _certificate_refusal(exc: BaseException) -> str | None:
    """Why the server's certificate was not trusted, if that is what failed. OpenSSL says
    CERTIFICATE_VERIFY_FAILED; truststore's Windows and macOS backends raise an
    ssl.SSLCertVerificationError with the system's own words ("A certificate chain processed,
    but terminated in a root certificate which is not trusted by the trust provider.", or
    "Certificate chain policy error 0x800b0109 [1]" where the system has no text for the code,
    as under Wine), which httpx wraps in a ConnectError: so the cause chain is searched, not
    the text alone."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> ssl; bounded against a cycle
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            # OpenSSL's and truststore's errors both carry verify_message; str() of an
            # SSLError built in Python is its args tuple, so its last argument is the fallback.
            said = getattr(seen, "verify_message", None) or (seen.args[-1] if seen.args else "")
            return str(said) or "certificate verify failed"
        seen = seen.__cause__ or seen.__context__
    detail = str(exc)
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in detail else None


def backoff(attempt: int, rand: Callable[[], float], cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4 ... seconds, capped."""
    return min(cap, BACKOFF_BASE * 2 ** (min(attempt, 60) - 1)) * (0.5 + rand() / 2)


def make_client(
    settings: HttpSettings, tls: bool = True, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An httpx client. TLS verification is always on, against the operating system's trust
    store plus http.ca_file (jp1notify/trust.py); with `tls=False` (plain-http loopback URLs of
    tests and benchmarks) the context verifies against no trust anchors at all, so no store is
    read and truststore is not imported, and no TLS connection could succeed by accident."""
    import ssl

    import httpx

    if not tls:
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        from jp1notify import trust

        verify = trust.load(settings.ca_file).context
    return httpx.Client(
        timeout=settings.timeout,
        proxy=settings.proxy,  # None: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment
        verify=verify,
        trust_env=True,
        follow_redirects=False,
        transport=transport,
        # identity: the answer is read raw and bounded (MAX_BODY), never decompressed
        headers={"User-Agent": f"jp1notify/{__version__}", "Accept-Encoding": "identity"},
    )


class Clients:
    """The clients of one invocation, made on first use: one for TLS, one for plain http.

    A client whose request was abandoned at its deadline is dropped (its worker thread may still
    hold its connection pool) and a fresh one is made for the next request. `transport` replaces
    the network (httpx.MockTransport in in-process tests)."""

    def __init__(
        self, settings: HttpSettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.made: dict[bool, httpx.Client] = {}

    def for_url(self, url: str) -> httpx.Client:
        tls = not url.startswith("http://") or (self.settings.proxy or "").startswith("https:")
        if tls not in self.made:
            self.made[tls] = make_client(self.settings, tls, self.transport)
        return self.made[tls]

    def drop(self, client: httpx.Client) -> None:
        self.made = {tls: c for tls, c in self.made.items() if c is not client}

    def close(self) -> None:
        for client in self.made.values():
            client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Http:
    """What a destination kind sends with: this invocation's clients, the secrets to redact from
    every answer, and a hook run before each request (the outbox renews its lease there)."""

    def __init__(
        self,
        clients: Clients,
        secrets: Iterable[str] = (),
        before: Callable[[float], None] | None = None,
    ) -> None:
        self.clients = clients
        self.secrets = secrets
        self.before = before
        self.requests = 0

    def post(
        self,
        url: str,
        payload: dict[str, Any],
        timeout: float,
        judge: Judge,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Verdict:
        """One POST of a JSON payload (or of `content`, plain UTF-8 text, when given), judged
        by the kind's `judge`, within `timeout`."""
        if self.before is not None:
            self.before(timeout)
        self.requests += 1
        return attempt_once(
            self.clients, url, payload, timeout, judge, self.secrets, headers, content
        )


def post(
    send_once: Callable[[float], Verdict],
    settings: HttpSettings,
    deadline: float,
    *,
    patient: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> tuple[Verdict, int]:
    """Send until delivered, final, unusable, or out of attempts or time (`deadline`, on `clock`).
    `send_once(timeout)` is one attempt (one message of a kind, maybe several requests). After an
    attempt that got no answer the next one waits up to `patient` seconds, so that a slow Slack
    costs one duplicate, not one per attempt. Returns (verdict, attempts). Used only when there
    is no store to queue the message in."""
    attempt = 0
    verdict: Verdict | None = None
    while True:
        attempt += 1
        wanted = patient if patient and verdict and verdict.unanswered else settings.timeout
        timeout = max(0.1, min(wanted, deadline - clock()))
        verdict = send_once(timeout)
        if verdict.disposition in (DELIVERED, Disposition.UNUSABLE, *FINAL):
            return verdict, attempt
        if attempt >= settings.max_attempts:
            return verdict, attempt
        wait = verdict.retry_after if verdict.retry_after is not None else backoff(attempt, rand)
        if clock() + wait > deadline:
            return verdict._replace(
                reason=f"{verdict.reason}; next try in {wait:.1f}s is past the retry budget"
            ), attempt
        sleep(wait)


def attempt_once(
    clients: Clients,
    url: str,
    payload: dict[str, Any],
    timeout: float,
    judge: Judge,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Verdict:
    """One POST of a payload (JSON; or `content` as plain UTF-8 text), judged, within `timeout`
    seconds in all (plus a second's grace). `headers` may carry a credential (a bot token): it
    is redacted like the URL."""
    hidden = [url, *secrets, *(headers or {}).values()]
    try:
        client = clients.for_url(url)
    except Exception as exc:  # noqa: BLE001 - a client that cannot be built is a verdict too
        return _setup_failed(exc, hidden)
    if content is None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    else:
        body = content
        sent = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    box: list[Verdict] = []
    worker = threading.Thread(
        target=lambda: box.append(_exchange(client, url, body, sent, timeout, judge, hidden)),
        name="jp1notify-post",
        daemon=True,  # an abandoned request never keeps the process alive
    )
    worker.start()
    worker.join(timeout + DEADLINE_GRACE)
    if box:
        return box[0]
    clients.drop(client)
    return Verdict(
        RETRY,
        f"no complete answer within {timeout:g}s (the server or a proxy is too slow)",
        unanswered=True,
    )


def _setup_failed(exc: Exception, secrets: list[str]) -> Verdict:
    """The HTTPS client could not be built: a CA file, a trust store or a proxy variable that
    cannot be used. Fixed on this side; the messages stay queued meanwhile."""
    detail = redact(cut_text(str(exc) or type(exc).__name__, 160), secrets)
    return Verdict(
        Disposition.UNUSABLE,
        f"cannot set up HTTPS ({type(exc).__name__}: {detail}); check http.ca_file, "
        "SSL_CERT_FILE/SSL_CERT_DIR and HTTPS_PROXY/HTTP_PROXY in the job's environment",
    )


def _exchange(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    judge: Judge,
    secrets: list[str],
) -> Verdict:
    """The request itself (run in the worker thread): never raises."""
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
            raw = _read_some(response)
            text = redact(raw.decode(response.encoding or "utf-8", "replace"), secrets)
            answer = {k.lower(): redact(v, secrets) for k, v in response.headers.items()}
            return judge(response.status_code, text, answer)
    except Exception as exc:  # noqa: BLE001 - any failure is a verdict, never a crash
        verdict = judge_error(exc)
        return verdict._replace(reason=redact(verdict.reason, secrets))


def _read_some(response: httpx.Response) -> bytes:
    """At most MAX_BODY bytes of the answer: a server streaming megabytes costs nothing more."""
    if response.is_stream_consumed:  # read before it reached us (httpx.MockTransport does)
        return response.content[:MAX_BODY]
    data = b""
    for chunk in response.iter_raw():
        data += chunk
        if len(data) >= MAX_BODY:
            break
    return data[:MAX_BODY]


def describe_body(body: str) -> str:
    """A short, printable account of an answer that is not Slack's."""
    text = body.strip()
    if not text:
        return "empty body"
    lower = text[:2000].lower()
    if lower.startswith(("<!doctype html", "<html")) or "<body" in lower:
        start = lower.find("<title>")
        end = lower.find("</title>", start)
        title = text[start + 7 : end].strip() if 0 <= start < end else ""
        return f"an HTML page {cut_text(title)!r}" if title else "an HTML page"
    return f"body {cut_text(text)!r}"


def cut_text(text: str, limit: int = EXCERPT) -> str:
    """Printable characters only, at most `limit` of them."""
    clean = "".join(c if c.isprintable() else " " for c in text[: limit * 2])
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def redirect_reason(status: int, headers: Mapping[str, str]) -> str:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(headers.get("location", "")).hostname or ""
    except ValueError:
        host = ""
    to = f" to {cut_text(host, 60)}" if host else ""
    return (
        f"redirected (HTTP {status}{to}): Slack never redirects, so a captive portal or "
        "a proxy answered; check http.proxy and the network"
    )


def retry_after(headers: Mapping[str, str], body: str) -> float:
    """Seconds to wait from Retry-After (seconds or an HTTP date; else the JSON body's
    retry_after), between 1 and MAX_RETRY_AFTER; 1 when absent or unreadable."""
    raw: Any = headers.get("retry-after")
    if raw is None:
        try:
            raw = json.loads(body).get("retry_after")
        except (ValueError, AttributeError):
            raw = None
    seconds = _seconds(raw)
    if not math.isfinite(seconds):
        seconds = 1.0
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


def _seconds(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError, OverflowError):
        pass
    if isinstance(raw, str):
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return 1.0
