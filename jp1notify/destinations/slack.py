"""What Slack's answers mean, for both Slack kinds (incoming webhook and Web API with a bot token).

Slack answers `ok` (webhook, plain text) or `{"ok": true, ...}` (Web API), else an error code
(plain text, or JSON `error`). Only Slack's own error codes are final; anything else that
answers (a proxy's HTML page, a redirect of a captive portal, an unknown 4xx) is retried with its
reason shown: https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jp1notify.delivery import (
    DELIVERED,
    RETRY,
    Disposition,
    Verdict,
    describe_body,
    redirect_reason,
    retry_after,
)

if TYPE_CHECKING:
    from jp1notify.config import Config
    from jp1notify.destinations import Item
    from jp1notify.message import Rendered

# https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks: about one message
# per second per webhook; chat.postMessage "generally allows posting one message per second per
# channel" (https://docs.slack.dev/apis/web-api/rate-limits).
MIN_INTERVAL = 1.0
# Slack's own "slow down" codes (https://docs.slack.dev/apis/web-api/rate-limits): all retried,
# only the 429 carries Retry-After.
RATE_CODES = frozenset({"rate_limited", "ratelimited", "message_limit_exceeded"})


def answer(body: str) -> tuple[str, dict[str, Any] | None]:
    """Slack's answer code (`ok`, an error code, or "" if the body is not shaped like one of
    Slack's answers) and the JSON object, if the body is one."""
    text = body.strip()
    if not text.startswith("{"):
        return (text if _is_code(text) else ""), None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return "", None
    if not isinstance(data, dict):
        return "", None
    if data.get("ok") is True:
        return "ok", data
    code = data.get("error")
    return (code if isinstance(code, str) and _is_code(code) else ""), data


def slack_code(body: str) -> str:
    return answer(body)[0]


def _is_code(text: str) -> bool:
    return 0 < len(text) <= 60 and all(c.islower() or c == "_" for c in text)


def judge_slack(
    status: int,
    body: str,
    headers: Mapping[str, str],
    invalid: Mapping[str, str],
    gone: Mapping[str, str],
    retried: Mapping[str, str] = {},
) -> Verdict:
    """Classify an answer from Slack by status and error code, with the kind's tables of codes:
    `invalid` (this payload is refused), `gone` (nothing can be posted until the operator acts),
    `retried` (Slack's own "try later"). The body and headers are already redacted."""
    code, data = answer(body)
    if 200 <= status < 300 and code == "ok":
        return Verdict(DELIVERED, "ok", data=data)
    if status == 429 or code in RATE_CODES:
        return Verdict(RETRY, f"rate limited (HTTP {status})", retry_after(headers, body))
    if status >= 500 or status == 408 or code in retried:
        wait = retry_after(headers, body) if "retry-after" in headers else None
        said = (
            f"Slack answered HTTP {status} {code}"
            + (f": {retried[code]}" if code in retried else "")
            if code
            else f"HTTP {status}, {describe_body(body)}"
        )
        return Verdict(RETRY, said, wait)
    if status == 407:
        return Verdict(
            RETRY, "the proxy asks for credentials (HTTP 407): put user:password in http.proxy"
        )
    if 300 <= status < 400:
        return Verdict(RETRY, redirect_reason(status, headers))
    if code in invalid:
        return Verdict(Disposition.INVALID, f"Slack answered HTTP {status} {code}: {invalid[code]}")
    if code in gone:
        return Verdict(Disposition.GONE, f"Slack answered HTTP {status} {code}: {gone[code]}")
    if code and data is not None and data.get("ok") is False:
        # Slack's Web API answer with a code this version does not know: not final, say it
        return Verdict(
            Disposition.REFUSED,
            f"Slack answered HTTP {status} {code}, an error jp1notify does not know; it is "
            "retried (see https://docs.slack.dev/reference/methods)",
        )
    what = f"an answer that is not Slack's (HTTP {status}, {describe_body(body)})"
    if 200 <= status < 300:  # a proxy's login page or a captive portal answered instead of Slack
        return Verdict(RETRY, f"{what}; check http.proxy and the network")
    return Verdict(
        Disposition.REFUSED, f"{what}; a proxy or filter may be blocking it: check http.proxy"
    )


def render_item(item: Item, config: Config, mentions: tuple[str, ...] | None = None) -> Rendered:
    """An item's Slack message, for both Slack kinds: the short recovery message of an incident,
    or the event's message with `mentions` (default: the route's; a thread reply passes ())."""
    from jp1notify.message import render, render_recovery

    if item.recovery and item.incident is not None:
        return render_recovery(item.event, item.incident, item.language, config, item.run)
    return render(
        item.event,
        item.classification,
        item.route,
        item.mentions if mentions is None else mentions,
        item.language,
        config,
        item.context,
        item.run,
    )
