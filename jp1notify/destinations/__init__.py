"""Destination kinds behind one interface.

A configured destination (`[destinations.NAME]`) has a `kind`; each kind lives in its own module
here and implements `Channel`:

- `render(item)`: the payload of one message, a pure function of the item (dry run and sending);
- `render_digest(items)`: many messages in one payload (storms), for kinds whose `digests` is
  True (a Healthchecks check takes one signal per event: its pings go out one by one);
- `deliver(http, item, thread, timeout)`: send one message, maybe in several requests (a bot
  updates the incident's parent message, then replies in its thread), and say what came of it
  (`Sent`: a `Verdict` and, for kinds that thread, the parent message to remember);
- `deliver_digest(http, payload, timeout)`.

Each kind classifies its answers with its own table (`judge`), into the `Disposition`s the
outbox acts on (delivery.py): delivered, retry (after Retry-After), or final with the operator's
next step. The outbox, digests and incidents know kinds only through this interface
(`channel_for`), so a new kind is one module and one `Kind` member.

This module is imported on every event: it imports nothing heavy (a kind's module is imported
only when a destination of that kind is sent to).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from jp1notify.classify import Classification
    from jp1notify.config import Config, Destination
    from jp1notify.delivery import Http, Verdict
    from jp1notify.event import Event
    from jp1notify.incidents import Incident
    from jp1notify.message import Digest, DigestItem, Rendered
    from jp1notify.runs import Run


class Kind(StrEnum):
    """The kinds of destination (the config's `kind`; the default is SLACK_WEBHOOK)."""

    SLACK_WEBHOOK = "slack_webhook"
    SLACK_BOT = "slack_bot"
    HEALTHCHECKS = "healthchecks"
    TEAMS = "teams"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"
    ALERTMANAGER = "alertmanager"


KINDS = tuple(k.value for k in Kind)
# Kinds that update a posted message and reply in its thread (their Channel.threads is True).
THREADING = frozenset({Kind.SLACK_BOT})
# Kinds that keep an incident open at the destination (a parent message, an alert): they are
# always told the recovery, whatever a route's `recovery = false` says, else it stays open there.
ALWAYS_RESOLVED = frozenset({Kind.SLACK_BOT, Kind.PAGERDUTY, Kind.ALERTMANAGER})
# The secret each kind is given in one of three ways: `<key>`, `<key>_env`, `<key>_file`.
SECRET_KEYS = {
    Kind.SLACK_WEBHOOK: "webhook_url",
    Kind.SLACK_BOT: "token",
    Kind.HEALTHCHECKS: "ping_url",
    Kind.TEAMS: "webhook_url",
    Kind.PAGERDUTY: "routing_key",
    Kind.WEBHOOK: "url",
    Kind.ALERTMANAGER: "password",  # optional: only with `username` (basic auth)
}


class Item(NamedTuple):
    """One outbox message as a kind sees it."""

    id: int
    event: Event
    classification: Classification
    route: str
    mentions: tuple[str, ...]
    language: str
    incident: Incident | None = None  # the incident it belongs to, as it stands now
    recovery: bool = False  # the message that says the incident is resolved
    context: str | None = None  # the context command's result (guidance.ContextResult, stored)
    run: Run | None = None  # a jobnet's end: how long its run took, against its usual (runs.py)


class Thread(NamedTuple):
    """A posted parent message of an incident, for later updates and replies."""

    channel: str
    ts: str


class Sent(NamedTuple):
    """What delivering one message (or digest) came to."""

    verdict: Verdict
    thread: Thread | None = None  # a new parent message to remember for the incident
    notes: tuple[str, ...] = ()  # things the operator should know (a parent that was replaced)


class Channel(Protocol):
    """A configured destination of some kind, ready to render and send."""

    name: str
    threads: bool  # can update a posted message and reply in its thread
    digests: bool  # can carry many events in one message (a storm's digest)

    def render(self, item: Item) -> Rendered: ...

    def render_digest(self, items: list[DigestItem], language: str) -> Digest: ...

    def deliver(self, http: Http, item: Item, thread: Thread | None, timeout: float) -> Sent: ...

    def deliver_digest(self, http: Http, payload: dict[str, Any], timeout: float) -> Sent: ...


# Whose size limits a kind's messages are cut to, for the operator's "shortened to fit ..." line.
_LIMITS_OF: dict[str, str] = {
    Kind.TEAMS: "Teams",
    Kind.PAGERDUTY: "PagerDuty",
    Kind.WEBHOOK: "the webhook's limit",
    Kind.ALERTMANAGER: "Alertmanager",
    Kind.HEALTHCHECKS: "Healthchecks",
}


def shortened(destination: str, kind: str, parts: tuple[str, ...] | list[str]) -> str:
    """The operator's line for a message cut to fit its destination (`parts`: what was cut)."""
    return f"to {destination} shortened to fit {_LIMITS_OF.get(kind, 'Slack')}: {', '.join(parts)}"


def channel_for(destination: Destination, config: Config, secret: str) -> Channel:
    """The implementation of a configured destination's kind, holding its secret (read by
    `config.read_secret`, which marked it for redaction)."""
    if destination.kind == Kind.SLACK_BOT:
        from jp1notify.destinations.slack_bot import SlackBot

        return SlackBot(destination, config, secret)
    if destination.kind == Kind.HEALTHCHECKS:
        from jp1notify.destinations.healthchecks import Healthchecks

        return Healthchecks(destination, config, secret)
    if destination.kind == Kind.PAGERDUTY:
        from jp1notify.destinations.pagerduty import PagerDuty

        return PagerDuty(destination, config, secret)
    if destination.kind == Kind.TEAMS:
        from jp1notify.destinations.teams import Teams

        return Teams(destination, config, secret)
    if destination.kind == Kind.WEBHOOK:
        from jp1notify.destinations.webhook import Webhook

        return Webhook(destination, config, secret)
    if destination.kind == Kind.ALERTMANAGER:
        from jp1notify.destinations.alertmanager import Alertmanager

        return Alertmanager(destination, config, secret)
    from jp1notify.destinations.slack_webhook import SlackWebhook

    return SlackWebhook(destination, config, secret)


def renderer_for(destination: Destination, config: Config) -> Channel:
    """A destination's kind without its secret: for rendering only (dry run)."""
    return channel_for(destination, config, "")
