"""`kind = "slack_webhook"`: a Slack incoming webhook (the default kind).

A webhook can only post: it cannot update a message or reply in a thread, so every event is a
message of its own and an incident's recovery is a short new one (green, no mention).
Answers: `ok`, or an error code in plain text
(https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jp1notify.delivery import Verdict
from jp1notify.destinations import Item, Sent, Thread
from jp1notify.destinations.slack import judge_slack, render_item

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.message import Digest, DigestItem, Rendered

# Payload refusals: the message is wrong, the webhook is fine.
INVALID_HINTS = {
    "invalid_payload": "Slack refused the message format; report it with the --dry-run output",
    "no_text": "Slack found no text in the message; report it with the --dry-run output",
    "too_many_attachments": "Slack refused the message size; report it with the --dry-run output",
    "invalid_attachments": "Slack refused the message format; report it with the --dry-run output",
    "invalid_blocks": "Slack refused the message format; report it with the --dry-run output",
    "msg_too_long": "Slack refused the message size; report it with the --dry-run output",
}
# Destination refusals: nothing can be posted through this webhook until it is fixed.
GONE_HINTS = {
    "user_not_found": "the webhook's user no longer exists; create a new webhook",
    "channel_not_found": "the webhook's channel no longer exists; create a new webhook",
    "channel_is_archived": "the channel is archived; unarchive it or create a new webhook",
    "action_prohibited": "a Slack admin has restricted this webhook; ask them or create a new one",
    "posting_to_general_channel_denied": "only admins may post to this channel; use another channel",
    "invalid_token": "the webhook was revoked; create a new webhook",
    "invalid_auth": "the webhook was revoked; create a new webhook",
    "token_revoked": "the webhook was revoked; create a new webhook",
    "no_service": "the webhook was removed or disabled; create a new webhook",
    "no_service_id": "the webhook URL is incomplete; copy it again from Slack",
    "no_team": "the webhook URL is incomplete; copy it again from Slack",
    "team_disabled": "the Slack workspace is disabled",
}
HINTS = {**INVALID_HINTS, **GONE_HINTS}


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify a webhook answer by status and body (the body and headers already redacted)."""
    return judge_slack(status, body, headers, INVALID_HINTS, GONE_HINTS)


class SlackWebhook:
    """A destination of kind slack_webhook, holding its webhook URL."""

    threads = False
    digests = True

    def __init__(self, destination: Destination, config: Config, url: str) -> None:
        self.name = destination.name
        self.config = config
        self.url = url

    def render(self, item: Item) -> Rendered:
        return render_item(item, self.config)

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        from jp1notify.message import render_digest

        return render_digest(items, language, self.config)

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        return Sent(http.post(self.url, self.render(item).payload, timeout, judge))

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        return Sent(http.post(self.url, payload, timeout, judge))
