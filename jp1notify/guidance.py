"""What to do next: runbooks and the context command's placeholders, and the stored form of the
context command's result. Pure: values in, values out (the command itself runs in context.py).

Placeholders, in a runbook's `text` and in each argument of `[context] command`:
- `{service}`  the scheduler service (`AJSROOT1`);
- `{unit}`     the unit the event is about, as JP1 named it: a job (`/PROD/NIGHTLY/LOAD`) or a
               jobnet (`/PROD/NIGHTLY`);
- `{jobnet}`   the jobnet the event is about: the unit itself for jobnet events, a job's jobnet
               for job events (`Event.jobnet`, the path `ajsshow` and `ajsrerun` take);
- `{root}`     the root jobnet: the path in EV:ROOT_OBJECT_NAME when the event job passes that
               extended attribute, else the same as `{jobnet}` (from a path alone a nested
               jobnet cannot be told from a root jobnet; `ajsrerun -a/-s/-n/-t` need the root,
               destinations.md 6.2);
- `{exec_id}`  the execution ID with its `@` (`@A100`), so `{jobnet}:{exec_id}` is JP1's unit
               reference syntax;
- `{host}`, `{event_id}` (`4104`), `{date}` (`2026/11/22`), `{time}` (`02:13:05`).
`{{` and `}}` stand for literal braces, as in Python's str.format.

A value the event does not carry is shown as `{name?}` in a runbook: the reader sees what is
missing, and a command copied from the message fails at JP1 instead of running on the wrong
unit. The context command is not run at all then (ContextResult says why): a missing value
would shift or drop an argument.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from jp1notify.classify import Classification
from jp1notify.config import Config, Runbook
from jp1notify.event import Event, parse_unit_name
from jp1notify.routing import matches

PLACEHOLDERS = ("service", "jobnet", "unit", "exec_id", "host", "event_id", "date", "time", "root")
PROBLEM_LEVELS = frozenset({"error", "warning"})  # runbooks and context are for these only
MAX_RUNBOOKS = 3  # per message: more would bury the event itself
ROOT_ATTRIBUTE = "ROOT_OBJECT_NAME"  # EV:ROOT_OBJECT_NAME, JP1/AJS3's root jobnet attribute

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class Slot(NamedTuple):
    """A placeholder in a template."""

    name: str


Piece = str | Slot


def parse_template(text: str) -> tuple[Piece, ...]:
    """The literal parts and placeholders of `text`. Raises ValueError with an operator's
    phrase for an unknown placeholder or a brace that is not part of one."""
    pieces: list[Piece] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        token = match[0]
        if token in ("{{", "}}"):
            pieces.append(token[0])
        elif match[1] is None:
            raise ValueError(_stray_brace(token, text, match.start()))
        elif match[1] not in PLACEHOLDERS:
            raise ValueError(_unknown_placeholder(match[1]))
        else:
            pieces.append(Slot(match[1]))
    pieces.append(text[position:])
    return tuple(p for p in pieces if p != "")


def _unknown_placeholder(name: str) -> str:
    import difflib  # config errors only: off the path of every event

    shown = name if len(name) <= 40 else name[:39] + "…"
    hint = difflib.get_close_matches(name, PLACEHOLDERS, n=1) if len(name) < 100 else []
    suggestion = f"; did you mean {{{hint[0]}}}?" if hint else ""
    known = " ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    return f"unknown placeholder {{{shown}}} (known: {known}){suggestion}"


def _stray_brace(brace: str, text: str, at: int) -> str:
    around = text[max(0, at - 15) : at + 16].replace("\n", " ")
    return (
        f"a '{brace}' that opens or closes no placeholder (near {around!r}); write {brace}{brace} "
        "for a literal brace"
    )


def template_problem(text: str) -> str | None:
    """Why `text` is not a usable template, or None."""
    try:
        parse_template(text)
    except ValueError as exc:
        return str(exc)
    return None


def placeholder_values(event: Event) -> dict[str, str | None]:
    """The value of every placeholder for this event; None where the event does not say."""
    return {
        "service": event.unit.service,
        "jobnet": event.jobnet,
        "unit": event.unit.path,
        "exec_id": event.unit.exec_id,
        "host": event.host,
        "event_id": event.event_id,
        "date": event.date,
        "time": event.time,
        "root": root_jobnet(event),
    }


def root_jobnet(event: Event) -> str | None:
    """EV:ROOT_OBJECT_NAME's path (it may carry the service), else the event's jobnet."""
    attribute = event.attributes.get(ROOT_ATTRIBUTE)
    root = parse_unit_name(attribute).path if attribute else None
    return root or event.jobnet


def missing_marker(name: str) -> str:
    return f"{{{name}?}}"


def expand(text: str, values: dict[str, str | None]) -> tuple[str, tuple[str, ...]]:
    """`text` with each placeholder replaced by its value, in one pass (a value holding braces
    is never read as a placeholder), and the names of those without a value (shown as
    `{name?}`). The text must have passed `template_problem`."""
    out: list[str] = []
    missing: list[str] = []
    for piece in parse_template(text):
        if isinstance(piece, str):
            out.append(piece)
            continue
        value = values.get(piece.name)
        if value:
            out.append(value.replace("\0", ""))  # an argv element cannot hold NUL
        else:
            missing.append(piece.name)
            out.append(missing_marker(piece.name))
    return "".join(out), tuple(dict.fromkeys(missing))


def is_problem(classification: Classification) -> bool:
    return classification.level in PROBLEM_LEVELS


def runbooks_for(
    event: Event, classification: Classification, config: Config
) -> tuple[Runbook, ...]:
    """Every runbook whose conditions match a problem event, in file order, at most
    MAX_RUNBOOKS; none for info and success events."""
    if not is_problem(classification):
        return ()
    found = (r for r in config.runbooks if matches(r.matcher, event, classification))
    return tuple(found)[:MAX_RUNBOOKS]


# -- the context command's result, as the store keeps it until a sender renders it -----------


class ContextResult(NamedTuple):
    """What running the context command gave. `text` is its cleaned output (None if it did not
    run or said nothing); `note` a sentence for stderr and the log when something went wrong;
    `code` and `value` the same for the message, which words it in its own language:
    timeout (seconds), exit (exit code), not_found (program), not_started (reason),
    missing (placeholders without a value)."""

    text: str | None
    note: str | None = None
    code: str | None = None
    value: str | None = None

    def dumps(self) -> str:
        return json.dumps(self._asdict(), ensure_ascii=False)

    @classmethod
    def loads(cls, stored: str | None) -> ContextResult | None:
        """The stored result, or None for none or for a value this version cannot read (the
        alert then goes out without it rather than not at all)."""
        if not stored:
            return None
        try:
            data = json.loads(stored)
            values = {k: data.get(k) for k in cls._fields}
        except (ValueError, AttributeError, RecursionError):
            return None
        if not all(v is None or isinstance(v, str) for v in values.values()):
            return None
        return cls(**values)
