"""Incidents: one story per failing jobnet, from its first problem event to its recovery.

What joins what (JP1 semantics: docs/jp1.md "Incidents"):
- A problem event (level error or warning after classification: abnormal end, warning end,
  start/end delay, shut down, wait condition never met, ...) about a jobnet opens an incident, or
  joins the open one. A job's events are about its jobnet (`Event.jobnet`).
- Two jobnets belong to one incident when one contains the other (same scheduler service, one
  path a prefix of the other at a `/`): a nested jobnet and its root, whatever the run, because a
  rerun keeps the execution ID and a later run is the same jobnet failing again; or when they
  run under the same execution ID in the same job group (siblings nested in one root jobnet:
  an execution ID belongs to one run of one root jobnet, and nested units share it). The
  incident's jobnet is the innermost one containing all it has seen (`enclosing`): the root of
  a nested jobnet, the parent of two siblings, so that one sibling's normal end cannot resolve
  the other's failure.
- A later **normal end** (4103) of the incident's jobnet or of a jobnet containing it resolves it:
  the rerun's (same execution ID) or a later run's. A nested jobnet ending normally does not: its
  root may still fail. A delay incident resolves the same way when the jobnet ends normally.
- Events without a jobnet (scheduler service events) have no incident.

This module is pure (values in, values out); the store applies it inside the transaction that
records the event, so that two processes recording at once cannot open two incidents.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from jp1notify.event import Event

PROBLEM_LEVELS = frozenset({"error", "warning"})
RESOLVING_EVENTS = frozenset({"4103"})  # jobnet ended normally (KAVS0261-I)


class State(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Step(StrEnum):
    """What an event does to incidents."""

    NONE = "none"
    PROBLEM = "problem"  # opens an incident or joins the open one
    RESOLVE = "resolve"  # resolves the open incident of its jobnet, if any


class Facts(NamedTuple):
    """What the store needs to know of an event to place it in an incident."""

    step: Step
    service: str  # "" when the event named none
    jobnet: str
    exec_id: str | None
    level: str
    at: float  # the event's own time (EVDATE/EVTIME), else when it was received


class Incident(NamedTuple):
    """An incident as it stands (read from the store when a message is sent)."""

    id: int
    service: str
    jobnet: str
    exec_id: str | None
    state: State
    level: str  # the worst level seen
    opened_at: float  # the first problem's time
    resolved_at: float | None
    events: int  # problem events joined
    first: Event | None  # the first problem event (None if pruned from the store)
    latest: Event | None  # the latest problem event
    latest_level: str | None

    @property
    def downtime(self) -> float | None:
        """Seconds from the first problem to the recovery (None while open)."""
        if self.resolved_at is None:
            return None
        return max(0.0, self.resolved_at - self.opened_at)


def step_of(event: Event, level: str) -> Step:
    if not event.jobnet:
        return Step.NONE
    if event.event_id in RESOLVING_EVENTS:
        return Step.RESOLVE
    if level in PROBLEM_LEVELS:
        return Step.PROBLEM
    return Step.NONE


def facts(event: Event, level: str, at: float) -> Facts | None:
    step = step_of(event, level)
    if step is Step.NONE or not event.jobnet:
        return None
    return Facts(step, event.unit.service or "", event.jobnet, event.unit.exec_id, level, at)


def contains(outer: str, inner: str) -> bool:
    """True if jobnet path `outer` is `inner` or contains it."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def joins(jobnet: str, exec_id: str | None, open_jobnet: str, open_exec_id: str | None) -> bool:
    """Does a problem of `jobnet` (run `exec_id`) belong to the open incident of `open_jobnet`?"""
    if contains(open_jobnet, jobnet) or contains(jobnet, open_jobnet):
        return True
    return bool(exec_id) and exec_id == open_exec_id and _group(jobnet) == _group(open_jobnet)


def resolves(jobnet: str, open_jobnet: str) -> bool:
    """Does a normal end of `jobnet` resolve the open incident of `open_jobnet`?"""
    return contains(jobnet, open_jobnet)


def enclosing(a: str, b: str) -> str:
    """The innermost jobnet path containing both `a` and `b`: the outer one of a jobnet and a
    nested one, the parent of two siblings."""
    common: list[str] = []
    for x, y in zip(a.strip("/").split("/"), b.strip("/").split("/"), strict=False):
        if x != y:
            break
        common.append(x)
    return "/" + "/".join(common)


def _group(path: str) -> str:
    """The first segment of a unit path: the job group (siblings share at least this)."""
    return path.lstrip("/").split("/", 1)[0]


WORST = ("error", "warning", "info", "success")


def worse(a: str, b: str) -> str:
    rank = {level: i for i, level in enumerate(WORST)}
    return a if rank.get(a, 9) <= rank.get(b, 9) else b


def duration_text(seconds: float, language: str) -> str:
    """`1 h 10 min`, `45 s`, `2 d 3 h` (ja: `1時間10分`)."""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = (
        (("日", days), ("時間", hours), ("分", minutes), ("秒", secs))
        if language == "ja"
        else (("d", days), ("h", hours), ("min", minutes), ("s", secs))
    )
    parts = [(name, value) for name, value in units if value]
    if not parts:
        parts = [units[-1]]
    if days or hours:  # seconds are noise beside hours
        parts = [(n, v) for n, v in parts if n not in ("s", "秒")]
    shown = parts[:2]
    sep = "" if language == "ja" else " "
    return sep.join(f"{v}{n}" if language == "ja" else f"{v} {n}" for n, v in shown)
