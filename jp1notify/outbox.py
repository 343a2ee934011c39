"""The outbox: send what the store holds, one sender at a time, at Slack's pace, without a daemon.

Every invocation records its event first (store.py), then calls `Sender.drain`. Only the
process holding the sender lease sends; the others return at once, their messages queued.
The holder loops: pick the destination whose next send is due, send its pending messages (up to
SINGLES_UP_TO of them one by one as full messages, more as one digest; a message in an incident's
Slack thread always on its own), mark the outcome, pace the destination. It stops when the queue is empty (releasing the lease in the same transaction that
saw it empty), when the next send is further away than `outbox.max_wait_seconds`, after
`outbox.drain_seconds`, or when it finds it lost the lease; what it leaves stays queued for the
next event or `jp1notify flush`.

Per destination: after a single message wait 1 s (Slack's rate for a webhook); after a digest
wait `outbox.digest_interval_seconds`; after a 429 wait Retry-After (at most
delivery.MAX_RETRY_AFTER); after a 5xx or network error back off with jitter (up to
FAILURE_BACKOFF_CAP). A digest that is refused (by Slack's payload check or by something that is
not Slack) is split in halves until the message at fault is alone: only that one dies (Slack's
refusal) or waits on its own backoff (anything else), the others go out. Slack saying the webhook
or channel is gone kills every message to it, with the reason. A request that got no answer makes
the next request to that destination wait longer (bounds.patient_timeout), so that a slow Slack
costs at most one duplicate per fault. A webhook that cannot be used, or a destination no longer in the config,
keeps its messages queued and is reported as a config problem.

Stored instants are wall-clock (other processes read them); a stored "not before" further ahead
than its documented maximum (`Limits`) can only come from a clock that stepped, and counts as
now. This process's own budget and waits use the monotonic clock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from jp1notify import DEBUG_ENV, delivery
from jp1notify.bounds import DEADLINE_GRACE, LEASE_TTL, lease_ahead, patient_timeout
from jp1notify.classify import Classification
from jp1notify.config import Config, read_secret
from jp1notify.delivery import Disposition
from jp1notify.destinations import Channel, Item, Sent, channel_for, shortened
from jp1notify.destinations.slack import MIN_INTERVAL
from jp1notify.errors import ConfigError, LostLease, StoreError
from jp1notify.event import Event
from jp1notify.message import DigestItem
from jp1notify.redaction import Secrets, redact
from jp1notify.store import DestinationState, Due, Pending, Store

if TYPE_CHECKING:
    import httpx

FAILURE_BACKOFF_CAP = 60.0  # the longest error backoff of a destination
MESSAGE_BACKOFF_CAP = 300.0  # the longest a message refused on its own waits
DIGEST_BATCH = 300  # pending messages considered for one digest
SINGLES_UP_TO = 3  # this many pending messages or fewer go out as full messages, one per second


class Limits(NamedTuple):
    """The documented maximum of each stored instant, in seconds from now."""

    pace: float  # next_send_at: a digest interval, Slack's second, or a capped Retry-After
    backoff: float  # backoff_until
    message: float  # a message's not_before
    lease: float  # the lease expiry: the longest wait or request, plus LEASE_TTL

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            pace=max(delivery.MAX_RETRY_AFTER, config.outbox.digest_interval_seconds, MIN_INTERVAL),
            backoff=FAILURE_BACKOFF_CAP,
            message=MESSAGE_BACKOFF_CAP,
            lease=lease_ahead(config),
        )


def not_before(stored: float, now: float, limit: float) -> float:
    """A stored instant, or now if it lies further ahead than it ever can (a clock step)."""
    return now if stored > now + limit else stored


class Stop(StrEnum):
    """Why a drain stopped (the log's `stopped=`)."""

    IDLE = "idle"  # the queue is empty: the lease was released
    WAITING = "waiting"  # the next send is further away than it may wait
    BUDGET = "budget"  # outbox.drain_seconds are spent
    BUSY = "busy"  # another process holds the lease
    UNSENDABLE = "unsendable"  # only messages it cannot send are left (config errors, bugs)
    LOST_LEASE = "lost_lease"  # another process took the lease over
    ERROR = "error"  # never reported: an exception that ends the loop propagates


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
    stopped: Stop
    orphans: tuple[tuple[str, int], ...] = ()  # (destination not in the config, pending count)
    internal_errors: tuple[str, ...] = ()  # bugs met while sending (the messages stay queued)


class Ready(NamedTuple):
    """A pending message read back and ready to render."""

    message: Pending
    event: Event
    mentions: tuple[str, ...]


class Sender:
    def __init__(
        self,
        store: Store,
        config: Config,
        environ: Mapping[str, str],
        secrets: Secrets,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        eager: bool = False,
        budget: float | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.environ = environ
        self.secrets = secrets  # secrets read here are added, for redaction by the caller
        secrets.add_proxies(config.http.proxy, environ)
        self.transport = transport
        self.clock = clock  # wall clock: instants stored for other processes
        self.monotonic = monotonic  # this process's own budget and waits
        self.sleep = sleep
        self.rand = rand
        self.eager = eager  # an operator's flush: do not wait out the error backoff
        self.budget = budget  # seconds of sending left to this process (None: drain_seconds)
        self.limits = Limits.of(config)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.posts = self.sent = 0
        self.dead: list[Dead] = []
        self.retry_reasons: list[str] = []
        self.config_errors: dict[str, str] = {}
        self.internal_errors: dict[str, str] = {}  # destinations this drain stopped at (a bug)
        self.bugs: list[str] = []  # bugs met that stopped one message only
        self.orphans: dict[str, int] = {}
        self.notes: list[str] = []
        self.channels: dict[str, Channel] = {}

    def drain(self) -> DrainReport:
        """Send what is due while this process holds the lease; see the module docstring."""
        if not self.store.take_lease(self.holder, self.clock(), LEASE_TTL, self.limits.lease):
            return self._report(False, Stop.BUSY)
        clients = delivery.Clients(self.config.http, self.transport)
        stopped = Stop.ERROR
        try:
            budget = self.config.outbox.drain_seconds
            if self.budget is not None:
                budget = min(budget, self.budget)
            stopped = self._loop(clients, self.monotonic() + budget)
        except LostLease:
            stopped = Stop.LOST_LEASE
        finally:
            clients.close()
            with contextlib.suppress(StoreError):  # the store may be what failed
                self.store.release_lease(self.holder)
        return self._report(True, stopped)

    def _loop(self, clients: delivery.Clients, deadline: float) -> Stop:
        while True:
            due = self._due()
            if not due:
                if self.store.release_if_idle(self.holder, self._unsendable()):
                    stuck = self.config_errors or self.internal_errors
                    return Stop.UNSENDABLE if stuck else Stop.IDLE
                continue  # something arrived between the two reads
            wait, name = min(due)
            if wait > 0:
                if wait > self.config.outbox.max_wait_seconds or self.monotonic() + wait > deadline:
                    return Stop.WAITING
                self._renew(self.clock() + wait + LEASE_TTL)
                self.sleep(wait)
                continue
            if self.monotonic() > deadline:
                return Stop.BUDGET
            self._guarded_send(clients, name)

    def _due(self) -> list[tuple[float, str]]:
        """(seconds until it may be sent to, name) of each destination this process can send to."""
        now = self.clock()
        due = []
        for row in self.store.due(now, self.limits.message):
            if row.name not in self.config.destinations:
                self.orphans[row.name] = row.pending
            elif row.name not in self.config_errors and row.name not in self.internal_errors:
                due.append((max(0.0, self._ready_at(row, now) - now), row.name))
        return due

    def _ready_at(self, row: Due, now: float) -> float:
        """When the destination may be sent to: Slack's pace always; the error backoff and a
        message's own wait unless this is an operator's flush trying at once."""
        at = not_before(row.next_send_at, now, self.limits.pace)
        if not self.eager:
            at = max(at, not_before(row.backoff_until, now, self.limits.backoff), row.first_ready)
        return at

    def _unsendable(self) -> list[str]:
        return [*self.orphans, *self.config_errors, *self.internal_errors]

    def _renew(self, until: float) -> None:
        if not self.store.renew_lease(self.holder, until):
            raise LostLease

    def _guarded_send(self, clients: delivery.Clients, name: str) -> None:
        """One post; a bug met while sending to one destination leaves its messages queued and
        lets the others go on (said on stderr, exit 70)."""
        try:
            self._send(clients, name)
        except (LostLease, StoreError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if self.environ.get(DEBUG_ENV):
                raise
            self.internal_errors[name] = redact(
                f"{name}: {type(exc).__name__}: {exc}", self.secrets
            )

    def _send(self, clients: delivery.Clients, name: str) -> None:
        """One delivery to destination `name`: a single message or a digest of its pending ones."""
        state = self.store.destination_state(name)
        limit = min(DIGEST_BATCH, state.batch_limit or DIGEST_BATCH)
        # an operator's flush tries every message at once, even one waiting on its own
        now = None if self.eager else self.clock()
        pending = self.store.pending_for(name, limit, now, self.limits.message)
        if not pending:  # another sender took over after our lease expired, and sent them
            return
        channel = self._channel(name)
        if channel is None:
            return
        timeout = patient_timeout(self.config, state.patient)
        http = delivery.Http(clients, self.secrets, self._before_request)
        made = self._deliver(channel, http, pending, timeout, backlog=len(pending) >= limit)
        if made is None:
            return
        sent, ids, interval, incident = made
        self.posts += 1
        self.notes += [f"{name}: {note}" for note in sent.notes]
        thread = (incident, *sent.thread) if sent.thread and incident is not None else None
        self._settle(name, pending, ids, sent.verdict, interval, state, thread)

    def _before_request(self, timeout: float) -> None:
        """Before each request: the lease must outlast it, and must still be ours."""
        self._renew(self.clock() + timeout + DEADLINE_GRACE + LEASE_TTL)

    def _settle(
        self,
        name: str,
        pending: list[Pending],
        ids: list[int],
        verdict: delivery.Verdict,
        interval: float,
        state: DestinationState,
        thread: tuple[int, str, str] | None = None,
    ) -> None:
        now = self.clock()
        reason = redact(verdict.reason, self.secrets)  # stored in the database: never a URL
        kind = verdict.disposition
        if kind is not Disposition.DELIVERED:
            self.eager = False  # an operator's flush tries at once, once; then waits apply
        if kind is Disposition.DELIVERED:
            self.store.mark_sent(ids, name, now, now + interval, thread)
            self.sent += len(ids)
        elif kind is Disposition.RETRY:
            self._retry_later(name, ids, reason, verdict, state, now)
        elif kind is Disposition.UNUSABLE:
            self.config_errors[name] = f"destinations.{name}: {reason}"
            self.store.note_problem(name, reason)
        elif kind in (Disposition.REFUSED, Disposition.INVALID) and len(ids) > 1:
            half = math.ceil(len(ids) / 2)
            self.store.split(ids, name, reason, limit=half, next_send_at=now + MIN_INTERVAL)
            self.retry_reasons.append(f"{name}: {reason} (split: {len(ids)} messages, next {half})")
        elif kind is Disposition.REFUSED:
            self._defer(name, pending, ids[0], reason, state, now)
        else:  # INVALID for a message alone, or GONE: Slack's final word
            self._bury(ids, name, reason)

    def _retry_later(
        self,
        name: str,
        ids: list[int],
        reason: str,
        verdict: delivery.Verdict,
        state: DestinationState,
        now: float,
    ) -> None:
        failures = state.failures + 1
        backoff = delivery.backoff(failures, self.rand, FAILURE_BACKOFF_CAP)
        unanswered = state.patient + 1 if verdict.unanswered else 0
        if unanswered > 1:  # Slack is slower than even a patient wait: each try may post again
            backoff = FAILURE_BACKOFF_CAP
        self.store.mark_failed(
            ids,
            name,
            reason,
            next_send_at=now + (verdict.retry_after or 0.0),
            backoff_until=now + (0.0 if verdict.retry_after else backoff),
            failures=failures,
            patient=unanswered,
        )
        self.retry_reasons.append(f"{name}: {reason}")

    def _defer(
        self,
        name: str,
        pending: list[Pending],
        message_id: int,
        reason: str,
        state: DestinationState,
        now: float,
    ) -> None:
        attempts = next(p.attempts for p in pending if p.id == message_id) + 1
        failures = state.failures + 1
        self.store.defer(
            message_id,
            name,
            reason,
            not_before=now + delivery.backoff(attempts, self.rand, MESSAGE_BACKOFF_CAP),
            backoff_until=now + delivery.backoff(failures, self.rand, FAILURE_BACKOFF_CAP),
            failures=failures,
        )
        self.retry_reasons.append(f"{name}: {reason} (message {message_id} waits on its own)")

    def _deliver(
        self,
        channel: Channel,
        http: delivery.Http,
        pending: list[Pending],
        timeout: float,
        backlog: bool = False,
    ) -> tuple[Sent, list[int], float, int | None] | None:
        """Deliver the pending messages at hand: (what came of it, the message ids it carried,
        seconds to wait before the next post, the incident of a single message), or None if none
        could be rendered (each such one is dead, with the reason: one bad message never holds
        the others). `backlog`: more messages wait than were read for this delivery.

        After a digest the next post waits `digest_interval_seconds`, so that a storm still in
        progress gathers into few digests; but when the digest could not carry every message
        already waiting, the next one is full anyway and goes at the destination's own pace
        (Slack: 1 s): 500 events in three digests 1 s apart instead of 5 s apart."""
        ready: list[Ready] = []
        for p in pending:
            try:
                mentions = tuple(str(m) for m in json.loads(p.mentions_json))
                ready.append(Ready(p, Event.from_dict(json.loads(p.event_json)), mentions))
            except Exception as exc:  # noqa: BLE001 - a stored row this version cannot read
                self._unrenderable(channel.name, p, exc)
        # A recovery of an incident that has a parent message goes on its own (update + reply): in
        # a digest (top-level) the parent would stay unresolved for ever. There is one per
        # incident at most; the incident's other events may join a storm's digest (the parent is
        # brought up to date by its next update), so that a storm never goes one a second.
        digestible = [
            r for r in ready if not (r.message.recovery and self._in_thread(channel, r.message))
        ]
        # A kind without digests (a Healthchecks check: one signal per event) gets each message
        # on its own, in order, at the destination's pace.
        if channel.digests and len(digestible) > SINGLES_UP_TO:
            try:
                digest = self._digest(channel, digestible)
            except Exception as exc:  # noqa: BLE001 - send them one by one instead
                self._note_bug(channel.name, exc)
            else:
                payload, ids = digest
                sent = channel.deliver_digest(http, payload, timeout)
                full = backlog or len(ids) < len(digestible)
                interval = MIN_INTERVAL if full else self.config.outbox.digest_interval_seconds
                return sent, ids, interval, None
        return self._single(channel, http, ready, timeout)

    def _single(
        self, channel: Channel, http: delivery.Http, ready: list[Ready], timeout: float
    ) -> tuple[Sent, list[int], float, int | None] | None:
        for r in ready:
            p = r.message
            try:
                item = self._item(channel, r)
                thread = self.store.thread(p.incident, channel.name) if p.incident else None
                rendered = channel.render(item)  # a message that cannot be rendered dies alone
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._unrenderable(channel.name, p, exc)
                continue
            if rendered.truncated:
                kind = self.config.destinations[channel.name].kind
                self.notes.append(
                    f"message {p.id} {shortened(channel.name, kind, rendered.truncated)}"
                )
            sent = channel.deliver(http, item, thread, timeout)
            return sent, [p.id], MIN_INTERVAL, p.incident
        return None

    def _in_thread(self, channel: Channel, p: Pending) -> bool:
        """Does the message belong to an incident with a parent message at this destination?"""
        return (
            channel.threads
            and p.incident is not None
            and self.store.thread(p.incident, channel.name) is not None
        )

    def _item(self, channel: Channel, r: Ready) -> Item:
        from jp1notify.runs import loads

        p = r.message
        incident = self.store.incident(p.incident) if p.incident else None
        return Item(
            p.id,
            r.event,
            Classification(p.level, "", p.scope),
            p.route,
            r.mentions,
            self._language(channel.name),
            incident,
            p.recovery,
            p.context,
            loads(p.run),
        )

    def _language(self, name: str) -> str:
        return self.config.destinations[name].language or self.config.language

    def _digest(self, channel: Channel, ready: list[Ready]) -> tuple[dict[str, object], list[int]]:
        from jp1notify.runs import loads

        items = [
            DigestItem(r.event, r.message.level, r.mentions, loads(r.message.run)) for r in ready
        ]
        digest = channel.render_digest(items, self._language(channel.name))
        return digest.payload, [ready[i].message.id for i in digest.included]

    def _unrenderable(self, name: str, message: Pending, exc: Exception) -> None:
        """A message jp1notify cannot render is a bug: it dies with the reason, the rest go on."""
        self._note_bug(name, exc)
        reason = f"jp1notify cannot render it ({type(exc).__name__}: {exc}); please report it"
        self._bury([message.id], name, redact(reason[:300], self.secrets))

    def _note_bug(self, name: str, exc: Exception) -> None:
        """A bug met while rendering: reported (exit 70), but the destination goes on."""
        if self.environ.get(DEBUG_ENV):
            raise exc
        self.bugs.append(redact(f"{name}: {type(exc).__name__}: {exc}", self.secrets))

    def _channel(self, name: str) -> Channel | None:
        """The destination's kind with its secret, read once per drain (None: it cannot be
        read; its messages stay queued and the operator is told)."""
        if name not in self.channels:
            destination = self.config.destinations[name]
            try:
                secret = read_secret(destination, self.config, self.environ, self.secrets)
            except ConfigError as exc:
                self.config_errors[name] = exc.problems[0]
                self.store.note_problem(name, exc.problems[0])
                return None
            self.channels[name] = channel_for(destination, self.config, secret)
        return self.channels[name]

    def _bury(self, ids: list[int], name: str, reason: str) -> None:
        self.store.mark_dead(ids, name, reason, self.clock())
        self.dead += [Dead(i, name, reason) for i in ids]

    def _report(self, holder: bool, stopped: Stop) -> DrainReport:
        return DrainReport(
            holder,
            self.posts,
            self.sent,
            tuple(self.dead),
            tuple(self.retry_reasons),
            tuple(self.config_errors.values()),
            tuple(self.notes),
            stopped,
            tuple(self.orphans.items()),
            (*self.internal_errors.values(), *self.bugs),
        )
