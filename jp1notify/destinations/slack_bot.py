"""`kind = "slack_bot"`: Slack's Web API with a bot token, one conversation per incident.

- The first message of an incident is posted (`chat.postMessage`) and becomes its parent; its
  `channel` ID and `ts` are stored with the incident (store.threads), so any later process finds
  it (Alertmanager keeps the same pair in its notification log).
- A later event of the incident first updates the parent (`chat.update`: the count and the latest
  state), then is posted as a reply in its thread, without mentions and not broadcast. Updating
  first makes a retry harmless: an update can be repeated, a reply cannot.
- The recovery updates the parent (green, RESOLVED, the downtime; the failure details stay, as
  users asked of Grafana OnCall #618) and replies in the thread.
- A parent that can no longer be updated (deleted, edit window closed) or a thread that takes no
  reply, or a parent in a channel that is no longer the destination's and that Slack refuses
  (the app left it): the message is posted as a new top-level message, which becomes the parent.
- Digests (storms) are posted top-level, like a webhook's.

Facts: ../shared/reference/destinations.md section 1 (from slack-api-ref chat.postMessage.json and
chat.update.json): errors come as HTTP 200 with `{"ok": false, "error": ...}`; 429 with
Retry-After when rate limited; postMessage "one message per second per channel", chat.update Tier 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jp1notify.delivery import DELIVERED, Disposition, Verdict
from jp1notify.destinations import Item, Sent, Thread
from jp1notify.destinations.slack import answer, judge_slack, render_item

if TYPE_CHECKING:
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http
    from jp1notify.message import Digest, DigestItem, Rendered

DEFAULT_API_URL = "https://slack.com/api/"

_REPORT = "; report it with the --dry-run output"
# Payload refusals: this message is wrong, the token and channel are fine.
INVALID_HINTS = {
    code: f"Slack refused the message ({code}){_REPORT}"
    for code in (
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "attachment_payload_limit_exceeded",
        "too_many_attachments",
        "no_text",
        "markdown_text_conflict",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_json",
        "json_not_object",
    )
}
_TOKEN = "put a valid bot token (xoxb-...) where the destination's token_env/token_file points"
# Nothing can be posted with this token to this channel until an operator acts.
GONE_HINTS = {
    "invalid_auth": f"the token is invalid, or Slack refuses requests from this IP address; {_TOKEN}",
    "not_authed": f"Slack received no token; {_TOKEN}",
    "account_inactive": f"the token's user or app was deactivated; {_TOKEN}",
    "token_revoked": f"the token was revoked; {_TOKEN}",
    "token_expired": f"the token expired; {_TOKEN}",
    "missing_scope": "the app lacks the chat:write scope: add it (OAuth & Permissions) and reinstall the app",
    "not_allowed_token_type": f"this kind of token cannot post; {_TOKEN}",
    "no_permission": "the app may not post here: check the app's scopes and the channel's settings",
    "channel_not_found": "the channel ID is wrong, or the app cannot see this private channel: check destinations.*.channel and invite the app",
    "not_in_channel": "the app is not in the channel: invite it (/invite @app) or add the chat:write.public scope",
    "is_archived": "the channel is archived: unarchive it or set another channel",
    "restricted_action": "a workspace admin restricts posting in this channel: ask them or use another channel",
    "restricted_action_read_only_channel": "the channel is read-only: use another channel",
    "restricted_action_thread_only_channel": "the channel only takes thread replies: use another channel",
    "ekm_access_denied": "Slack's Enterprise Key Management denies access: ask the workspace admin",
    "access_denied": "Slack denies access: check the app's installation and scopes",
    "team_access_not_granted": "the token has no access to this workspace: install the app there",
}
# Slack's own "try later" (may have partly succeeded: the store keeps one copy per message).
RETRIED_HINTS = {
    "service_unavailable": "Slack is unavailable for a while",
    "fatal_error": "Slack failed on its side",
    "internal_error": "Slack failed on its side",
    "request_timeout": "Slack timed out",
    "team_added_to_org": "the workspace is being moved into an organisation",
    "org_login_required": "the workspace is being moved into an organisation",
}
HINTS = {**INVALID_HINTS, **GONE_HINTS, **RETRIED_HINTS}
# chat.update: the parent cannot be updated any more; post a new one instead.
PARENT_GONE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "is_inactive"}
)
# chat.postMessage with thread_ts: the thread takes no reply; post top-level instead.
THREAD_REFUSED = frozenset(
    {
        "cannot_reply_to_message",
        "restricted_action_thread_locked",
        "restricted_action_non_threadable_channel",
        "thread_not_found",
    }
)


def judge(status: int, body: str, headers: Mapping[str, str]) -> Verdict:
    """Classify a Web API answer (body and headers already redacted). A parent that cannot be
    updated, or a thread that takes no reply, is REFUSED with `data["fallback"]` set: the
    caller posts a new message instead."""
    code, _ = answer(body)
    if code in PARENT_GONE or code in THREAD_REFUSED:
        return Verdict(Disposition.REFUSED, f"Slack answered {code}", data={"fallback": code})
    return judge_slack(status, body, headers, INVALID_HINTS, GONE_HINTS, RETRIED_HINTS)


class SlackBot:
    """A destination of kind slack_bot, holding its token."""

    threads = True
    digests = True

    def __init__(self, destination: Destination, config: Config, token: str) -> None:
        self.name = destination.name
        self.config = config
        self.channel = destination.channel or ""
        self.api = (destination.api_url or DEFAULT_API_URL).rstrip("/") + "/"
        self.headers = {"Authorization": f"Bearer {token}"}

    # -- rendering (pure) ---------------------------------------------------------------------

    def render(self, item: Item) -> Rendered:
        """The top-level message of an item (what the dry run shows)."""
        from jp1notify.message import Rendered

        made = render_item(item, self.config)
        return Rendered(self._message(made.payload), made.truncated)

    def render_reply(self, item: Item, thread: Thread) -> dict[str, Any]:
        """A reply in the incident's thread: no mention, not broadcast."""
        payload = self._message(render_item(item, self.config, ()).payload, thread.channel)
        payload.update(thread_ts=thread.ts, reply_broadcast=False)
        return payload

    def render_update(self, item: Item, thread: Thread) -> dict[str, Any]:
        """The parent as the incident now stands (chat.update replaces text and attachments)."""
        from jp1notify.message import render_parent

        assert item.incident is not None
        made = render_parent(item.incident, item.language, self.config, item.route)
        payload = {"channel": thread.channel, "ts": thread.ts}
        payload.update(text=made.payload["text"], attachments=made.payload["attachments"])
        return payload

    def render_digest(self, items: list[DigestItem], language: str) -> Digest:
        from jp1notify.message import render_digest

        digest = render_digest(items, language, self.config)
        return digest._replace(payload=self._message(digest.payload))

    def _message(self, payload: dict[str, Any], channel: str | None = None) -> dict[str, Any]:
        # Links in JP1 messages (Web Console URLs) must not unfurl into previews.
        return {
            "channel": channel or self.channel,
            **payload,
            "unfurl_links": False,
            "unfurl_media": False,
        }

    # -- sending ------------------------------------------------------------------------------

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent:
        if item.incident is None or thread is None:
            return self._post_top(http, item, timeout)
        update = self._call(http, "chat.update", self.render_update(item, thread), timeout)
        if gone := self._parent_gone(update, thread):
            return self._replace_parent(http, item, timeout, gone)
        notes: tuple[str, ...] = ()
        if update.disposition is Disposition.INVALID:
            # Slack refuses the updated parent's content: the event's own reply still matters
            notes = (f"the incident's Slack message was not updated: {update.reason}",)
        elif update.disposition is not DELIVERED:
            return Sent(update)
        reply = self._call(http, "chat.postMessage", self.render_reply(item, thread), timeout)
        if gone := self._parent_gone(reply, thread):
            return self._replace_parent(http, item, timeout, gone)
        return Sent(reply, notes=notes)

    def _parent_gone(self, verdict: Verdict, thread: Thread) -> str | None:
        """Why the incident's parent message can carry it no more, or None: Slack says it is
        gone or takes no reply; or it is in a channel that is no longer the destination's (the
        operator moved it) and Slack refuses it there: the configured channel may still work."""
        if _fallback(verdict):
            return str((verdict.data or {})["fallback"])
        if verdict.disposition is Disposition.GONE and thread.channel != self.channel:
            return f"its channel {thread.channel} is no longer destinations.{self.name}.channel"
        return None

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent:
        return Sent(self._call(http, "chat.postMessage", payload, timeout))

    def _post_top(self, http: Http, item: Item, timeout: float) -> Sent:
        """A top-level message; for an incident's message, it becomes the incident's parent."""
        verdict = self._call(http, "chat.postMessage", self.render(item).payload, timeout)
        if verdict.disposition is not DELIVERED or item.incident is None:
            return Sent(verdict)
        data = verdict.data or {}
        channel, ts = data.get("channel"), data.get("ts")
        if not (isinstance(channel, str) and isinstance(ts, str) and channel and ts):
            return Sent(verdict, notes=("Slack's answer had no channel/ts: no thread for it",))
        return Sent(verdict, Thread(channel, ts))

    def _replace_parent(self, http: Http, item: Item, timeout: float, why: str) -> Sent:
        sent = self._post_top(http, item, timeout)
        note = (
            f"the incident's Slack message could not be updated or replied to ({why}); "
            "posted a new message, which carries the incident from now on"
        )
        return sent._replace(notes=(*sent.notes, note))

    def _call(self, http: Http, method: str, payload: dict[str, Any], timeout: float) -> Verdict:
        return http.post(self.api + method, payload, timeout, judge, self.headers)


def _fallback(verdict: Verdict) -> bool:
    return verdict.disposition is Disposition.REFUSED and bool((verdict.data or {}).get("fallback"))
