"""Runs of a jobnet: from its start event to its end event, and how long that took.

JP1/AJS3 sends KAVS0260-I (4102) when a jobnet starts and one end event when it ends: 4103
normal end, 4104 abnormal end, 4108 warning end (docs/jp1.md). A start and an end belong to one
run when they name the same jobnet and the same execution ID (a rerun keeps the execution ID:
its end is measured from the latest start recorded). The times are the events' own
(EVDATE/EVTIME), so a queued or late-delivered event does not distort a run's length.

The store fills `events.duration` on the end event when the start was recorded (store._duration);
the usual duration of a jobnet is the median of its last normal runs.
"""

from __future__ import annotations

from collections.abc import Sequence

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
