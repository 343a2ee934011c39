"""Redaction: webhook URLs and tokens never reach a log line, stderr, stdout or an error.

The URL is the secret of an incoming webhook
(https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks). Known secrets are replaced
wherever they appear, whole or as their path; shapes of Slack secrets are replaced even when
jp1notify did not know them (a URL pasted into a message, a proxy error quoting the request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

REDACTED = "[redacted]"
_SHAPES = re.compile(
    r"https?://[^\s\"'<>]*(?:/services/|/hooks/|/triggers/)[^\s\"'<>]*"  # webhook URLs
    r"|/services/T[0-9A-Za-z]+/B[0-9A-Za-z]+/[0-9A-Za-z]+"  # their path alone
    r"|xox[a-z]-[0-9A-Za-z-]+"  # Slack tokens
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"  # user:password in a (proxy) URL
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and every secret-shaped string replaced."""
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SHAPES.sub(REDACTED, text)


def _variants(secrets: Iterable[str]) -> set[str]:
    out = set()
    for secret in secrets:
        if not secret:
            continue
        out.add(secret)
        path = urlsplit(secret).path
        if len(path) > 8:  # a webhook's path is a secret on its own; "/" is not
            out.add(path)
    return out
