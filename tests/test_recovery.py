"""Recovering a damaged store while other processes use it (in-process: the faults are races
and OS refusals that a test cannot time with real processes)."""

from __future__ import annotations

import pytest

from jp1notify import notify as notify_module
from jp1notify import store as store_module
from jp1notify.event import parse_event
from jp1notify.notify import Invocation, notify
from jp1notify.store import DB_NAME, Store, StoreError

from conftest import event_env, make_config

CONFIG = """
[outbox]
data_dir = "{data}"
[log]
dir = "{logs}"
[destinations.alerts]
webhook_url_env = "HOOK"
[[routes]]
destination = "alerts"
"""


@pytest.fixture
def setup(tmp_path, slack):
    config = make_config(
        CONFIG.format(data=tmp_path / "data", logs=tmp_path / "logs"), tmp_path / "c.toml"
    )
    return config, {"HOOK": slack.url("alerts")}


def damage(path):
    path.write_bytes(b"not a database at all" * 200)


def test_a_store_that_cannot_be_moved_aside_still_lets_the_alert_out(setup, slack, monkeypatch):
    config, environ = setup
    Store.open(config.outbox.data_dir).close()
    damage(config.outbox.data_dir / DB_NAME)

    def refuse(data_dir):  # Windows: another process has the file open
        raise PermissionError(32, "The process cannot access the file")

    monkeypatch.setattr(store_module, "quarantine", refuse)
    outcome = notify(Invocation(config), config, parse_event(event_env()), environ)
    assert outcome.name == "delivered" and len(slack.payloads("alerts")) == 1


def test_an_event_recorded_into_a_file_moved_aside_meanwhile_is_recorded_again(
    setup, slack, monkeypatch
):
    """Process B opened the store; process A found it damaged, moved it aside and started a
    new one; B's record then lands in the moved file, where no sender looks."""
    config, environ = setup
    stale = Store.open(config.outbox.data_dir)
    store_module.quarantine(config.outbox.data_dir)
    Store.open(config.outbox.data_dir).close()
    opened = iter([stale])
    real_open = notify_module.open_store
    monkeypatch.setattr(
        notify_module, "open_store", lambda run, cfg: next(opened, None) or real_open(run, cfg)
    )
    outcome = notify(Invocation(config), config, parse_event(event_env()), environ)
    assert outcome.name == "delivered" and len(slack.payloads("alerts")) == 1
    fresh = Store.open(config.outbox.data_dir)
    assert fresh.counts() == {"sent": 1}
    fresh.close()


def test_a_recovery_already_done_by_another_process_is_not_done_twice(setup, tmp_path):
    config, _ = setup
    Store.open(config.outbox.data_dir).close()
    damaged = store_module.file_identity(config.outbox.data_dir / DB_NAME)
    store_module.quarantine(config.outbox.data_dir)  # the other process's recovery
    Store.open(config.outbox.data_dir).close()
    store = notify_module.recover(
        Invocation(config), config, StoreError("damaged", store_module.Problem.CORRUPT), damaged
    )
    store.close()
    assert len(list(config.outbox.data_dir.glob(f"{DB_NAME}.corrupt-*"))) == 1  # not two
