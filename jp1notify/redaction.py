"""Redaction: webhook URLs and tokens never reach a log line, stderr, stdout or an error.

The URL is the secret of an incoming webhook
(https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks). Known secrets are replaced
wherever they appear, whole or as their path; shapes of Slack secrets are replaced even when
jp1notify did not know them (a URL pasted into a message, a proxy error quoting the request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

REDACTED = "[redacted]"
# A webhook URL: from `http(s)://` to the end of its token, if the token holds one of these paths
# after the scheme. Found by a scan (`_redact_webhook_urls`), not by a regular expression: a
# pattern like `https?://[^\s]*/services/[^\s]*` rescans the token from every `http://` in it,
# which is quadratic on a long token of many `http://` (an error quoting hostile event text).
_SCHEME = re.compile(r"https?://")
_TOKEN_END = re.compile(r"[\s\"'<>]")
_WEBHOOK_PATHS = ("/services/", "/hooks/", "/triggers/")
# Shapes found by patterns that rescan nothing (each run stops at a character it cannot hold).
_SHAPES = re.compile(
    r"/services/T[0-9A-Za-z]+/B[0-9A-Za-z]+/[0-9A-Za-z]+"  # a webhook's path alone
    r"|(?i:(?<=basic )|(?<=bearer ))[0-9A-Za-z+/=._~-]{8,}"  # credentials of an auth header
    r"|xox[a-z]-[0-9A-Za-z-]+"  # Slack tokens
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"  # user:password in a (proxy) URL
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and every secret-shaped string replaced."""
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SHAPES.sub(REDACTED, _redact_webhook_urls(text))


def _redact_webhook_urls(text: str) -> str:
    """Each token's webhook URL replaced, in one pass: a token is looked at from its first
    `http(s)://` only (a later one has fewer characters after it to hold a webhook path)."""
    out: list[str] = []
    done = 0  # text[:done] is decided
    for match in _SCHEME.finditer(text):
        start = match.start()
        if start < done:
            continue
        end_match = _TOKEN_END.search(text, start)
        end = end_match.start() if end_match else len(text)
        if any(text.find(path, match.end(), end) >= 0 for path in _WEBHOOK_PATHS):
            out += (text[done:start], REDACTED)
        else:
            out.append(text[done:end])
        done = end
    out.append(text[done:])
    return "".join(out)


SECRET_PART = 16  # a path segment or query value this long is a secret on its own (a token)


def _variants(secrets: Iterable[str]) -> set[str]:
    """Each secret as a server or a library may echo it: whole, without its scheme, its path,
    its long path segments and query values (the token part), its password, and each of those
    percent-encoded or JSON-escaped."""
    out = set()
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, *_parts(secret)}
        out |= forms
        out |= {quote(form, safe="") for form in forms} | {quote(form) for form in forms}
        out |= {form.replace("/", "\\/") for form in forms}
        out |= {encoded for form in forms if len(form) >= 8 for encoded in _base64(form)}
    out.discard("")
    return out


def _base64(text: str) -> set[str]:
    """`text` as it appears inside any base64 (how a proxy echoes Basic credentials, or a page
    embeds a URL): the characters that encode only its bytes, at each of the three alignments
    it can have in the encoded whole."""
    import base64

    data = text.encode("utf-8")
    found = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        start, end = 4 * -(-shift // 3), 4 * ((shift + len(data)) // 3)
        if end - start >= 8:
            found.add(encoded[start:end])
    return found


class Secrets(list[str]):
    """The secrets one invocation has met, redacted from everything it writes (log, stderr,
    stdout, the store). Destinations' secrets are added by `config.read_secret`, the one place
    that reads them; proxy credentials by `add_proxies`."""

    def add(self, value: str | None) -> None:
        if value and value not in self:
            self.append(value)

    def add_proxies(self, proxy: str | None, environ: Mapping[str, str]) -> None:
        """`http.proxy` (it may carry user:password) and credentialed *_PROXY variables."""
        for value in (proxy, *proxy_secrets(environ)):
            self.add(value)


def proxy_secrets(environ: Mapping[str, str]) -> list[str]:
    """Proxy URLs from the environment that carry credentials (HTTPS_PROXY, ..., any case):
    secrets as much as `http.proxy`, though jp1notify never reads them itself."""
    return [
        value
        for name, value in environ.items()
        if name.upper() in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY") and "@" in value
    ]


def _parts(secret: str) -> set[str]:
    try:
        parts = urlsplit(secret)
    except ValueError:
        return set()
    found = {secret.split("://", 1)[-1]}
    if len(parts.path) > 8:  # a webhook's path is a secret on its own; "/" is not
        found.add(parts.path)
    found |= {s for s in parts.path.split("/") if len(s) >= SECRET_PART}
    found |= {v for q in parts.query.split("&") if len(v := q.partition("=")[2]) >= SECRET_PART}
    if parts.password and len(parts.password) >= 4:
        found |= {parts.password, f"{parts.username}:{parts.password}"}
    return found
