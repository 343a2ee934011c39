"""Closed sets are StrEnums. Every one in jp1notify is listed here with the table that must map
each of its members (so a new member cannot go unmapped), or why it needs none; and the values
stored in SQL, JSON and logs are the strings they always were."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import re
import sqlite3

import pytest

import jp1notify
from jp1notify import cli, store
from jp1notify.delivery import Disposition
from jp1notify.destinations import KINDS, SECRET_KEYS, Kind
from jp1notify.destinations.healthchecks import SUFFIXES, Signal
from jp1notify.destinations.pagerduty import Action
from jp1notify.errors import StoreProblem
from jp1notify.incidents import State as IncidentState
from jp1notify.incidents import Step
from jp1notify.notify import Ending, Problem
from jp1notify.outbox import Stop
from jp1notify.store import EventOutcome, State

from conftest import MINIMAL, ROOT, event_env, make_config

# enum -> the tables keyed by (or listing) every member; an empty tuple says why none is needed
MAPPINGS: dict[type[enum.StrEnum], tuple[object, ...] | str] = {
    Ending: (cli._EXIT_CODES,),
    Problem: (cli._PROBLEM_CODES,),
    State: (cli.MESSAGE_STATES,),  # history --state
    StoreProblem: "translate() and Store raise each with its own message (see below)",
    Disposition: "the outbox and the direct send decide per member (test_outbox, test_cli)",
    EventOutcome: "stored and shown as is; history shows any outcome but routed with its rule",
    Stop: "logged as is (stopped=...)",
    Kind: (SECRET_KEYS, KINDS),  # each kind's secret key; the config's allowed values
    Signal: (SUFFIXES,),  # each Healthchecks signal's path
    Action: "sent as is (event_action); pagerduty.event_for picks each (test_pagerduty)",
    IncidentState: "stored as is; rendering tells open from resolved",
    Step: "incidents.facts and store._place act on each member (test_incidents)",
}


def strenums() -> set[type[enum.StrEnum]]:
    found = set()
    for info in pkgutil.walk_packages(jp1notify.__path__, "jp1notify."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, enum.StrEnum):
                if value.__module__.startswith("jp1notify"):
                    found.add(value)
    return found


def test_every_strenum_is_listed_with_its_mapping():
    assert strenums() == set(MAPPINGS)


@pytest.mark.parametrize("kind", list(MAPPINGS), ids=lambda kind: kind.__name__)
def test_every_member_is_mapped(kind):
    tables = MAPPINGS[kind]
    if isinstance(tables, str):
        return
    for table in tables:
        assert set(table) == set(kind), f"{kind.__name__}: {set(kind) ^ set(table)}"


def test_every_problem_translate_can_report_has_a_message():
    produced = set(store._CODES.values()) | {StoreProblem.CORRUPT, StoreProblem.UNUSABLE}
    assert produced <= set(store._MESSAGES)
    # the one left out is raised with its own message, naming both versions
    assert set(StoreProblem) - set(store._MESSAGES) == {StoreProblem.NEWER}


def test_the_stored_and_logged_strings_are_unchanged():
    assert [m.value for m in State] == ["pending", "sent", "dead"]
    assert [m.value for m in EventOutcome] == ["routed", "ignored", "unrouted"]
    assert [m.value for m in Stop] == [
        "idle",
        "waiting",
        "budget",
        "busy",
        "unsendable",
        "lost_lease",
        "error",
    ]
    assert json.dumps([State.DEAD, Stop.LOST_LEASE]) == '["dead", "lost_lease"]'
    assert f"stopped={Stop.IDLE}" == "stopped=idle"


def test_the_sql_writes_only_message_states():
    """The store's SQL writes the states as literals: each one must be a message State, or an
    incident's (incidents.State, in the incidents table)."""
    source = (ROOT / "jp1notify" / "store.py").read_text(encoding="utf-8")
    written = re.findall(r"state\s*!?=\s*'(\w+)'", source)
    written += re.findall(r"\?,\s*'(\w+)',\s*\?", source)  # INSERT ... (?,?,'pending',?)
    for listed in re.findall(r"state IN \(([^)]*)\)", source):
        written += re.findall(r"'(\w+)'", listed)
    assert {"pending", "sent", "dead"} <= set(written)
    assert set(written) <= set(State) | set(IncidentState)


def test_a_recorded_event_stores_the_plain_strings(tmp_path):
    from jp1notify.classify import classify
    from jp1notify.event import parse_event
    from jp1notify.routing import route

    config = make_config(MINIMAL)
    event = parse_event(event_env())
    classification = classify(event, config)
    opened = store.Store.open(tmp_path)
    try:
        decision = route(event, classification, config)
        store.record_event(opened, event, classification, decision, 1.0)
    finally:
        opened.close()
    db = sqlite3.connect(tmp_path / store.DB_NAME)
    try:
        outcome = db.execute("SELECT outcome, typeof(outcome) FROM events").fetchall()
        states = db.execute("SELECT state, typeof(state) FROM messages").fetchall()
    finally:
        db.close()
    assert outcome == [("routed", "text")]
    assert states == [("pending", "text")]
