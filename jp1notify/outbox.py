"""The outbox: send what the store holds, one sender at a time, at Slack's pace, without a daemon.

Every invocation records its event first (store.py), then calls `Sender.drain`. Only the
process holding the sender lease sends; the others return at once, their messages queued.
The holder loops: pick the destination whose next send is due, send its pending messages (one
alone as a normal message, several as one digest), mark the outcome, pace the destination.
It stops when the queue is empty (releasing the lease in the same transaction that saw it
empty), when the next send is further away than `outbox.max_wait_seconds`, or after
`outbox.drain_seconds`; what it leaves stays queued for the next event or `jp1notify flush`.

Per destination: after a single message wait 1 s (Slack's rate for a webhook); after a digest
wait `outbox.digest_interval_seconds`, so a storm becomes a few full messages; after a 429 wait
Retry-After; after a 5xx or network error back off with jitter (up to a minute). A permanent
error marks the messages dead with the reason: never retried, never silently dropped.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from jp1notify import delivery
from jp1notify.classify import Classification
from jp1notify.config import Config, ConfigError, resolve_webhook
from jp1notify.event import Event
from jp1notify.message import DigestItem, render, render_digest
from jp1notify.redaction import redact
from jp1notify.store import Pending, Store

# https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks: about one message
# per second per webhook, short bursts tolerated.
MIN_INTERVAL = 1.0
# A holder renews its lease before every post and every wait, to cover that step plus this
# margin; a holder killed mid-send frees the queue at most (http.timeout + LEASE_TTL) later.
LEASE_TTL = 10.0
FAILURE_BACKOFF_CAP = 60.0
DIGEST_BATCH = 300  # pending messages considered for one digest


class Dead(NamedTuple):
    message_id: int
    destination: str
    reason: str


class DrainReport(NamedTuple):
    holder: bool  # False: another process holds the lease
    posts: int
    sent: int  # messages delivered
    dead: tuple[Dead, ...]
    retry_reasons: tuple[str, ...]  # retryable failures seen, for stderr
    config_errors: tuple[str, ...]  # destinations this process cannot send to
    notes: tuple[str, ...]  # other things the operator should know (cut messages)
    stopped: str  # idle, waiting, budget, busy, unsendable


class Sender:
    def __init__(
        self,
        store: Store,
        config: Config,
        environ: Mapping[str, str],
        secrets: list[str],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        eager: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.environ = environ
        self.secrets = secrets  # webhook URLs read here are added, for redaction by the caller
        if config.http.proxy:
            secrets.append(config.http.proxy)  # it may carry user:password
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.eager = eager  # an operator's flush: do not wait out the error backoff
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.posts = self.sent = 0
        self.dead: list[Dead] = []
        self.retry_reasons: list[str] = []
        self.config_errors: dict[str, str] = {}
        self.notes: list[str] = []
        self.urls: dict[str, str] = {}

    def drain(self) -> DrainReport:
        """Send what is due while this process holds the lease; see the module docstring."""
        if not self.store.take_lease(self.holder, self.clock(), LEASE_TTL):
            return self._report(False, "busy")
        clients = delivery.Clients(self.config.http)
        try:
            stopped = self._loop(clients, self.clock() + self.config.outbox.drain_seconds)
        finally:
            clients.close()
            self.store.release_lease(self.holder)
        return self._report(True, stopped)

    def _loop(self, clients: delivery.Clients, deadline: float) -> str:
        while True:
            now = self.clock()
            due = [
                (at, name)
                for name, at in self.store.due_destinations(with_backoff=not self.eager)
                if name not in self.config_errors
            ]
            if not due:
                if self.config_errors:
                    return "unsendable"
                if self.store.release_if_idle(self.holder):
                    return "idle"
                continue  # something arrived between the two reads
            at, name = min(due)
            if at > now:
                wait = at - now
                if wait > self.config.outbox.max_wait_seconds or at > deadline:
                    return "waiting"
                self.store.renew_lease(self.holder, at + LEASE_TTL)
                self.sleep(wait)
                continue
            if now > deadline:
                return "budget"
            self._send(clients, name)

    def _send(self, clients: delivery.Clients, name: str) -> None:
        """One post to destination `name`: a single message or a digest of its pending ones."""
        pending = self.store.pending_for(name, DIGEST_BATCH)
        if not pending:  # another sender took over after our lease expired, and sent them
            return
        destination = self.config.destinations.get(name)
        if destination is None:
            reason = f"destination {name!r} is no longer in the config"
            self._bury([p.id for p in pending], name, reason)
            return
        url = self._url(name)
        if url is None:
            return
        language = destination.language or self.config.language
        payload, ids, interval = self._payload(name, pending, language)
        self.store.renew_lease(self.holder, self.clock() + self.config.http.timeout + LEASE_TTL)
        client = clients.for_url(url)
        verdict = delivery.attempt_once(client, url, payload, self.config.http.timeout)
        now = self.clock()
        self.posts += 1
        reason = redact(verdict.reason, self.secrets)  # stored in the database: never a URL
        if verdict.outcome == delivery.DELIVERED:
            self.store.mark_sent(ids, name, now, now + interval)
            self.sent += len(ids)
        elif verdict.outcome == delivery.RETRY:
            failures = self.store.destination_failures(name) + 1
            backoff = delivery.backoff(failures, self.rand, FAILURE_BACKOFF_CAP)
            self.store.mark_failed(
                ids,
                name,
                reason,
                next_send_at=now + (verdict.retry_after or 0.0),
                backoff_until=now + (0.0 if verdict.retry_after else backoff),
                failures=failures,
            )
            self.retry_reasons.append(f"{name}: {reason}")
            self.eager = False  # tried once at once; from now on, back off
        else:
            self._bury(ids, name, reason)

    def _payload(
        self, name: str, pending: list[Pending], language: str
    ) -> tuple[dict[str, object], list[int], float]:
        """(payload, message ids it carries, seconds to wait before the next post)."""
        events = [Event.from_dict(json.loads(p.event_json)) for p in pending]
        if len(pending) == 1:
            p = pending[0]
            classification = Classification(p.level, "", p.scope)
            rendered = render(events[0], classification, p.route, p.mentions, language, self.config)
            if rendered.truncated:
                cut = ", ".join(rendered.truncated)
                self.notes.append(f"message {p.id} to {name} shortened to fit Slack: {cut}")
            return rendered.payload, [p.id], MIN_INTERVAL
        items = [DigestItem(e, p.level, p.mentions) for e, p in zip(events, pending, strict=True)]
        digest = render_digest(items, language, self.config)
        ids = [pending[i].id for i in digest.included]
        return digest.payload, ids, self.config.outbox.digest_interval_seconds

    def _url(self, name: str) -> str | None:
        if name not in self.urls:
            try:
                self.urls[name] = resolve_webhook(
                    self.config.destinations[name], self.config, self.environ
                )
            except ConfigError as exc:
                self.config_errors[name] = exc.problems[0]
                return None
            self.secrets.append(self.urls[name])
        return self.urls[name]

    def _bury(self, ids: list[int], name: str, reason: str) -> None:
        self.store.mark_dead(ids, name, reason, self.clock())
        self.dead += [Dead(i, name, reason) for i in ids]

    def _report(self, holder: bool, stopped: str) -> DrainReport:
        return DrainReport(
            holder,
            self.posts,
            self.sent,
            tuple(self.dead),
            tuple(self.retry_reasons),
            tuple(self.config_errors.values()),
            tuple(self.notes),
            stopped,
        )
