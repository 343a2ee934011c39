"""The JP1 event: the passing information JP1/AJS3 hands over as environment variables, parsed.

The monitoring job maps each passing item to a variable (`EVMSG=?AJS2EVMSG?`, ...). Values can
arrive missing, empty, truncated, or as the unreplaced placeholder `?AJS2EVMSG?` when the job is
run by hand (docs/jp1.md). Parsing never fails on such values: it keeps what is known and
records what was missing or garbled, so the event is still notified with a visible note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from jp1notify.catalog import CATALOG, JOB_EVENTS, EventKind

# The variables jp1notify reads by name; EVENV1-9 and EV:<attribute> are collected as well.
FIELDS = {
    "EVID": "raw_id",
    "EVMSG": "message",
    "EVDATE": "date",
    "EVTIME": "time",
    "EVHOST": "host",
    "EVIPADDR": "ip",
    "EVSEV": "severity",
    "EVDETAIL": "detail",
    "EVUSR": "user",
    "EVGRP": "group",
    "EVPROCESSID": "process_id",
}
# Missing ones of these get a note on the Slack message; the rest are optional.
EXPECTED = ("EVID", "EVMSG", "EVDATE", "EVTIME", "EVHOST", "EVIPADDR")

# JP1/AJS3 sets AJSJOBNAME to the running job's unit name for every job it starts; jp1notify uses
# it to recognise events about its own monitoring jobnet (the loop guard in routing).
SELF_JOB_VAR = "AJSJOBNAME"

_ENV_VAR = re.compile(r"EVENV[1-9]")  # text cut out by the filter's regex groups
_PLACEHOLDER = re.compile(r"\?AJS2[A-Z0-9_:.]*\?", re.IGNORECASE)
# `4104:0` is what the field shows; the full form `00004104:00000000` is possible (unconfirmed
# which one each JP1 version passes), so both parse. A bare `4104` is accepted too.
_EVENT_ID = re.compile(r"([0-9A-Fa-f]{1,8})(?::([0-9A-Fa-f]{1,8}))?")
_MESSAGE_ID = re.compile(r"\s*([A-Z]{4}\d{4,5}-[A-Z])\b")
_SERVICE = r"[^\s():/（）]{1,30}"
# Unit reference inside the message: `(SERVICE:/full/path:@EXECID)`, service and exec ID optional.
# With an exec ID the path runs up to `:@`, so unit names containing parentheses still parse;
# without one the path stops at the first closing parenthesis. Full-width parentheses also match.
_UNIT_WITH_EXEC = re.compile(
    rf"[(（](?:(?P<service>{_SERVICE}):)?(?P<path>/[^:]*?):(?P<exec>@[0-9A-Za-z]+)[)）]"
)
_UNIT_PLAIN = re.compile(rf"[(（](?:(?P<service>{_SERVICE}):)?(?P<path>/[^:()（）]*)[)）]")
_UNIT_NAME = re.compile(
    rf"(?:(?P<service>{_SERVICE}):)?(?P<path>/[^:]*)(?::(?P<exec>@[0-9A-Za-z]+))?"
)
_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")


class EventError(Exception):
    """The environment holds no usable JP1 event at all."""


class UnitRef(NamedTuple):
    """`[service:]/full/unit/path[:@execution-ID]`; each part may be unknown."""

    service: str | None = None
    path: str | None = None
    exec_id: str | None = None


class Event(NamedTuple):
    """One JP1 event as jp1notify understood it. Strings are None when missing."""

    event_id: str | None  # basic code, upper-case hex, at least four digits: "4104", "410A"
    extended_id: str | None
    raw_id: str | None
    message: str | None
    message_id: str | None  # "KAVS0262-E"
    date: str | None  # yyyy/mm/dd, the JP1 manager's local date
    time: str | None  # hh:mm:ss
    host: str | None
    ip: str | None
    severity: str | None
    detail: str | None
    user: str | None
    group: str | None
    process_id: str | None
    unit: UnitRef
    env: dict[str, str]  # EVENV1..EVENV9
    attributes: dict[str, str]  # EV:<name> extended attributes, by name
    self_job: str | None  # AJSJOBNAME of the notifier job itself
    missing: tuple[str, ...]  # expected variables that were absent or unreplaced
    problems: tuple[str, ...]  # values present but unusable, as sentences

    @property
    def kind(self) -> EventKind | None:
        """The catalogue entry of this event ID, if jp1notify knows it."""
        return CATALOG.get(self.event_id or "")

    @property
    def jobnet(self) -> str | None:
        """The jobnet the event is about: the unit itself, or a job's parent jobnet."""
        path = self.unit.path
        if path and self.event_id in JOB_EVENTS:
            return parent_path(path)
        return path

    @property
    def dedup_key(self) -> str:
        """Identity of the event: the same event recorded twice (two event jobs, a JP1 retry,
        a re-run of the notifier job) has the same key. Without a unit, the message text
        stands in for it so that different garbled events stay apart."""
        parts = [
            self.event_id or self.raw_id or "",
            self.host or "",
            self.unit.service or "",
            self.unit.path or (self.message or ""),
            self.unit.exec_id or "",
            self.date or "",
            self.time or "",
        ]
        return "|".join(parts)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (dry run, logs, the store)."""
        data = self._asdict()
        data["unit"] = self.unit._asdict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict, for events read back from the store."""
        values = dict(data)
        values["unit"] = UnitRef(**values["unit"])
        values["missing"] = tuple(values["missing"])
        values["problems"] = tuple(values["problems"])
        return cls(**values)


def parse_event(environ: Mapping[str, str]) -> Event:
    """Read a JP1 event from environment variables. Raises EventError only if nothing is usable."""
    values = _event_values(environ)
    if "EVID" not in values and "EVMSG" not in values:
        raise EventError(
            "no JP1 event in the environment: EVID and EVMSG are both missing or unreplaced "
            "(?AJS2EVID?). In the notifier job's definition, map the event job's passing "
            "information to environment variables: EVID=?AJS2EVID?, EVMSG=?AJS2EVMSG?, ... "
            "(README: 'JP1 setup')."
        )
    problems: list[str] = []
    event_id, extended_id = _parse_event_id(values.get("EVID"), problems)
    message = values.get("EVMSG")
    unit = parse_unit_in_message(message) if message else UnitRef()
    if unit.path is None and "EV:OBJECT_NAME" in values:
        unit = parse_unit_name(values["EV:OBJECT_NAME"])
    if message and unit.path is None:
        problems.append("no unit name (/path) found in EVMSG")
    for var, pattern in (("EVDATE", _DATE), ("EVTIME", _TIME)):
        if var in values and not pattern.fullmatch(values[var]):
            problems.append(f"{var} {values[var]!r} is not in JP1's format")
    match = _MESSAGE_ID.match(message or "")
    return Event(
        event_id=event_id,
        extended_id=extended_id,
        message_id=match.group(1) if match else None,
        unit=unit,
        env={k: v for k, v in values.items() if _ENV_VAR.fullmatch(k)},
        attributes={k[3:]: v for k, v in values.items() if k.startswith("EV:")},
        self_job=values.get(SELF_JOB_VAR),
        missing=tuple(var for var in EXPECTED if var not in values),
        problems=tuple(problems),
        **{field: values.get(var) for var, field in FIELDS.items()},
    )


def _event_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The event's variables with placeholders and blank values dropped.

    Windows variable names are case-insensitive, so names are compared in upper case, except
    the attribute part of `EV:name`, which keeps its case.
    """
    values: dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper.startswith("EV:"):
            key = "EV:" + name[3:]
        elif upper in FIELDS or upper == SELF_JOB_VAR or _ENV_VAR.fullmatch(upper):
            key = upper
        else:
            continue
        value = _as_text(value).strip()
        if value and not _PLACEHOLDER.fullmatch(value):
            values[key] = value
    return values


def _as_text(value: str) -> str:
    """A value that can be encoded as UTF-8 for Slack.

    On Windows os.environ is already Unicode. On a POSIX agent, bytes that are not valid in the
    locale arrive as surrogate escapes; JP1 hosts in Japan use Shift_JIS (CP932), so those bytes
    are read as CP932 and, failing that, replaced.
    """
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that are not escapes
        return value.encode("utf-8", "replace").decode("utf-8")
    try:
        return raw.decode("cp932")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _parse_event_id(raw: str | None, problems: list[str]) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    match = _EVENT_ID.fullmatch(raw)
    if not match:
        problems.append(f"EVID {raw!r} is not a JP1 event ID (expected e.g. 4104:0)")
        return None, None
    basic, extended = match.groups()
    return normalize_event_id(basic), normalize_event_id(extended) if extended else None


def normalize_event_id(code: str) -> str:
    """`00004104` and `4104` both become `4104`; hex digits are upper-cased."""
    return f"{int(code, 16):04X}"


def parse_unit_in_message(message: str) -> UnitRef:
    """Find the `(service:/path:@exec)` unit reference in a JP1/AJS3 message."""
    match = _UNIT_WITH_EXEC.search(message) or _UNIT_PLAIN.search(message)
    if not match:
        return UnitRef()
    groups = match.groupdict()
    return UnitRef(groups["service"], groups["path"], groups.get("exec"))


def parse_unit_name(text: str) -> UnitRef:
    """Parse a bare unit reference such as `AJSROOT1:/grp/net:@A100` or `/grp/net`."""
    match = _UNIT_NAME.fullmatch(text.strip())
    if not match:
        return UnitRef()
    return UnitRef(match["service"], match["path"], match["exec"])


def parent_path(path: str) -> str:
    """`/grp/net/job` -> `/grp/net`; the root `/grp` -> `/grp`."""
    head = path.rsplit("/", 1)[0]
    return head or path
