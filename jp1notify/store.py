"""The store: a SQLite file in the data directory holding every event, its outbox messages, the
sender lease, per-destination pacing and per-jobnet state.

Many short-lived jp1notify processes open it at once (one per JP1 event), on Windows and Linux:
- WAL journal, so readers never block the writer; `synchronous=FULL`, so a recorded event
  survives a power cut as well as a killed process;
- every write is a short `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so the
  busy timeout applies instead of a deadlock on lock upgrade), with a generous busy timeout;
- the sender lease is one row taken with a conditional UPDATE; it expires, so a killed holder
  cannot block the queue for longer than its expiry.
WAL needs shared memory: keep the data directory on a local or SAN disk, not an SMB share.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from jp1notify.classify import Classification
    from jp1notify.event import Event
    from jp1notify.routing import Decision

SCHEMA_VERSION = 1
DB_NAME = "jp1notify.db"
BUSY_TIMEOUT = 30.0  # seconds a writer waits for the lock; 500 processes at once stay far below

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    event_id TEXT,
    unit TEXT,
    jobnet TEXT,
    exec_id TEXT,
    level TEXT NOT NULL,
    scope TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- routed, ignored, unrouted
    rule TEXT,                      -- the ignore rule, if ignored
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    event_row INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    route TEXT NOT NULL,
    mentions TEXT NOT NULL,         -- JSON list of Slack mention markup
    state TEXT NOT NULL,            -- pending, sent, dead
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    post_id INTEGER                 -- the post (single or digest) that carried it
);
CREATE INDEX IF NOT EXISTS messages_state ON messages(state, destination, id);
CREATE INDEX IF NOT EXISTS messages_event ON messages(event_row);
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    sent_at REAL NOT NULL,
    events INTEGER NOT NULL,
    slack_ts TEXT,                  -- for threading/editing once a bot token is used
    slack_channel TEXT
);
CREATE TABLE IF NOT EXISTS destinations (
    name TEXT PRIMARY KEY,
    next_send_at REAL NOT NULL DEFAULT 0,   -- Slack's pace and Retry-After: always honoured
    backoff_until REAL NOT NULL DEFAULT 0,  -- after 5xx/network errors: `flush` tries at once
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS jobnets (
    unit TEXT PRIMARY KEY,          -- the jobnet's full path
    service TEXT,
    last_event_id TEXT,
    last_level TEXT,
    last_exec_id TEXT,
    last_event_at REAL,
    last_post_id INTEGER            -- Slack message of its last notification (threading later)
);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    holder TEXT,
    expires_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
INSERT OR IGNORE INTO lease(name, holder, expires_at) VALUES ('sender', NULL, 0);
"""


class StoreError(Exception):
    """The store cannot be opened or written; the message says what to check."""

    def __init__(self, message: str, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


def is_corrupt(exc: sqlite3.Error) -> bool:
    """True for "file is not a database" / "malformed", not for locked or read-only files."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def quarantine(data_dir: Path) -> Path:
    """Move a corrupt store (and its WAL files) aside so that a fresh one can be created."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = data_dir / f"{DB_NAME}.corrupt-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        source = data_dir / (DB_NAME + suffix)
        if source.exists():
            source.replace(target.with_name(target.name + suffix))
    return target


class NewMessage(NamedTuple):
    destination: str
    route: str
    mentions: tuple[str, ...]


class EventRecord(NamedTuple):
    dedup_key: str
    event_id: str | None
    unit: str | None
    jobnet: str | None
    service: str | None
    exec_id: str | None
    level: str
    scope: str
    outcome: str
    rule: str | None
    event_json: str


class Recorded(NamedTuple):
    event_row: int
    duplicate: bool
    message_ids: tuple[int, ...]


class Pending(NamedTuple):
    """An outbox message with what rendering needs."""

    id: int
    destination: str
    route: str
    mentions: tuple[str, ...]
    attempts: int
    event_json: str
    level: str
    scope: str


class Store:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating if needed) the store in `data_dir`. Raises StoreError."""
        path = data_dir / DB_NAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        store = cls(db, path)
        try:
            store._prepare()
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"cannot use the store {path}: {exc}", is_corrupt(exc)) from None
        return store

    def _prepare(self) -> None:
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=FULL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        if self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.DatabaseError("the data directory does not support WAL mode")
        with self.write():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction holding the write lock from its start."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- intake ------------------------------------------------------------------------------

    def record(self, event: EventRecord, messages: Sequence[NewMessage], now: float) -> Recorded:
        """Record an event and its outbox messages, once: a known dedup key records nothing."""
        with self.write() as db:
            row = db.execute(
                "INSERT INTO events(dedup_key, received_at, event_id, unit, jobnet, exec_id, level,"
                " scope, outcome, rule, event_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(dedup_key) DO NOTHING RETURNING id",
                (
                    event.dedup_key,
                    now,
                    event.event_id,
                    event.unit,
                    event.jobnet,
                    event.exec_id,
                    event.level,
                    event.scope,
                    event.outcome,
                    event.rule,
                    event.event_json,
                ),
            ).fetchone()
            if row is None:
                existing = db.execute(
                    "SELECT id FROM events WHERE dedup_key = ?", (event.dedup_key,)
                ).fetchone()
                return Recorded(existing[0], True, ())
            event_row = row[0]
            ids = tuple(
                db.execute(
                    "INSERT INTO messages(event_row, destination, route, mentions, state, created_at)"
                    " VALUES (?,?,?,?,'pending',?) RETURNING id",
                    (event_row, m.destination, m.route, json.dumps(m.mentions), now),
                ).fetchone()[0]
                for m in messages
            )
            if event.jobnet:
                db.execute(
                    "INSERT INTO jobnets(unit, service, last_event_id, last_level, last_exec_id,"
                    " last_event_at) VALUES (?,?,?,?,?,?) ON CONFLICT(unit) DO UPDATE SET"
                    " service=excluded.service, last_event_id=excluded.last_event_id,"
                    " last_level=excluded.last_level, last_exec_id=excluded.last_exec_id,"
                    " last_event_at=excluded.last_event_at",
                    (event.jobnet, event.service, event.event_id, event.level, event.exec_id, now),
                )
        return Recorded(event_row, False, ids)

    def has_pending(self) -> bool:
        return (
            self.db.execute("SELECT 1 FROM messages WHERE state = 'pending' LIMIT 1").fetchone()
            is not None
        )

    def message_states(self, ids: Sequence[int]) -> list[tuple[str, str, str | None]]:
        """(destination, state, last error) of the given messages; a message not tried yet
        carries its destination's last error (why the destination is waiting)."""
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT m.destination, m.state, COALESCE(m.last_error, d.last_error) FROM messages m"
            f" LEFT JOIN destinations d ON d.name = m.destination WHERE m.id IN ({marks})"
            " ORDER BY m.id",
            tuple(ids),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    # -- the sender lease --------------------------------------------------------------------

    def take_lease(self, holder: str, now: float, ttl: float) -> bool:
        """Become the only sender, if nobody is or the holder's lease has expired."""
        with self.write() as db:
            taken = db.execute(
                "UPDATE lease SET holder = ?, expires_at = ? WHERE name = 'sender'"
                " AND (holder IS NULL OR holder = ? OR expires_at < ?)",
                (holder, now + ttl, holder, now),
            ).rowcount
        return taken == 1

    def renew_lease(self, holder: str, until: float) -> bool:
        with self.write() as db:
            return (
                db.execute(
                    "UPDATE lease SET expires_at = ? WHERE name = 'sender' AND holder = ?",
                    (until, holder),
                ).rowcount
                == 1
            )

    def release_lease(self, holder: str) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE lease SET holder = NULL, expires_at = 0 WHERE name = 'sender' AND holder = ?",
                (holder,),
            )

    def release_if_idle(self, holder: str) -> bool:
        """Release the lease only if no message is pending, in one transaction.

        A process that records a message after this sees the lease free and sends it itself;
        one that recorded before is seen here. So no message is left without a sender.
        """
        with self.write() as db:
            if db.execute("SELECT 1 FROM messages WHERE state = 'pending' LIMIT 1").fetchone():
                return False
            db.execute(
                "UPDATE lease SET holder = NULL, expires_at = 0 WHERE name = 'sender' AND holder = ?",
                (holder,),
            )
        return True

    def lease_holder(self, now: float) -> str | None:
        row = self.db.execute(
            "SELECT holder FROM lease WHERE name = 'sender' AND expires_at >= ?", (now,)
        ).fetchone()
        return row[0] if row else None

    # -- the outbox --------------------------------------------------------------------------

    def due_destinations(self, with_backoff: bool = True) -> list[tuple[str, float]]:
        """Destinations with pending messages and when each may be sent to next; without
        `with_backoff`, the error backoff is ignored (an operator's flush tries at once)."""
        due = "MAX(d.next_send_at, d.backoff_until)" if with_backoff else "d.next_send_at"
        rows = self.db.execute(
            f"SELECT m.destination, COALESCE({due}, 0) FROM messages m"
            " LEFT JOIN destinations d ON d.name = m.destination"
            " WHERE m.state = 'pending' GROUP BY m.destination ORDER BY MIN(m.id)"
        )
        return [(name, float(at)) for name, at in rows]

    def pending_for(self, destination: str, limit: int) -> list[Pending]:
        rows = self.db.execute(
            "SELECT m.id, m.destination, m.route, m.mentions, m.attempts, e.event_json, e.level,"
            " e.scope FROM messages m JOIN events e ON e.id = m.event_row"
            " WHERE m.state = 'pending' AND m.destination = ? ORDER BY m.id LIMIT ?",
            (destination, limit),
        )
        return [
            Pending(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6], r[7]) for r in rows
        ]

    def mark_sent(
        self, ids: Sequence[int], destination: str, now: float, next_send_at: float
    ) -> None:
        with self.write() as db:
            post = db.execute(
                "INSERT INTO posts(destination, sent_at, events) VALUES (?,?,?) RETURNING id",
                (destination, now, len(ids)),
            ).fetchone()[0]
            db.executemany(
                "UPDATE messages SET state = 'sent', sent_at = ?, post_id = ?,"
                " attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                [(now, post, i) for i in ids],
            )
            db.execute(
                "UPDATE jobnets SET last_post_id = ? WHERE unit IN (SELECT e.jobnet FROM messages m"
                " JOIN events e ON e.id = m.event_row WHERE m.post_id = ?)",
                (post, post),
            )
            self._pace(db, destination, next_send_at, 0, 0, None)

    def mark_failed(
        self,
        ids: Sequence[int],
        destination: str,
        error: str,
        *,
        next_send_at: float,
        backoff_until: float,
        failures: int,
    ) -> None:
        """A retryable failure: the messages stay pending; the destination waits."""
        with self.write() as db:
            db.executemany(
                "UPDATE messages SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(error, i) for i in ids],
            )
            self._pace(db, destination, next_send_at, backoff_until, failures, error)

    def mark_dead(self, ids: Sequence[int], destination: str, error: str, now: float) -> None:
        """A permanent failure: the messages will never be retried; the error is kept."""
        with self.write() as db:
            db.executemany(
                "UPDATE messages SET state = 'dead', attempts = attempts + 1, last_error = ?"
                " WHERE id = ?",
                [(error, i) for i in ids],
            )
            self._pace(db, destination, now, 0, 0, error)

    def destination_failures(self, destination: str) -> int:
        row = self.db.execute(
            "SELECT failures FROM destinations WHERE name = ?", (destination,)
        ).fetchone()
        return row[0] if row else 0

    @staticmethod
    def _pace(
        db: sqlite3.Connection,
        name: str,
        next_send_at: float,
        backoff_until: float,
        failures: int,
        error: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO destinations(name, next_send_at, backoff_until, failures, last_error)"
            " VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
            " next_send_at = excluded.next_send_at, backoff_until = excluded.backoff_until,"
            " failures = excluded.failures, last_error = excluded.last_error",
            (name, next_send_at, backoff_until, failures, error),
        )

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")
        return {state: count for state, count in rows}

    # -- history and retention ---------------------------------------------------------------

    def history(
        self,
        since: float | None,
        unit_filter: Callable[[str | None], bool] | None,
        state: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Recent events, newest first, each with its messages."""
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if since is not None:
            where.append("e.received_at >= ?")
            args.append(since)
        if unit_filter is not None:
            self.db.create_function("unit_matches", 1, unit_filter, deterministic=True)
            where.append("(unit_matches(e.unit) OR unit_matches(e.jobnet))")
        if state is not None:
            where.append(
                "EXISTS (SELECT 1 FROM messages s WHERE s.event_row = e.id AND s.state = ?)"
            )
            args.append(state)
        rows = self.db.execute(
            "SELECT e.id, e.received_at, e.event_id, e.unit, e.exec_id, e.level, e.scope,"
            f" e.outcome, e.rule FROM events e WHERE {' AND '.join(where)}"
            " ORDER BY e.received_at DESC, e.id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        events = []
        for row in rows:
            messages = self.db.execute(
                "SELECT destination, route, state, attempts, last_error, sent_at FROM messages"
                " WHERE event_row = ? ORDER BY id",
                (row[0],),
            )
            events.append(
                {
                    "received_at": row[1],
                    "event_id": row[2],
                    "unit": row[3],
                    "exec_id": row[4],
                    "level": row[5],
                    "scope": row[6],
                    "outcome": row[7],
                    "rule": row[8],
                    "messages": [
                        dict(
                            zip(
                                (
                                    "destination",
                                    "route",
                                    "state",
                                    "attempts",
                                    "last_error",
                                    "sent_at",
                                ),
                                m,
                                strict=True,
                            )
                        )
                        for m in messages
                    ],
                }
            )
        return events

    def prune(self, before: float) -> int:
        """Delete events older than `before` whose messages are all settled (sent or dead).

        Pending messages are never pruned: an outage of any length loses nothing.
        """
        with self.write() as db:
            deleted = db.execute(
                "DELETE FROM events WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM messages m"
                " WHERE m.event_row = events.id AND m.state = 'pending')",
                (before,),
            ).rowcount
            db.execute("DELETE FROM posts WHERE sent_at < ?", (before,))
        return deleted

    def prune_daily(self, retention_days: int, now: float) -> int:
        """Prune at most once per calendar day (the first process of the day pays for it)."""
        today = time.strftime("%Y-%m-%d", time.localtime(now))
        row = self.db.execute("SELECT value FROM meta WHERE key = 'pruned_on'").fetchone()
        if row and row[0] == today:  # the common case: a read, no write transaction
            return 0
        with self.write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'pruned_on'").fetchone()
            if row and row[0] == today:
                return 0
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('pruned_on', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (today,),
            )
        return self.prune(now - retention_days * 86400)


def record_event(
    store: Store, event: Event, classification: Classification, decision: Decision, now: float
) -> Recorded:
    """Record a routed (or ignored, or unrouted) event with one message per delivery."""
    outcome = "ignored" if decision.ignored_by else "unrouted" if decision.unrouted else "routed"
    record = EventRecord(
        # no identity (Event.dedup_key is None): a key of its own, never a duplicate
        dedup_key=event.dedup_key or f"unique|{os.urandom(16).hex()}",
        event_id=event.event_id or event.raw_id,
        unit=event.unit.path,
        jobnet=event.jobnet,
        service=event.unit.service,
        exec_id=event.unit.exec_id,
        level=classification.level,
        scope=classification.scope,
        outcome=outcome,
        rule=decision.ignored_by,
        event_json=json.dumps(event.to_dict(), ensure_ascii=False),
    )
    messages = [
        NewMessage(d.destination, d.route.name, d.route.mentions) for d in decision.deliveries
    ]
    return store.record(record, messages, now)
