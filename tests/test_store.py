import sqlite3

import pytest

from jp1notify.store import (
    DB_NAME,
    SCHEMA_VERSION,
    EventRecord,
    NewMessage,
    Store,
    StoreError,
    quarantine,
)


def record(store, key="k1", now=100.0, messages=("alerts",), outcome="routed", jobnet="/G/N"):
    event = EventRecord(
        key, "4104", jobnet, jobnet, "AJSROOT1", "@A1", "error", "prod", outcome, None, "{}"
    )
    return store.record(event, [NewMessage(d, "r", ("<!here>",)) for d in messages], now)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "data")
    yield s
    s.close()


def test_open_creates_a_wal_store(tmp_path):
    store = Store.open(tmp_path / "new" / "dir")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    assert (tmp_path / "new" / "dir" / DB_NAME).exists()


def test_same_event_is_recorded_once(store):
    first = record(store)
    second = record(store, now=200.0)
    assert not first.duplicate and len(first.message_ids) == 1
    assert second.duplicate and second.message_ids == () and second.event_row == first.event_row
    assert store.counts() == {"pending": 1}


def test_lease_is_exclusive_and_expires(store):
    assert store.take_lease("a", now=0, ttl=10)
    assert not store.take_lease("b", now=5, ttl=10)
    assert store.lease_holder(5) == "a"
    assert store.take_lease("b", now=11, ttl=10)  # a died: its lease expired
    assert not store.renew_lease("a", 30)
    store.release_lease("b")
    assert store.take_lease("a", now=12, ttl=10)


def test_release_if_idle_refuses_while_something_is_pending(store):
    store.take_lease("a", 0, 10)
    record(store)
    assert not store.release_if_idle("a")
    assert store.lease_holder(1) == "a"
    (pending,) = store.pending_for("alerts", 10)
    store.mark_sent([pending.id], "alerts", 1.0, 2.0)
    assert store.release_if_idle("a")
    assert store.lease_holder(1) is None


def test_sent_failed_dead_and_pacing(store):
    ids = [record(store, key=f"k{i}").message_ids[0] for i in range(3)]
    store.mark_failed(
        ids[:1], "alerts", "HTTP 500", next_send_at=20.0, backoff_until=50.0, failures=1
    )
    (due,) = store.due(now=10.0, max_ahead=300)
    assert (due.name, due.next_send_at, due.backoff_until, due.pending) == ("alerts", 20, 50, 3)
    assert store.destination_state("alerts").failures == 1
    store.mark_sent(ids[:2], "alerts", 60.0, 61.0)
    jobnet = store.db.execute(
        "SELECT last_event_id, last_level, last_post_id FROM jobnets"
    ).fetchone()
    assert jobnet == ("4104", "error", 1)  # per-jobnet state, with the post for threading later
    store.mark_dead(ids[2:], "alerts", "HTTP 404 channel_not_found", 62.0)
    assert store.counts() == {"sent": 2, "dead": 1}
    assert store.destination_state("alerts").failures == 0
    states = {s.id: s for s in store.event_messages("k0")[1] + store.event_messages("k2")[1]}
    assert (states[ids[0]].state, states[ids[0]].error) == ("sent", "HTTP 500")
    assert (states[ids[2]].state, states[ids[2]].error) == ("dead", "HTTP 404 channel_not_found")


def test_history_filters(store):
    record(store, key="a", now=100, jobnet="/PROD/A")
    record(store, key="b", now=200, jobnet="/DEV/B", messages=())
    rows = store.history(since=150, unit_filter=None, state=None, limit=10)
    assert [r["unit"] for r in rows] == ["/DEV/B"]
    rows = store.history(None, lambda unit: unit is not None and unit.startswith("/PROD"), None, 10)
    assert [r["unit"] for r in rows] == ["/PROD/A"]
    assert rows[0]["messages"][0]["state"] == "pending"
    assert store.history(None, None, "dead", 10) == []


def test_prune_keeps_pending_messages_whatever_their_age(store):
    sent = record(store, key="old-sent", now=10).message_ids[0]
    record(store, key="old-pending", now=10)
    record(store, key="old-ignored", now=10, messages=(), outcome="ignored")
    store.mark_sent([sent], "alerts", 11, 12)
    assert store.prune(before=1000) == 2
    assert [r["outcome"] for r in store.history(None, None, None, 10)] == ["routed"]
    assert store.counts() == {"pending": 1}


def test_prune_daily_runs_once_a_day(store):
    record(store, key="x", messages=(), now=0)
    assert store.prune_daily(1, now=10 * 86400) == 1
    record(store, key="y", messages=(), now=0)
    assert store.prune_daily(1, now=10 * 86400 + 60) == 0


def test_corrupt_file_is_reported_as_corrupt_and_can_be_moved_aside(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path)
    assert info.value.corrupt
    moved = quarantine(tmp_path)
    assert moved.exists() and not (tmp_path / DB_NAME).exists()
    Store.open(tmp_path).close()


def test_unwritable_location_is_not_called_corrupt(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError) as info:
        Store.open(blocker / "data")
    assert not info.value.corrupt


def test_two_connections_see_each_other(tmp_path):
    a, b = Store.open(tmp_path), Store.open(tmp_path)
    record(a)
    assert b.has_pending()
    with pytest.raises(sqlite3.IntegrityError):
        a.db.execute("INSERT INTO lease(name) VALUES ('sender')")
    a.close()
    b.close()


def test_a_migration_runs_again_on_a_store_relabelled_by_an_older_version(tmp_path):
    Store.open(tmp_path).close()  # the current schema
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("PRAGMA user_version = 1")  # what jp1notify 0.1.0 did to any other version
    store = Store.open(tmp_path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    record(store)
    assert store.counts() == {"pending": 1}
    store.close()


def test_a_connection_notices_when_its_file_was_moved_aside(tmp_path):
    stale = Store.open(tmp_path)
    assert not stale.moved()
    quarantine(tmp_path)
    fresh = Store.open(tmp_path)
    assert stale.moved() and not fresh.moved()
    stale.close()
    fresh.close()


def test_pruned_incidents_are_forgotten_by_the_messages_that_named_them(tmp_path):
    """Incident ids may be reused once pruned: a pending message must not land in a new
    incident's thread."""
    from jp1notify.incidents import Facts, Step

    store = Store.open(tmp_path)
    facts = Facts(Step.PROBLEM, "AJSROOT1", "/A/NET", "@A1", "error", 100.0)
    record = EventRecord("k1", "4104", "/A/NET", "/A/NET", "AJSROOT1", "@A1", "error", "o",
                         "routed", None, "{}")  # fmt: skip
    recorded = store.record(record, [NewMessage("alerts", "r", ())], 100.0, facts)
    assert recorded.incident == 1
    store.prune(before=200.0)  # the event stays: its message is pending
    (pending,) = store.pending_for("alerts", 10)
    assert pending.incident is None
    assert store.incidents(0) == []
    store.close()
