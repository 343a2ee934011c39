"""How long things may take: every wait, request and run of jp1notify has a documented maximum.

JP1 starts one process per event and waits for it; a notifier that hangs holds the monitoring
jobnet and every alert behind it. The numbers here are the ones the README's "Time bounds" table
documents; `run_bound` is enforced by a watchdog in the command line as the last line of defence
(every step below is bounded on its own).
"""

from __future__ import annotations

from jp1notify.config import Config

# Nothing but numbers and the config type: the command line reads it before anything else.
# After a request that got no answer (Slack may have posted it all the same), the next request to
# that destination waits PATIENCE times http.timeout_seconds, at least PATIENT_FLOOR seconds, and
# after a second one in a row twice that: a slow Slack then costs one duplicate per fault, not
# one per attempt.
PATIENCE = 3.0
PATIENT_FLOOR = 30.0
DEADLINE_GRACE = 1.0  # seconds a request's worker gets beyond its deadline before it is abandoned
STORE_WAIT = 30.0  # seconds a write waits for another process's lock on the store
# Busy timeouts a `send` waits in all to record its event before it sends without the store
# (notify._record_patiently); it then sends for others only for what is left (sending_left).
RECORD_TRIES = 3
# Margin of the sender lease beyond the step its holder is taking. It covers a wait for the
# store's lock after a post (marking it sent): a lease that expired there would let another
# process post the same messages again. A killed holder frees the queue this much later.
LEASE_TTL = STORE_WAIT + 10.0
RUN_SLACK = 15.0  # logging, rendering, opening files: generous
CONTEXT_GRACE = (
    5.0  # beyond [context] timeout_seconds: killing the command (taskkill), reading what is left
)
# A heartbeat waits at most this long for the store's lock, to claim its beat and, after a
# failed ping, to hand it back: never the store's 30 s (heartbeat.py).
HEARTBEAT_WAIT = 2.0
# Beyond [heartbeat] timeout_seconds: the ping's deadline grace and the two waits for the lock.
HEARTBEAT_GRACE = DEADLINE_GRACE + 2 * HEARTBEAT_WAIT


def patient_timeout(config: Config, unanswered: int = 1) -> float:
    """How long a request waits for its answer after `unanswered` requests in a row got none."""
    if unanswered <= 0:
        return config.http.timeout
    base = max(PATIENCE * config.http.timeout, PATIENT_FLOOR)
    return base if unanswered == 1 else 2 * base


def request_deadline(config: Config, patient: bool = False) -> float:
    """The longest one HTTP request may take, answer included."""
    return patient_timeout(config, 2 if patient else 0) + DEADLINE_GRACE


def lease_ahead(config: Config) -> float:
    """The furthest ahead a holder ever sets the lease's expiry: its longest wait or request."""
    return max(config.outbox.max_wait_seconds, request_deadline(config, True)) + LEASE_TTL


def run_bound(config: Config) -> float:
    """The longest a `send`, `flush` or `retry` may run: its sending budget (drain_seconds, or
    the retry budget without a store), the last request it started, one wait for the store's
    lock, and slack; with a [context] command, its timeout and the grace to kill it; with a
    [heartbeat], its ping's timeout and grace. Defaults: 60 + 61 + 30 + 15 = 166 seconds."""
    budget = max(config.outbox.drain_seconds, config.http.retry_budget)
    bound = budget + request_deadline(config, True) + STORE_WAIT + RUN_SLACK
    bound += config.context.timeout_seconds + CONTEXT_GRACE if config.context else 0.0
    return bound + heartbeat_bound(config)


def heartbeat_bound(config: Config) -> float:
    """The longest a heartbeat adds to its command's run: its ping and its waits for the lock."""
    return config.heartbeat.timeout_seconds + HEARTBEAT_GRACE if config.heartbeat else 0.0


def sending_left(config: Config, elapsed: float) -> float:
    """Seconds of sending (the outbox's budget) left to a `send` that has run `elapsed` seconds,
    so that its last request and its last wait for the store still end within run_bound; at
    most drain_seconds. Not positive: it sends nothing (a storm's lease holder or flush will).
    The heartbeat's share of the bound is kept for the heartbeat, which comes after."""
    after = request_deadline(config, True) + STORE_WAIT + RUN_SLACK  # `elapsed` holds the rest
    after += heartbeat_bound(config)
    return min(config.outbox.drain_seconds, run_bound(config) - elapsed - after)
