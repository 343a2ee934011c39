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

Times stored here are wall-clock instants (several processes compare them); the outbox never trusts
one that lies further ahead than its documented maximum (a clock that stepped back, or a process
that ran with a clock a day ahead), see outbox.py.

Every `sqlite3` error is translated here, at the boundary, into a `StoreError` whose `problem` says
what happened (corrupt, locked, newer, full, read-only, unusable): callers never see sqlite3.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from jp1notify.bounds import STORE_WAIT
from jp1notify.errors import StoreError
from jp1notify.errors import StoreProblem as Problem
from jp1notify.text import cut

if TYPE_CHECKING:
    from jp1notify.classify import Classification
    from jp1notify.destinations import Thread
    from jp1notify.event import Event
    from jp1notify.incidents import Facts, Incident
    from jp1notify.routing import Decision
    from jp1notify.runs import Run

SCHEMA_VERSION = 4
DB_NAME = "jp1notify.db"
BUSY_TIMEOUT = (
    STORE_WAIT  # seconds a writer waits for the lock; 500 processes at once stay far below
)

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
    event_json TEXT NOT NULL,
    context TEXT,                   -- the context command's result, guidance.ContextResult (v3)
    incident INTEGER,               -- the incident it opened, joined or resolved (v3)
    service TEXT,                   -- the scheduler service the event named (v4)
    at REAL,                        -- the event's own time (EVDATE/EVTIME), else received_at (v4)
    duration REAL,                  -- a jobnet's end: seconds since its run's start event (v4)
    run TEXT                        -- a jobnet's end: runs.Run as JSON, against its usual (v4)
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE INDEX IF NOT EXISTS events_jobnet ON events(jobnet, event_id);
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
    post_id INTEGER,                -- the post (single or digest) that carried it
    not_before REAL NOT NULL DEFAULT 0, -- this message alone was refused: wait (v2)
    incident INTEGER,               -- the incident it tells about (v3)
    recovery INTEGER NOT NULL DEFAULT 0, -- 1: it says that the incident is resolved (v3)
    dead_at REAL                    -- when it died, for the heartbeat's /fail (v4)
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
    last_error TEXT,
    batch_limit INTEGER,                    -- a refused digest is split: most messages per post (v2)
    patient INTEGER NOT NULL DEFAULT 0      -- requests in a row that got no answer (v2)
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
CREATE TABLE IF NOT EXISTS incidents (  -- incidents.py says what joins and resolves one (v3)
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,          -- '' when the events named none
    jobnet TEXT NOT NULL,           -- the innermost jobnet containing all seen
    exec_id TEXT,                   -- of the run that opened it
    state TEXT NOT NULL,            -- open, resolved
    level TEXT NOT NULL,            -- the worst level seen
    opened_at REAL NOT NULL,        -- the first problem's own time (EVDATE/EVTIME)
    resolved_at REAL,
    events INTEGER NOT NULL DEFAULT 1,
    first_event INTEGER,            -- events.id (gone once pruned)
    last_event INTEGER,
    resolved_event INTEGER,
    updated_at REAL NOT NULL        -- when it last changed (received time), for pruning
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents(state, service);
CREATE TABLE IF NOT EXISTS threads (    -- an incident's parent message at a bot destination (v3)
    incident INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (incident, destination)
);
CREATE INDEX IF NOT EXISTS events_incident ON events(incident);
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
# Each step brings a store of the version before it to the next one: (table, column, its
# definition). A column already there is left alone, so a step can run again (a store that an
# older jp1notify re-labelled as its own version, then a newer one upgraded again).
_MIGRATIONS = {
    1: (
        ("messages", "not_before", "REAL NOT NULL DEFAULT 0"),
        ("destinations", "batch_limit", "INTEGER"),
        ("destinations", "patient", "INTEGER NOT NULL DEFAULT 0"),
    ),
    2: (
        ("events", "incident", "INTEGER"),
        ("messages", "incident", "INTEGER"),
        ("messages", "recovery", "INTEGER NOT NULL DEFAULT 0"),
        ("events", "context", "TEXT"),
    ),
    3: (
        ("events", "service", "TEXT"),
        ("events", "at", "REAL"),
        ("events", "duration", "REAL"),
        ("events", "run", "TEXT"),
        ("messages", "dead_at", "REAL"),
    ),
}
# After the columns, the whole _SCHEMA runs again: every statement in it is idempotent (IF NOT
# EXISTS, OR IGNORE), so new tables and indexes appear in an upgraded store too.


class State(StrEnum):
    """A message's state (`messages.state`): queued, delivered, or never to be retried. The SQL
    below writes these values as literals; test_enums checks that they agree."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class EventOutcome(StrEnum):
    """What routing made of a recorded event (`events.outcome`)."""

    ROUTED = "routed"  # one message per delivery (none if every destination was a duplicate)
    IGNORED = "ignored"  # dropped by the loop guard or an [[ignore]] rule (`rule` says which)
    UNROUTED = "unrouted"  # matched no route: nobody was notified


# SQLite primary result codes (https://www.sqlite.org/rescode.html) to what they mean here.
_CODES = {
    5: Problem.LOCKED,  # SQLITE_BUSY
    6: Problem.LOCKED,  # SQLITE_LOCKED
    8: Problem.READONLY,
    11: Problem.CORRUPT,
    13: Problem.FULL,
    26: Problem.CORRUPT,  # SQLITE_NOTADB
}


def translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """A sqlite3 error as a StoreError saying what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    problem = _CODES.get(code & 0xFF) if isinstance(code, int) else None
    if problem is None:
        corrupt = isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.OperationalError | sqlite3.IntegrityError | sqlite3.ProgrammingError
        )
        problem = Problem.CORRUPT if corrupt else Problem.UNUSABLE
    detail = cut(str(exc), 200)
    return StoreError(
        _MESSAGES[problem].format(path=shown_path(path), detail=detail, busy=BUSY_TIMEOUT), problem
    )


def shown_path(path: Path) -> str:
    """A path as messages show it: a very long one is cut, never echoed whole."""
    return cut(str(path), 160)


_MESSAGES = {
    Problem.CORRUPT: "the store {path} is damaged ({detail})",
    Problem.LOCKED: (
        "the store {path} is locked by another process ({detail}, after waiting {busy:g}s); "
        "close any tool that holds it open (sqlite3, a backup or virus scan) and retry"
    ),
    Problem.FULL: "the disk holding the store {path} is full; free some space",
    Problem.READONLY: "the store {path} is read-only ({detail}); make outbox.data_dir writable",
    Problem.UNUSABLE: "cannot use the store {path}: {detail}",
}

P = ParamSpec("P")
T = TypeVar("T")


def _guarded(method: Callable[P, T]) -> Callable[P, T]:
    """Translate sqlite3 errors raised by a Store method into StoreError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise translate(exc, args[0].path) from exc  # type: ignore[attr-defined]

    return wrapper


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None if there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def quarantine(data_dir: Path) -> Path:
    """Move a corrupt store (and its WAL files) aside so that a fresh one can be created."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = data_dir / f"{DB_NAME}.corrupt-{stamp}"
    number = 1
    while target.exists():
        number += 1
        target = data_dir / f"{DB_NAME}.corrupt-{stamp}-{number}"
    for suffix in ("", "-wal", "-shm"):
        source = data_dir / (DB_NAME + suffix)
        if source.exists():
            source.replace(target.with_name(target.name + suffix))
    return target


class NewMessage(NamedTuple):
    destination: str
    route: str
    mentions: tuple[str, ...]
    recovery: bool = False


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
    at: float | None = None  # the event's own time (EVDATE/EVTIME); None: when received
    run: str | None = None  # a jobnet's end: runs.Run.dumps(), assessed before routing


class Recorded(NamedTuple):
    event_row: int
    duplicate: bool
    message_ids: tuple[int, ...]
    key: str = ""  # the event's key in the store (event_key), to find it again
    incident: int | None = None  # the incident it opened or joined
    resolved: tuple[int, ...] = ()  # the incidents it resolved
    duration: float | None = None  # a jobnet's end: how long its run took (runs.py)


class Placement(NamedTuple):
    incident: int | None  # opened or joined
    resolved: tuple[int, ...]


_INCIDENT_COLUMNS = (
    "id, service, jobnet, exec_id, state, level, opened_at, resolved_at, events, first_event,"
    " last_event"
)


class Pending(NamedTuple):
    """An outbox message with what rendering needs."""

    id: int
    destination: str
    route: str
    mentions_json: str  # read by the sender, message by message (a garbled one dies alone)
    attempts: int
    event_json: str
    level: str
    scope: str
    incident: int | None = None
    recovery: bool = False
    context: str | None = None  # guidance.ContextResult as stored, for rendering
    run: str | None = None  # runs.Run as stored (a jobnet's end), for rendering


class Due(NamedTuple):
    """A destination with pending messages, and the stored instants before which it must wait."""

    name: str
    next_send_at: float
    backoff_until: float
    first_ready: float  # the earliest not_before of its pending messages
    pending: int


class DestinationState(NamedTuple):
    failures: int
    batch_limit: int | None
    patient: int  # requests in a row that got no answer: the next one waits longer


class MessageState(NamedTuple):
    id: int
    destination: str
    state: str  # a State value
    error: str | None
    sent_at: float | None


class Salvaged(NamedTuple):
    """A pending message read back from a damaged store, with its event."""

    record: EventRecord
    received_at: float
    message: NewMessage


class Store:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path
        self.identity = file_identity(path)  # which file this connection has open

    def moved(self) -> bool:
        """True if the file at our path is no longer the one this connection has open: another
        process moved a damaged store aside and started a new one. What we write now goes to
        the moved file, where no sender looks: open the store again."""
        return file_identity(self.path) != self.identity

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating if needed) the store in `data_dir`. Raises StoreError."""
        path = data_dir / DB_NAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except (OSError, ValueError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else cut(str(exc), 200)
            )
            raise StoreError(f"cannot open the store {shown_path(path)}: {reason}") from None
        except sqlite3.Error as exc:
            raise translate(exc, path) from None
        store = cls(db, path)
        try:
            store._prepare()
        except (sqlite3.Error, StoreError) as exc:
            db.close()
            if isinstance(exc, StoreError):
                raise
            raise translate(exc, path) from None
        return store

    def _prepare(self) -> None:
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=FULL")
        if self._version() == SCHEMA_VERSION:
            return
        if self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise StoreError(
                f"cannot use the store {shown_path(self.path)}: its folder does not support WAL "
                "mode; put outbox.data_dir on a local disk"
            )
        with self.write():
            version = self._version()  # again, under the write lock: another process may migrate
            if version == 0:  # a new file: the current schema at once
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for table, column, definition in _MIGRATIONS[step]:
                        self._add_column(table, column, definition)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _add_column(self, table: str, column: str, definition: str) -> None:
        columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def _version(self) -> int:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            from jp1notify import __version__

            raise StoreError(
                f"the store {shown_path(self.path)} was written by a newer jp1notify (store schema {version}; "
                f"jp1notify {__version__} knows schema {SCHEMA_VERSION}). Run the newer jp1notify, "
                "or move the file aside to start a new store (its messages are then not sent)",
                Problem.NEWER,
            )
        return version

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction holding the write lock from its start."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise

    @_guarded
    def check(self) -> None:
        """Raise StoreError(CORRUPT) if SQLite finds damage anywhere in the file (a full read of
        the file: for `flush` and once a day, not for every event)."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreError(
                f"the store {shown_path(self.path)} is damaged ({cut('; '.join(problems), 200)})",
                Problem.CORRUPT,
            )

    # -- intake ------------------------------------------------------------------------------

    @_guarded
    def record(
        self,
        event: EventRecord,
        messages: Sequence[NewMessage],
        now: float,
        incident: Facts | None = None,
        quiet_routes: frozenset[tuple[str, str]] = frozenset(),
        hold_until: float = 0.0,
    ) -> Recorded:
        """Record an event and its outbox messages, once: a known dedup key records nothing.
        With `incident` facts, the event opens, joins or resolves an incident in the same
        transaction (incidents.py); a resolving event adds a recovery message for each
        destination the incident was posted to (unless every route that posted there is quiet
        there: `quiet_routes` holds the (route, destination) pairs of `recovery = false`), in
        place of its routed message there.
        `hold_until`: the messages wait for the context command until then (`set_context`
        ends the wait; if this process dies, they go out after it anyway)."""
        with self.write() as db:
            row = db.execute(
                "INSERT INTO events(dedup_key, received_at, event_id, unit, jobnet, exec_id, level,"
                " scope, outcome, rule, event_json, service, at, duration, run)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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
                    event.service,
                    event.at if event.at is not None else now,
                    duration := _duration(db, event, now),
                    event.run,
                ),
            ).fetchone()
            if row is None:
                existing = db.execute(
                    "SELECT id FROM events WHERE dedup_key = ?", (event.dedup_key,)
                ).fetchone()
                return Recorded(existing[0], True, (), event.dedup_key)
            event_row = row[0]
            placed = _place(db, event_row, incident, now) if incident else Placement(None, ())
            outgoing = [(m, placed.incident) for m in messages]
            if placed.resolved:
                outgoing = _with_recoveries(db, placed.resolved, outgoing, quiet_routes)
            ids = tuple(
                db.execute(
                    "INSERT INTO messages(event_row, destination, route, mentions, state,"
                    " created_at, incident, recovery, not_before) VALUES (?,?,?,?,'pending',?,?,?,?)"
                    " RETURNING id",
                    (
                        event_row,
                        m.destination,
                        m.route,
                        json.dumps(m.mentions),
                        now,
                        incident_id,
                        int(m.recovery),
                        hold_until,
                    ),
                ).fetchone()[0]
                for m, incident_id in outgoing
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
        return Recorded(
            event_row, False, ids, event.dedup_key, placed.incident, placed.resolved, duration
        )

    # -- incidents ---------------------------------------------------------------------------

    @_guarded
    def incident(self, incident_id: int) -> Incident | None:
        """An incident as it stands, with its first and latest problem events."""
        row = self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        return self._incident(row) if row else None

    def _incident(self, row: Sequence[Any]) -> Incident:
        from jp1notify.incidents import Incident, State

        first, latest = (self._event_at(row[i]) for i in (9, 10))
        latest_level = None
        if row[10] is not None:
            found = self.db.execute("SELECT level FROM events WHERE id = ?", (row[10],)).fetchone()
            latest_level = found[0] if found else None
        return Incident(
            row[0], row[1], row[2], row[3], State(row[4]), row[5], row[6], row[7], row[8],
            first, latest, latest_level,
        )  # fmt: skip

    def _event_at(self, event_row: int | None) -> Event | None:
        if event_row is None:
            return None
        found = self.db.execute(
            "SELECT event_json FROM events WHERE id = ?", (event_row,)
        ).fetchone()
        if not found:
            return None
        from jp1notify.event import Event

        try:
            return Event.from_dict(json.loads(found[0]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # an unreadable stored row: the incident is shown without it

    @_guarded
    def thread(self, incident_id: int, destination: str) -> Thread | None:
        from jp1notify.destinations import Thread

        row = self.db.execute(
            "SELECT channel, ts FROM threads WHERE incident = ? AND destination = ?",
            (incident_id, destination),
        ).fetchone()
        return Thread(row[0], row[1]) if row else None

    @_guarded
    def incidents(self, since: float, limit: int = 200) -> list[tuple[Incident, int]]:
        """Open incidents and those resolved since `since`, newest first, each with the number
        of its messages that went out."""
        rows = self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE state = 'open' OR resolved_at >= ?"
            " ORDER BY state = 'open' DESC, opened_at DESC, id DESC LIMIT ?",
            (since, limit),
        ).fetchall()
        found = []
        for row in rows:
            sent = self.db.execute(
                "SELECT COUNT(*) FROM messages WHERE incident = ? AND state = 'sent'", (row[0],)
            ).fetchone()[0]
            found.append((self._incident(row), sent))
        return found

    @_guarded
    def set_context(self, dedup_key: str, context: str | None) -> None:
        """Keep the context command's result with the event and let its messages go: the wait
        set by `record(hold_until=...)` ends for those not tried yet."""
        with self.write() as db:
            row = db.execute(
                "UPDATE events SET context = ? WHERE dedup_key = ? RETURNING id",
                (context, dedup_key),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE messages SET not_before = 0 WHERE event_row = ? AND state = 'pending'"
                    " AND attempts = 0",
                    (row[0],),
                )

    @_guarded
    def has_pending(self) -> bool:
        return (
            self.db.execute("SELECT 1 FROM messages WHERE state = 'pending' LIMIT 1").fetchone()
            is not None
        )

    @_guarded
    def event_messages(self, dedup_key: str) -> tuple[float | None, list[MessageState]]:
        """When the event with this key was recorded, and the state of each of its messages; a
        message not tried yet carries its destination's last error (why it is waiting)."""
        row = self.db.execute(
            "SELECT id, received_at FROM events WHERE dedup_key = ?", (dedup_key,)
        ).fetchone()
        if row is None:
            return None, []
        rows = self.db.execute(
            "SELECT m.id, m.destination, m.state, COALESCE(m.last_error, d.last_error), m.sent_at"
            " FROM messages m LEFT JOIN destinations d ON d.name = m.destination"
            " WHERE m.event_row = ? ORDER BY m.id",
            (row[0],),
        )
        return row[1], [MessageState(*r) for r in rows]

    # -- the sender lease --------------------------------------------------------------------

    @_guarded
    def take_lease(self, holder: str, now: float, ttl: float, max_ahead: float = 3600.0) -> bool:
        """Become the only sender, if nobody is, or the holder's lease has expired, or its expiry
        lies further ahead than any holder can set (`max_ahead`: a clock that stepped back).

        A lease seen held by a read is not fought for with a write: in a storm most processes
        find it held, and each write they spared shortens every other process's wait for the
        lock. Safe: this process recorded its event before reading, and a holder releases only
        in the transaction that sees the queue empty, so it either saw that event or released
        before this read (which then sees the lease free)."""
        if self.lease_held(now, max_ahead) not in (None, holder):
            return False
        with self.write() as db:
            taken = db.execute(
                "UPDATE lease SET holder = ?, expires_at = ? WHERE name = 'sender'"
                " AND (holder IS NULL OR holder = ? OR expires_at < ? OR expires_at > ?)",
                (holder, now + ttl, holder, now, now + max_ahead),
            ).rowcount
        return taken == 1

    @_guarded
    def lease_held(self, now: float, max_ahead: float = 3600.0) -> str | None:
        """Who holds a valid lease (unexpired, its expiry no further ahead than `max_ahead`), by
        a read without the write lock; None if nobody does, or the holder's claim is void."""
        row = self.db.execute(
            "SELECT holder, expires_at FROM lease WHERE name = 'sender'"
        ).fetchone()
        if row and row[0] is not None and now <= row[1] <= now + max_ahead:
            return str(row[0])
        return None

    @_guarded
    def renew_lease(self, holder: str, until: float) -> bool:
        """Extend the lease; False if this holder lost it (another process took it over)."""
        with self.write() as db:
            return (
                db.execute(
                    "UPDATE lease SET expires_at = ? WHERE name = 'sender' AND holder = ?",
                    (until, holder),
                ).rowcount
                == 1
            )

    @_guarded
    def release_lease(self, holder: str) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE lease SET holder = NULL, expires_at = 0 WHERE name = 'sender' AND holder = ?",
                (holder,),
            )

    @_guarded
    def release_if_idle(self, holder: str, unsendable: Sequence[str] = ()) -> bool:
        """Release the lease only if no sendable message is pending, in one transaction.

        A process that records a message after this sees the lease free and sends it itself;
        one that recorded before is seen here. So no message is left without a sender. Messages
        for `unsendable` destinations (unreadable webhook, not in the config) do not count: no
        sender could send them until the config is fixed.
        """
        marks = ",".join("?" * len(unsendable))
        with self.write() as db:
            if db.execute(
                "SELECT 1 FROM messages WHERE state = 'pending'"
                f" AND destination NOT IN ({marks}) LIMIT 1",
                tuple(unsendable),
            ).fetchone():
                return False
            db.execute(
                "UPDATE lease SET holder = NULL, expires_at = 0 WHERE name = 'sender' AND holder = ?",
                (holder,),
            )
        return True

    @_guarded
    def lease_holder(self, now: float) -> str | None:
        row = self.db.execute(
            "SELECT holder FROM lease WHERE name = 'sender' AND expires_at >= ?", (now,)
        ).fetchone()
        return row[0] if row else None

    # -- the outbox --------------------------------------------------------------------------

    @_guarded
    def due(self, now: float, max_ahead: float) -> list[Due]:
        """Destinations with pending messages, oldest first. A message's not_before further ahead
        than `max_ahead` counts as now (a clock step, see the module docstring)."""
        rows = self.db.execute(
            "SELECT m.destination, COALESCE(d.next_send_at, 0), COALESCE(d.backoff_until, 0),"
            " MIN(CASE WHEN m.not_before > ? THEN 0 ELSE m.not_before END), COUNT(*)"
            " FROM messages m LEFT JOIN destinations d ON d.name = m.destination"
            " WHERE m.state = 'pending' GROUP BY m.destination ORDER BY MIN(m.id)",
            (now + max_ahead,),
        )
        return [Due(*row) for row in rows]

    @_guarded
    def destination_state(self, name: str) -> DestinationState:
        row = self.db.execute(
            "SELECT failures, batch_limit, patient FROM destinations WHERE name = ?", (name,)
        ).fetchone()
        return DestinationState(row[0], row[1], row[2]) if row else DestinationState(0, None, 0)

    @_guarded
    def pending_for(
        self, destination: str, limit: int, now: float | None = None, max_ahead: float = 0.0
    ) -> list[Pending]:
        """Up to `limit` pending messages of a destination, oldest first; with `now`, only those
        not waiting out their own backoff (one that lies beyond `max_ahead` is ready)."""
        ready = "1=1" if now is None else "(m.not_before <= ? OR m.not_before > ?)"
        args: tuple[Any, ...] = () if now is None else (now, now + max_ahead)
        rows = self.db.execute(
            "SELECT m.id, m.destination, m.route, m.mentions, m.attempts, e.event_json, e.level,"
            " e.scope, m.incident, m.recovery, e.context, e.run FROM messages m"
            " JOIN events e ON e.id = m.event_row"
            f" WHERE m.state = 'pending' AND m.destination = ? AND {ready} ORDER BY m.id LIMIT ?",
            (destination, *args, limit),
        )
        return [
            Pending(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]), r[10], r[11])
            for r in rows
        ]

    @_guarded
    def mark_sent(
        self,
        ids: Sequence[int],
        destination: str,
        now: float,
        next_send_at: float,
        thread: tuple[int, str, str] | None = None,
    ) -> None:
        """Messages delivered in one post; `thread` (incident, channel, ts): the incident's parent
        message at this destination from now on, stored in the same transaction."""
        with self.write() as db:
            if thread is not None:
                db.execute(
                    "INSERT INTO threads(incident, destination, channel, ts) VALUES (?,?,?,?)"
                    " ON CONFLICT(incident, destination) DO UPDATE SET channel = excluded.channel,"
                    " ts = excluded.ts",
                    (thread[0], destination, thread[1], thread[2]),
                )
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

    @_guarded
    def mark_failed(
        self,
        ids: Sequence[int],
        destination: str,
        error: str,
        *,
        next_send_at: float,
        backoff_until: float,
        failures: int,
        patient: int = 0,
    ) -> None:
        """A retryable failure: the messages stay pending; the destination waits."""
        with self.write() as db:
            self._attempted(db, ids, error)
            self._pace(
                db, destination, next_send_at, backoff_until, failures, error, patient=patient
            )

    @_guarded
    def split(
        self, ids: Sequence[int], destination: str, error: str, *, limit: int, next_send_at: float
    ) -> None:
        """A digest was refused: its messages stay pending and go out at most `limit` per post,
        until a post is delivered, so that the one at fault is found."""
        with self.write() as db:
            self._attempted(db, ids, error)
            self._pace(db, destination, next_send_at, 0, 0, error, batch_limit=limit)

    @_guarded
    def defer(
        self,
        message_id: int,
        destination: str,
        error: str,
        *,
        not_before: float,
        backoff_until: float,
        failures: int,
    ) -> None:
        """One message alone was refused (not by Slack): it waits on its own, the others go on."""
        with self.write() as db:
            self._attempted(db, [message_id], error)
            db.execute("UPDATE messages SET not_before = ? WHERE id = ?", (not_before, message_id))
            state = self.destination_state(destination)
            self._pace(
                db, destination, 0, backoff_until, failures, error, batch_limit=state.batch_limit
            )

    @_guarded
    def mark_dead(self, ids: Sequence[int], destination: str, error: str, now: float) -> None:
        """A permanent failure: the messages will never be retried; the error is kept."""
        with self.write() as db:
            db.executemany(
                "UPDATE messages SET state = 'dead', attempts = attempts + 1, last_error = ?,"
                " dead_at = ? WHERE id = ? AND state = 'pending'",
                [(error, now, i) for i in ids],
            )
            state = self.destination_state(destination)
            self._pace(db, destination, now, 0, 0, error, batch_limit=state.batch_limit)

    @_guarded
    def note_problem(self, destination: str, error: str) -> None:
        """Why a destination's messages wait (an unusable webhook URL), for history and stderr."""
        with self.write() as db:
            db.execute(
                "INSERT INTO destinations(name, last_error) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET last_error = excluded.last_error",
                (destination, error),
            )

    @staticmethod
    def _attempted(db: sqlite3.Connection, ids: Sequence[int], error: str) -> None:
        db.executemany(
            "UPDATE messages SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            [(error, i) for i in ids],
        )

    @staticmethod
    def _pace(
        db: sqlite3.Connection,
        name: str,
        next_send_at: float,
        backoff_until: float,
        failures: int,
        error: str | None,
        *,
        batch_limit: int | None = None,
        patient: int = 0,
    ) -> None:
        db.execute(
            "INSERT INTO destinations(name, next_send_at, backoff_until, failures, last_error,"
            " batch_limit, patient) VALUES (?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
            " next_send_at = excluded.next_send_at, backoff_until = excluded.backoff_until,"
            " failures = excluded.failures, last_error = excluded.last_error,"
            " batch_limit = excluded.batch_limit, patient = excluded.patient",
            (name, next_send_at, backoff_until, failures, error, batch_limit, patient),
        )

    @_guarded
    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")
        return {state: count for state, count in rows}

    # -- operators putting messages back -----------------------------------------------------

    @_guarded
    def requeue(
        self,
        *,
        ids: Sequence[int] = (),
        dead_since: float | None = None,
        all_dead: bool = False,
        source: str | None = None,
        orphans_of: Sequence[str] = (),
        to: str | None = None,
    ) -> int:
        """Put messages back in the queue (`jp1notify retry`); returns how many.

        Chosen: the messages `ids` (any state but pending), or every dead message (`all_dead`,
        or those recorded since `dead_since`), optionally only those of destination `source`;
        with `source` in `orphans_of` (destinations no longer in the config), its pending
        messages too, so that `--to` can move them. `to` moves them to another destination.
        """
        movable = orphans_of if to is not None else ()  # pending ones only move elsewhere
        where, args = self._requeue_selection(ids, dead_since, all_dead, source, movable)
        with self.write() as db:
            changed = db.execute(
                "UPDATE messages SET state = 'pending', not_before = 0, sent_at = NULL,"
                " post_id = NULL, last_error = NULL, destination = COALESCE(?, destination)"
                f" WHERE {where}",
                (to, *args),
            ).rowcount
        return changed

    @staticmethod
    def _requeue_selection(
        ids: Sequence[int],
        dead_since: float | None,
        all_dead: bool,
        source: str | None,
        orphans_of: Sequence[str],
    ) -> tuple[str, list[Any]]:
        if ids:  # any state but pending; a pending one too if its destination is gone
            orphans = ",".join("?" * len(orphans_of))
            where = (
                f"id IN ({','.join('?' * len(ids))}) AND (state != 'pending'"
                f" OR destination IN ({orphans}))"
            )
            args: list[Any] = [*ids, *orphans_of]
        else:
            states = "state IN ('dead', 'pending')" if source in orphans_of else "state = 'dead'"
            where, args = states, []
            if dead_since is not None:
                where += " AND created_at >= ?"
                args.append(dead_since)
            elif not all_dead and source is None:
                return "0", []
        if source is not None:
            where += " AND destination = ?"
            args.append(source)
        return where, args

    # -- history and retention ---------------------------------------------------------------

    @_guarded
    def history(
        self,
        since: float | None,
        unit_filter: Callable[[str | None], bool] | None,
        state: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Recent events, newest first, each with its messages and the event itself."""
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
            " e.outcome, e.rule, e.event_json, e.incident FROM events e"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY e.received_at DESC, e.id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [self._history_row(row) for row in rows]

    def _history_row(self, row: Sequence[Any]) -> dict[str, Any]:
        keys = ("id", "destination", "route", "state", "attempts", "last_error", "sent_at")
        messages = self.db.execute(
            f"SELECT {', '.join(keys)} FROM messages WHERE event_row = ? ORDER BY id", (row[0],)
        )
        try:
            event = json.loads(row[9])
        except ValueError:
            event = None
        return {
            "received_at": row[1],
            "event_id": row[2],
            "unit": row[3],
            "exec_id": row[4],
            "level": row[5],
            "scope": row[6],
            "outcome": row[7],
            "rule": row[8],
            "event": event,
            "incident": row[10],
            "messages": [dict(zip(keys, m, strict=True)) for m in messages],
        }

    @_guarded
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
            # incidents (and their threads) unchanged for the retention period, open or not;
            # rows still pointing at one forget it first: a new incident may get its id
            for table in ("messages", "events"):
                db.execute(
                    f"UPDATE {table} SET incident = NULL WHERE incident IN"
                    " (SELECT id FROM incidents WHERE updated_at < ?)",
                    (before,),
                )
            db.execute("DELETE FROM incidents WHERE updated_at < ?", (before,))
        return deleted

    @_guarded
    def prune_daily(self, retention_days: int, now: float) -> int:
        """Once per calendar day (the first process of the day pays for it): look for damage in
        the whole file, then prune."""
        today = time.strftime("%Y-%m-%d", time.localtime(now))
        row = self.db.execute("SELECT value FROM meta WHERE key = 'pruned_on'").fetchone()
        if row and row[0] == today:  # the common case: a read, no write transaction
            return 0
        with self.write() as db:  # claim the day: only one process of a storm does the rest
            row = db.execute("SELECT value FROM meta WHERE key = 'pruned_on'").fetchone()
            if row and row[0] == today:
                return 0
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('pruned_on', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (today,),
            )
        self.check()
        return self.prune(now - retention_days * 86400)

    # -- expected runs (watch.py) ------------------------------------------------------------

    @_guarded
    def jobnets_seen(self, since: float) -> list[str]:
        """Jobnets with an event received since `since`."""
        rows = self.db.execute(
            "SELECT DISTINCT jobnet FROM events WHERE received_at >= ? AND jobnet IS NOT NULL"
            " ORDER BY jobnet",
            (since,),
        )
        return [r[0] for r in rows]

    @_guarded
    def normal_end(
        self, jobnet: str, services: frozenset[str] | None, after: float, until: float
    ) -> float | None:
        """The earliest own time in (after, until] of a normal end (4103) of `jobnet` or of a
        jobnet containing it, in one of `services` (None: any; an event that named no service
        counts for every service), or None."""
        from jp1notify.runs import NORMAL_END

        parts = jobnet.split("/")
        paths = ["/".join(parts[:i]) for i in range(2, len(parts) + 1)] or [jobnet]
        where = ""
        args: list[Any] = [NORMAL_END, *paths, after, until]
        if services is not None:
            where = f" AND (service IS NULL OR service IN ({','.join('?' * len(services))}))"
            args += sorted(services)
        row = self.db.execute(
            "SELECT MIN(COALESCE(at, received_at)) FROM events WHERE event_id = ?"
            f" AND jobnet IN ({','.join('?' * len(paths))})"
            " AND COALESCE(at, received_at) > ? AND COALESCE(at, received_at) <= ?" + where,
            args,
        ).fetchone()
        return row[0] if row else None

    @_guarded
    def has_event(self, dedup_key: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM events WHERE dedup_key = ?", (dedup_key,)).fetchone()
            is not None
        )

    @_guarded
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @_guarded
    def set_meta(self, key: str, value: str) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- the weekly review (report.py) -------------------------------------------------------

    @_guarded
    def report_events(self, since: float, until: float) -> list[tuple[Any, ...]]:
        """Events about a jobnet whose own time lies in [since, until], oldest first: jobnet,
        service, event ID, level, time, duration, and the stored event of an error (for the
        jobnet's latest failure). Rows of older versions count at their received time. A whole
        scan (no index on the event's own time): the store holds `retention_days` of events, and
        an event replayed later (`send --env-file`) still counts on its own day."""
        return self.db.execute(
            "SELECT jobnet, service, event_id, level, COALESCE(at, received_at), duration,"
            " CASE WHEN level = 'error' THEN event_json END FROM events"
            " WHERE jobnet IS NOT NULL AND COALESCE(at, received_at) BETWEEN ? AND ?"
            " ORDER BY COALESCE(at, received_at), id",
            (since, until),
        ).fetchall()

    @_guarded
    def report_incidents(self, since: float, until: float) -> list[tuple[Any, ...]]:
        """Incidents opened in [since, until] (their first problem's own time), oldest first:
        id, jobnet, service, state, level, opened_at, resolved_at."""
        return self.db.execute(
            "SELECT id, jobnet, service, state, level, opened_at, resolved_at FROM incidents"
            " WHERE opened_at BETWEEN ? AND ? ORDER BY opened_at, id",
            (since, until),
        ).fetchall()

    # -- run times (runs.py): read before routing a jobnet's end event ---------------------------

    @_guarded
    def run_started(
        self, jobnet: str, service: str | None, exec_id: str, ended: float
    ) -> float | None:
        """When the run `exec_id` of `jobnet` that ended at `ended` started, or None."""
        return started_at(self.db, jobnet, service, exec_id, ended)

    @_guarded
    def previous_durations(self, jobnet: str, service: str | None, limit: int) -> list[float]:
        """The durations of the last `limit` normal ends of `jobnet` whose start was recorded,
        newest first (one read of the index events(jobnet, event_id), already in id order). An
        event that named no scheduler service matches any service's, as in started_at."""
        from jp1notify.runs import NORMAL_END

        rows = self.db.execute(
            "SELECT duration FROM events WHERE jobnet = ? AND event_id = ?"
            " AND duration IS NOT NULL AND (service IS NULL OR ? IS NULL OR service = ?)"
            " ORDER BY id DESC LIMIT ?",
            (jobnet, NORMAL_END, service, service, limit),
        )
        return [row[0] for row in rows]

    # -- the heartbeat (heartbeat.py) --------------------------------------------------------
    # meta 'heartbeat_at': when the last beat was claimed (repr of a float: compared as written);
    # 'heartbeat_since': left by a failed ping, the start of what the next beat still reports.

    @_guarded
    def claim_heartbeat(self, now: float, interval: float, wait: float) -> float | None:
        """Claim the heartbeat ping that is due: None if it is not due (or another process has
        just claimed it); else the time since which this beat reports dead messages (the beat
        before, or one interval ago for the first).

        Read first without the write lock (like take_lease): nearly every event finds the beat
        not due and writes nothing. A due beat is claimed in one short write transaction that
        checks again, so of many processes at once exactly one pings. The lock is waited for at
        most `wait` seconds, not the store's 30: a beat must never hold an alert's process (a
        StoreError LOCKED then says that another writer is busy, and a later process beats)."""
        if not self._beat_due(self._meta_time("heartbeat_at"), now, interval):
            return None
        self.db.execute(f"PRAGMA busy_timeout = {round(wait * 1000)}")
        try:
            with self.write() as db:
                last = self._meta_time("heartbeat_at")
                if not self._beat_due(last, now, interval):
                    return None
                since = self._meta_time("heartbeat_since")
                db.execute("DELETE FROM meta WHERE key = 'heartbeat_since'")
                self._set_meta(db, "heartbeat_at", repr(now))
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT * 1000)}")
        if since is None:
            since = last if last is not None and last <= now else now - interval
        return since

    @_guarded
    def unclaim_heartbeat(self, claimed: float, last: float, since: float, wait: float) -> bool:
        """A ping that failed: record `last` as the last beat instead of `claimed` (so that the
        next one is due sooner), and keep `since` for the next beat's report. False, changing
        nothing, if another process has claimed a beat meanwhile."""
        self.db.execute(f"PRAGMA busy_timeout = {round(wait * 1000)}")
        try:
            with self.write() as db:
                changed = db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'heartbeat_at' AND value = ?",
                    (repr(last), repr(claimed)),
                ).rowcount
                if changed == 1:
                    self._set_meta(db, "heartbeat_since", repr(since))
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT * 1000)}")
        return changed == 1

    @_guarded
    def outbox_health(
        self, now: float, stuck_after: float, dead_since: float
    ) -> tuple[int, int, float | None, int, int]:
        """What a heartbeat reports: pending messages, dead ones, the creation time of the oldest
        pending one, how many pending ones were created `stuck_after` seconds before `now` or
        earlier, and how many died after `dead_since` (a read: no lock)."""
        pending, oldest, stuck = self.db.execute(
            "SELECT COUNT(*), MIN(created_at), COALESCE(SUM(created_at <= ?), 0) FROM messages"
            " WHERE state = 'pending'",
            (now - stuck_after,),
        ).fetchone()
        dead, died = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(dead_at > ?), 0) FROM messages WHERE state = 'dead'",
            (dead_since,),
        ).fetchone()
        return pending, dead, oldest, stuck, died

    @staticmethod
    def _beat_due(last: float | None, now: float, interval: float) -> bool:
        """Due when no beat is recorded, an interval has passed, or the recorded one lies more
        than an interval ahead (a clock that stepped back, or watch --now in the past)."""
        return last is None or now >= last + interval or now < last - interval

    def _meta_time(self, key: str) -> float | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            value = float(row[0]) if row else None
        except (TypeError, ValueError):
            return None
        # a damaged value (text, nan, inf): as if none were recorded
        return value if value is not None and math.isfinite(value) else None

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- alerts to re-send (destinations/alertmanager.py) ------------------------------------

    @_guarded
    def alerts_to_resend(self, destinations: Sequence[str], resolved_since: float) -> list[Pending]:
        """For each incident that is open, or was resolved at or after `resolved_since`, and each
        of `destinations` that was sent a message of it: that latest sent message (a read: no
        lock), incidents oldest first. Alertmanager forgets an alert nobody re-sends."""
        if not destinations:
            return []
        marks = ",".join("?" * len(destinations))
        rows = self.db.execute(
            "SELECT m.id, m.destination, m.route, m.mentions, m.attempts, e.event_json, e.level,"
            " e.scope, m.incident, m.recovery, e.context, e.run FROM messages m"
            " JOIN events e ON e.id = m.event_row WHERE m.id IN ("
            " SELECT MAX(s.id) FROM messages s JOIN incidents i ON i.id = s.incident"
            f" WHERE s.state = 'sent' AND s.destination IN ({marks})"
            " AND (i.state = 'open' OR i.resolved_at >= ?) GROUP BY s.incident, s.destination)"
            " ORDER BY m.incident, m.destination",
            (*destinations, resolved_since),
        )
        return [
            Pending(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]), r[10], r[11])
            for r in rows
        ]

    # -- a damaged store ---------------------------------------------------------------------

    @_guarded
    def adopt(self, salvaged: Sequence[Salvaged]) -> int:
        """Record messages rescued from a damaged store, in one transaction (all or none);
        returns how many were recorded."""
        with self.write() as db:
            for item in salvaged:
                r = item.record
                db.execute(
                    "INSERT INTO events(dedup_key, received_at, event_id, unit, jobnet, exec_id,"
                    " level, scope, outcome, rule, event_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(dedup_key) DO NOTHING",
                    (
                        r.dedup_key,
                        item.received_at,
                        r.event_id,
                        r.unit,
                        r.jobnet,
                        r.exec_id,
                        r.level,
                        r.scope,
                        r.outcome,
                        r.rule,
                        r.event_json,
                    ),
                )
                db.execute(
                    "INSERT INTO messages(event_row, destination, route, mentions, state,"
                    " created_at) SELECT id, ?, ?, ?, 'pending', ? FROM events WHERE dedup_key = ?",
                    (
                        item.message.destination,
                        item.message.route,
                        json.dumps(item.message.mentions),
                        item.received_at,
                        r.dedup_key,
                    ),
                )
        return len(salvaged)


def salvage(path: Path) -> tuple[list[Salvaged], str | None]:
    """The pending messages still readable in a damaged store file, and why reading stopped
    (None if everything was read). Never raises."""
    found: list[Salvaged] = []
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)
    except (sqlite3.Error, ValueError) as exc:
        return found, str(exc)
    try:
        rows = db.execute(
            "SELECT e.dedup_key, e.event_id, e.unit, e.jobnet, NULL, e.exec_id, e.level, e.scope,"
            " e.outcome, e.rule, e.event_json, e.received_at, m.destination, m.route, m.mentions"
            " FROM messages m JOIN events e ON e.id = m.event_row WHERE m.state = 'pending'"
        )
        for r in rows:
            found.append(
                Salvaged(
                    EventRecord(*r[:11]), r[11], NewMessage(r[12], r[13], tuple(json.loads(r[14])))
                )
            )
    except (sqlite3.Error, ValueError, TypeError) as exc:
        return found, str(exc)
    finally:
        db.close()
    return found, None


def _place(db: sqlite3.Connection, event_row: int, facts: Facts, now: float) -> Placement:
    """Open, join or resolve incidents for a recorded event (inside its transaction)."""
    from jp1notify.incidents import Step, enclosing, joins, resolves, worse

    # An event that names no scheduler service (some messages omit it, docs/jp1.md) may be
    # about any service's jobnet of that path; one that names it matches that service's, and
    # those opened by events that named none.
    # Only candidates are read (in a storm hundreds of incidents are open, and this runs under the
    # write lock): the same path, one containing the other, or the same execution ID; the exact
    # rules are incidents.joins/resolves, applied to them below.
    open_ones = db.execute(
        "SELECT id, jobnet, exec_id, level FROM incidents WHERE state = 'open'"
        " AND (service = :s OR service = '' OR :s = '')"
        " AND (jobnet = :j OR substr(:j, 1, length(jobnet) + 1) = jobnet || '/'"
        " OR substr(jobnet, 1, length(:j) + 1) = :j || '/' OR exec_id = :e) ORDER BY id",
        {"s": facts.service, "j": facts.jobnet, "e": facts.exec_id},
    ).fetchall()
    if facts.step is Step.RESOLVE:
        resolved = tuple(i for i, jobnet, _, _ in open_ones if resolves(facts.jobnet, jobnet))
        db.executemany(
            "UPDATE incidents SET state = 'resolved', resolved_at = ?, resolved_event = ?,"
            " updated_at = ? WHERE id = ?",
            [(facts.at, event_row, now, i) for i in resolved],
        )
        if resolved:
            db.execute("UPDATE events SET incident = ? WHERE id = ?", (resolved[0], event_row))
        return Placement(None, resolved)
    for incident_id, jobnet, exec_id, level in open_ones:
        if joins(facts.jobnet, facts.exec_id, jobnet, exec_id):
            outer = enclosing(facts.jobnet, jobnet)
            db.execute(
                "UPDATE incidents SET events = events + 1, last_event = ?, level = ?, jobnet = ?,"
                " updated_at = ? WHERE id = ?",
                (event_row, worse(level, facts.level), outer, now, incident_id),
            )
            break
    else:
        incident_id = db.execute(
            "INSERT INTO incidents(service, jobnet, exec_id, state, level, opened_at, events,"
            " first_event, last_event, updated_at) VALUES (?,?,?,'open',?,?,1,?,?,?) RETURNING id",
            (
                facts.service,
                facts.jobnet,
                facts.exec_id,
                facts.level,
                facts.at,
                event_row,
                event_row,
                now,
            ),
        ).fetchone()[0]
    db.execute("UPDATE events SET incident = ? WHERE id = ?", (incident_id, event_row))
    return Placement(incident_id, ())


def _with_recoveries(
    db: sqlite3.Connection,
    resolved: Sequence[int],
    outgoing: list[tuple[NewMessage, int | None]],
    quiet_routes: frozenset[tuple[str, str]],
) -> list[tuple[NewMessage, int | None]]:
    """The resolving event's messages: one recovery per destination each resolved incident was
    posted to (no mention), in place of the routed message to that destination."""
    recoveries: list[tuple[NewMessage, int | None]] = []
    for incident_id in resolved:
        posted: dict[str, list[str]] = {}
        for destination, route in db.execute(
            "SELECT m.destination, m.route FROM messages m WHERE m.incident = ? AND"
            " m.recovery = 0 AND m.state != 'dead' ORDER BY m.id",
            (incident_id,),
        ):
            posted.setdefault(destination, []).append(route)
        for destination, routes in posted.items():
            told = [r for r in routes if (r, destination) not in quiet_routes]
            if told:
                recoveries.append((NewMessage(destination, told[0], (), True), incident_id))
    covered = {m.destination for m, _ in recoveries}
    return [*recoveries, *((m, i) for m, i in outgoing if m.destination not in covered)]


def _duration(db: sqlite3.Connection, event: EventRecord, now: float) -> float | None:
    """A jobnet's end event: seconds since the start event of the same run (same jobnet and
    execution ID), if that start was recorded; else None (runs.py says which events count)."""
    from jp1notify.runs import END_EVENTS

    if event.event_id not in END_EVENTS or not event.jobnet or not event.exec_id:
        return None
    ended = event.at if event.at is not None else now
    started = started_at(db, event.jobnet, event.service, event.exec_id, ended)
    return None if started is None else ended - started


def started_at(
    db: sqlite3.Connection, jobnet: str, service: str | None, exec_id: str, ended: float
) -> float | None:
    """When the run `exec_id` of `jobnet` that ended at `ended` started (its latest start event's
    own time), or None. The start must lie at or before the end and after any earlier end of that
    execution ID: JP1 reuses execution IDs and each event is its own process, so an end whose
    start is late (or lost) must not be measured from another run's start, weeks before.
    An event that named no scheduler service matches any service's, as for incidents."""
    from jp1notify.runs import END_EVENTS, START_EVENT

    same_run = (
        "jobnet = ? AND exec_id = ? AND (service IS NULL OR ? IS NULL OR service = ?)"
        f" AND event_id IN ({','.join('?' * len(END_EVENTS))})"
    )
    run = (jobnet, exec_id, service, service)
    row = db.execute(
        "SELECT COALESCE(at, received_at) FROM events WHERE jobnet = ? AND event_id = ?"
        " AND exec_id = ? AND (service IS NULL OR ? IS NULL OR service = ?)"
        " AND COALESCE(at, received_at) <= ? AND COALESCE(at, received_at) >"
        f" (SELECT COALESCE(MAX(COALESCE(at, received_at)), -1) FROM events WHERE {same_run}"
        "  AND COALESCE(at, received_at) < ?)"
        " ORDER BY id DESC LIMIT 1",
        (jobnet, START_EVENT, exec_id, service, service, ended, *run, *sorted(END_EVENTS), ended),
    ).fetchone()
    return row[0] if row else None


def record_event(
    store: Store,
    event: Event,
    classification: Classification,
    decision: Decision,
    now: float,
    *,
    at: float | None = None,
    quiet_routes: frozenset[tuple[str, str]] = frozenset(),
    hold_until: float = 0.0,
    run: Run | None = None,
) -> Recorded:
    """Record a routed (or ignored, or unrouted) event with one message per delivery, placed in
    its incident (`at`: the event's own time, else `now`). An ignored event touches no incident.
    The messages wait until `hold_until` (see Store.record); `run`: a jobnet end's run, as
    assessed before routing (runs.py), kept for its messages."""
    from jp1notify.incidents import Step, facts

    outcome = (
        EventOutcome.IGNORED
        if decision.ignored_by
        else EventOutcome.UNROUTED
        if decision.unrouted
        else EventOutcome.ROUTED
    )
    record = EventRecord(
        dedup_key=event_key(event),
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
        at=at,
        run=run.dumps() if run else None,
    )
    messages = [
        NewMessage(d.destination, d.route.name, d.route.mentions) for d in decision.deliveries
    ]
    placed = facts(event, classification.level, at or now)
    if decision.ignored_by and placed is not None and placed.step is not Step.RESOLVE:
        placed = None  # an ignored problem opens nothing; an ignored normal end still resolves
    return store.record(record, messages, now, placed, quiet_routes, hold_until)


def event_key(event: Event) -> str:
    """The store's key for an event: its dedup key, or a key of its own when the event carries
    too few facts to tell it from another one (then it is never taken for a duplicate)."""
    key: str | None = event.dedup_key
    if key is None:
        import uuid

        key = f"unique:{uuid.uuid4().hex}"
    return key
