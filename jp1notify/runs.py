"""Runs of a jobnet: from its start event to its end event, and how long that took.

JP1/AJS3 sends KAVS0260-I (4102) when a jobnet starts and one end event when it ends: 4103
normal end, 4104 abnormal end, 4108 warning end (docs/jp1.md). A start and an end belong to one
run when they name the same jobnet and the same execution ID (a rerun keeps the execution ID:
its end is measured from the latest start recorded). The times are the events' own
(EVDATE/EVTIME), so a queued or late-delivered event does not distort a run's length.

The store fills `events.duration` on the end event when the start was recorded (store._duration);
the usual duration of a jobnet is the median of its last normal runs. Before routing, the
end event's run is assessed (`assess`): a run far slower than usual is flagged, and its message
raised to `[durations] slow_level` (`raise_level`), so that routes can send it as a warning.
This module is pure: the store reads the facts, notify.py puts them together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from jp1notify.config import DurationSettings

START_EVENT = "4102"  # jobnet started (KAVS0260-I)
NORMAL_END = "4103"  # jobnet ended normally (KAVS0261-I)
END_EVENTS = frozenset({"4103", "4104", "4108"})  # normal, abnormal, warning end of a jobnet


def median(values: Sequence[float]) -> float | None:
    """The median of the values (the mean of the middle two for an even count), None if none."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


class Run(NamedTuple):
    """One run of a jobnet as its end message tells it: how long it took, against its usual."""

    seconds: float  # from its latest start event to this end event (their own times)
    usual: float | None  # median of the last normal runs; None: fewer than min_runs known
    known: int  # how many earlier normal runs the comparison saw
    slow: bool  # far slower than usual ([durations] slow_factor and min_extra_seconds)
    raised_from: str | None = None  # the event's own level, when slowness raised it (raise_level)

    @property
    def ratio(self) -> float | None:
        """How many times its usual length the run took (None: no usual, or a usual of 0 s)."""
        return self.seconds / self.usual if self.usual else None

    def dumps(self) -> str:
        """The form the store keeps (`events.run`)."""
        return json.dumps(self._asdict())


def loads(stored: str | None) -> Run | None:
    """A run as the store keeps it; None for none, or for a row this version cannot read (the
    message then goes out without its run time rather than not at all)."""
    if not stored:
        return None
    try:
        data = json.loads(stored)
        raised = data.get("raised_from")
        return Run(
            float(data["seconds"]),
            None if data["usual"] is None else float(data["usual"]),
            int(data["known"]),
            bool(data["slow"]),
            raised if isinstance(raised, str) else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def assess(seconds: float, previous: Sequence[float], settings: DurationSettings) -> Run:
    """A run of `seconds` against `previous` (the jobnet's earlier normal runs, newest first):
    its usual length is the median of the last `settings.runs` of them, once `min_runs` are
    known; it is slow when it took at least `slow_factor` times that and `min_extra_seconds`
    more (a 20 s jobnet taking 70 s is not worth a warning)."""
    recent = list(previous[: settings.runs])
    usual = median(recent) if len(recent) >= settings.min_runs else None
    slow = (
        usual is not None
        and seconds >= settings.slow_factor * usual
        and seconds - usual >= settings.min_extra_seconds
    )
    return Run(seconds, usual, len(recent), slow)


def raise_level(level: str, run: Run | None, settings: DurationSettings) -> tuple[str, Run | None]:
    """The level a message about this run goes out with: a slow run's is raised to
    `settings.slow_level` (never lowered: an abnormal end stays an error), so that a route with
    `levels = ["warning"]` picks up a slow normal end. The run remembers the level it had."""
    from jp1notify.incidents import worse

    if run is None or not run.slow or worse(level, settings.slow_level) == level:
        return level, run
    return settings.slow_level, run._replace(raised_from=level)


def run_text(run: Run, language: str) -> str:
    """`42 min (usual 12 min, 3.5x: slow)`; ja `42分（通常 12分、3.5倍: 遅延）`; only the
    length while too few earlier runs are known."""
    from jp1notify.incidents import duration_text

    took = duration_text(run.seconds, language)
    if run.usual is None:
        return took
    ja = language == "ja"
    parts = [("通常 " if ja else "usual ") + duration_text(run.usual, language)]
    ratio = run.ratio
    if ratio is not None:
        parts.append(f"{ratio:.1f}" + ("倍" if ja else "x"))
    if run.slow:
        parts[-1] += ": 遅延" if ja else ": slow"
    inner = ("、" if ja else ", ").join(parts)
    return f"{took}（{inner}）" if ja else f"{took} ({inner})"


def short_text(run: Run, language: str) -> str:
    """A digest line's `(42 min, slow)`; ja `（42分、遅延）`."""
    from jp1notify.incidents import duration_text

    took = duration_text(run.seconds, language)
    if language == "ja":
        return f"（{took}、遅延）" if run.slow else f"（{took}）"
    return f"({took}, slow)" if run.slow else f"({took})"
