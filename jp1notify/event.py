"""The JP1 event: the passing information JP1/AJS3 hands over as environment variables, parsed.

The monitoring job maps each passing item to a variable (`EVMSG=?AJS2EVMSG?`, ...). Values can
arrive missing, empty, truncated, or as the unreplaced placeholder `?AJS2EVMSG?` when the job is
run by hand (docs/jp1.md). Parsing never fails on such values: it keeps what is known and
records what was missing or garbled, so the event is still notified with a visible note.

Hostile input costs linear time and never loses the event: every name and value is repaired to
text that UTF-8 can encode (the store, the log and Slack need it) and cut at JP1's own limit
before anything parses it, and nothing here uses a regular expression that can backtrack
over the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

from jp1notify.catalog import CATALOG, JOB_EVENTS, OWN_EVENTS, EventKind
from jp1notify.errors import EventError

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
# The notifier job's own run, also set by JP1/AJS3 for every job it starts (Command Reference
# 1.4.2, "Environment variables set when a job is executed from JP1/AJS3"): the scheduler
# service, the root jobnet, AJSEXECPID (meaning unconfirmed: probably the generation's execution
# ID) and AJSEXECID (the job execution ID, up to 10 bytes). Each received event starts a new
# generation of the monitoring jobnet, so no two events share them; see Event.dedup_key.
RUN_VARS = ("AJS_AJSCONF", "AJSNETNAME", "AJSEXECPID", "AJSEXECID")
_RUN_IDS = ("AJSEXECPID", "AJSEXECID")  # without one of these the run is not identified
_JOB_VARS = frozenset((SELF_JOB_VAR, *RUN_VARS))

# JP1's limits on passing information, in bytes (docs/jp1.md). Values are cut at as many
# characters: a value within the byte limit is within it in characters too, and nothing longer
# reaches a parser. A cut is a problem, shown on the message.
LIMITS = {
    "EVID": 17,
    "EVMSG": 1023,
    "EVDETAIL": 1023,
    "EVSEV": 11,
    "EVHOST": 255,
    "EVIPADDR": 39,
    "EVUSR": 20,
    "EVGRP": 20,
    "EVPROCESSID": 10,
    "EVDATE": 10,
    "EVTIME": 8,
}
EXTRA_LIMIT = 4085  # EVENV1-9 and EV:<attribute>
UNIT_PATH_LIMIT = 930
JOB_VAR_LIMIT = 961  # the AJS* variables: at most a unit name with its service (30 + 1 + 930)

_ENV_VAR = re.compile(r"EVENV[1-9]")  # text cut out by the filter's regex groups
_PLACEHOLDER = re.compile(r"\?AJS2[A-Z0-9_:.]*\?", re.IGNORECASE)
# `4104:0` is what the field shows; the full form `00004104:00000000` is possible (unconfirmed
# which one each JP1 version passes), so both parse. A bare `4104` is accepted too.
_EVENT_ID = re.compile(r"([0-9A-Fa-f]{1,8})(?::([0-9A-Fa-f]{1,8}))?")
_MESSAGE_ID = re.compile(r"\s*([A-Z]{4}\d{4,5}-[A-Z])\b")
_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
_FORMATS = {"EVDATE": (_DATE, "yyyy/mm/dd"), "EVTIME": (_TIME, "hh:mm:ss")}
# Unit references: `[service:]/full/path[:@execution-ID]`; service 1-30 bytes without white
# space, parentheses, `:` or `/`; unit names never contain `:` or `/` (docs/jp1.md).
_OPEN, _CLOSE = "(（", ")）"
_PAREN = re.compile(r"[()（）]")
_EXEC_ID = re.compile(r"@[0-9A-Za-z]+")
_SERVICE_LIMIT = 30
_NOT_IN_SERVICE = frozenset("():/（）")
# Surrogates: escapes of undecodable bytes (POSIX), and the rest (unpaired UTF-16 halves).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_ESCAPES = "".join(map(chr, range(0xDC80, 0xDD00)))
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


class UnitRef(NamedTuple):
    """`[service:]/full/unit/path[:@execution-ID]`; each part may be unknown."""

    service: str | None = None
    path: str | None = None
    exec_id: str | None = None


class Problem(NamedTuple):
    """A value present but not usable as it came, in no language: `describe_problems` words it.

    Codes: `bad_event_id`, `bad_format` (EVDATE, EVTIME), `no_unit`, `cut` (value: the original
    length), `unit_cut` (idem), `bad_bytes` (not text; replaced), `not_decoded` and
    `stray_words` (the command line's --set options, actionargs.py), `legacy` (value: an
    English sentence stored by an older jp1notify that is not one of these).
    """

    code: str
    var: str  # the variable: "EVDATE", "EV:OBJECT_NAME"
    value: str | None = None


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
    problems: tuple[Problem, ...]  # values present but unusable
    run_id: str | None = None  # the notifier job's own run (RUN_VARS), if JP1 told it

    @property
    def kind(self) -> EventKind | None:
        """The catalogue entry of this event ID, if jp1notify knows it."""
        return CATALOG.get(self.event_id or "") or OWN_EVENTS.get(self.event_id or "")

    @property
    def jobnet(self) -> str | None:
        """The jobnet the event is about: the unit itself, or a job's parent jobnet."""
        path = self.unit.path
        if path and self.event_id in JOB_EVENTS:
            return parent_path(path)
        return path

    @property
    def dedup_key(self) -> str | None:
        """Identity of the event, or None when nothing tells two failures apart.

        The same event recorded twice (two event jobs, a JP1 retry, a re-run of the notifier
        job) has the same key; two different failures never do. The event's own EVDATE and
        EVTIME tell a rerun's second failure from the first (the execution ID stays the same
        across reruns). Without them, the notifier job's run does: each event starts a new
        generation of the monitoring jobnet. Without either, None: never a duplicate.
        Without a unit, the message text stands in for it so that garbled events stay apart;
        without either, date and time alone would merge different jobnets failing in the same
        second, so only the run identity may tell a duplicate.
        """
        what = self.unit.path or self.message
        facts = [
            self.event_id or self.raw_id or "",
            self.host or "",
            self.unit.service or "",
            what or "",
            self.unit.exec_id or "",
        ]
        if self.date and self.time and what:
            return "|".join([*facts, self.date, self.time])
        if self.run_id:
            return "|".join([*facts, "run", self.run_id])
        return None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (dry run, logs, the store)."""
        data = self._asdict()
        data["unit"] = self.unit._asdict()
        data["problems"] = [problem._asdict() for problem in self.problems]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict, for events read back from the store, also those stored by an
        older jp1notify (no run_id, problems as English sentences); keys it does not know (a
        newer jp1notify's) are left out."""
        values = {k: v for k, v in data.items() if k in cls._fields}
        values["unit"] = UnitRef(**{k: v for k, v in data["unit"].items() if k in UnitRef._fields})
        values["missing"] = tuple(values["missing"])
        values["problems"] = tuple(_problem_from_json(p) for p in values["problems"])
        return cls(**values)


def parse_event(environ: Mapping[str, str]) -> Event:
    """Read a JP1 event from environment variables. Raises EventError only if nothing is usable.

    Every string of the returned Event can be encoded as UTF-8, whatever the environment held.
    """
    problems: list[Problem] = []
    values = _event_values(environ, problems)
    if "EVID" not in values and "EVMSG" not in values:
        raise EventError(
            "no JP1 event in the environment: EVID and EVMSG are both missing or unreplaced "
            "(?AJS2EVID?). In the notifier job's definition, map the event job's passing "
            "information to environment variables: EVID=?AJS2EVID?, EVMSG=?AJS2EVMSG?, ... "
            "(README: 'JP1 setup')."
        )
    event_id, extended_id = _parse_event_id(values.get("EVID"), problems)
    unit = _find_unit(values, problems)
    for var, (pattern, _) in _FORMATS.items():
        if var in values and not pattern.fullmatch(values[var]):
            problems.append(Problem("bad_format", var, values[var]))
    match = _MESSAGE_ID.match(values.get("EVMSG", ""))
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
        run_id=_run_id(values),
        **{field: values.get(var) for var, field in FIELDS.items()},
    )


def _event_values(environ: Mapping[str, str], problems: list[Problem]) -> dict[str, str]:
    """The event's variables, repaired and cut, with placeholders and blank values dropped."""
    values: dict[str, str] = {}
    for name, raw in environ.items():
        key = _event_key(name)
        if key is None:
            continue
        key, bad_name = _as_text(key)
        value, bad_value = _as_text(raw)
        value = value.strip()
        if not value or _PLACEHOLDER.fullmatch(value):
            continue
        if bad_name or bad_value:
            problems.append(Problem("bad_bytes", key))
        limit = _limit(key)
        if len(value) > limit:
            problems.append(Problem("cut", key, str(len(value))))
            value = value[:limit]
        values[key] = value
    return values


def _event_key(name: str) -> str | None:
    """The name jp1notify files a variable under, or None if it does not read it.

    Windows variable names are case-insensitive, so names are compared in upper case, except
    the attribute part of `EV:name`, which keeps its case.
    """
    if name[:3].upper() == "EV:":
        return "EV:" + name[3:]
    if not name.isascii():  # "ſ".upper() is "S": only ASCII names are standard ones
        return None
    upper = name.upper()
    if upper in FIELDS or upper in _JOB_VARS or _ENV_VAR.fullmatch(upper):
        return upper
    return None


def _limit(key: str) -> int:
    if key in LIMITS:
        return LIMITS[key]
    return JOB_VAR_LIMIT if key in _JOB_VARS else EXTRA_LIMIT


def _as_text(value: str) -> tuple[str, bool]:
    """A value that can be encoded as UTF-8, and whether characters had to be replaced.

    On Windows os.environ is already Unicode, but may hold unpaired UTF-16 surrogates: they
    become U+FFFD. On a POSIX agent, bytes that are not valid in the locale arrive as surrogate
    escapes (`_decode_escaped`).
    """
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        pass
    lone = _LONE_SURROGATE.search(value) is not None
    value = _LONE_SURROGATE.sub("\ufffd", value)
    if not _ESCAPED_BYTE.search(value):
        return value, lone
    text, replaced = _decode_escaped(value)
    return text, lone or replaced


def _decode_escaped(value: str) -> tuple[str, bool]:
    """Text from a value holding surrogate escapes of bytes, and whether any were replaced.

    A UTF-8 value cut inside its last character (JP1 cuts at a byte limit) loses that
    character. Otherwise the bytes are read as CP932, what JP1 hosts in Japan use; if they are
    not CP932 either, as UTF-8 if most of the non-ASCII bytes are valid UTF-8, else as CP932,
    what neither decodes replaced.
    """
    raw = value.encode("utf-8", "surrogateescape")  # the bytes as they came
    head = value.rstrip(_ESCAPES)
    if not _ESCAPED_BYTE.search(head) and _is_cut_utf8(raw[len(head.encode("utf-8")) :]):
        return head + "\ufffd", True
    try:
        return raw.decode("cp932"), False
    except UnicodeDecodeError:
        pass
    escaped = len(value) - len(head) + len(_ESCAPED_BYTE.findall(head))
    multibyte = len(raw) - len(value.encode("ascii", "ignore")) - escaped
    return raw.decode("utf-8" if multibyte > escaped else "cp932", "replace"), True


def _is_cut_utf8(tail: bytes) -> bool:
    """True if `tail` is the start of one UTF-8 character, without its end."""
    if not tail or not 0xC2 <= tail[0] <= 0xF4:
        return False
    length = 2 if tail[0] < 0xE0 else 3 if tail[0] < 0xF0 else 4
    return len(tail) < length and all(0x80 <= b <= 0xBF for b in tail[1:])


def _run_id(values: Mapping[str, str]) -> str | None:
    """The notifier job's run, `AJS_AJSCONF=...;AJSEXECID=...`, if JP1 identified it."""
    if not any(var in values for var in _RUN_IDS):
        return None
    return ";".join(f"{var}={values[var]}" for var in RUN_VARS if var in values)


def _parse_event_id(raw: str | None, problems: list[Problem]) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    match = _EVENT_ID.fullmatch(raw)
    if not match:
        problems.append(Problem("bad_event_id", "EVID", raw))
        return None, None
    basic, extended = match.groups()
    return normalize_event_id(basic), normalize_event_id(extended) if extended else None


def normalize_event_id(code: str) -> str:
    """`00004104` and `4104` both become `4104`; hex digits are upper-cased."""
    return f"{int(code, 16):04X}"


def _find_unit(values: Mapping[str, str], problems: list[Problem]) -> UnitRef:
    """The unit from EVMSG, else from EV:OBJECT_NAME; its path cut at JP1's limit."""
    message = values.get("EVMSG")
    unit, source = (parse_unit_in_message(message) if message else UnitRef()), "EVMSG"
    if unit.path is None and "EV:OBJECT_NAME" in values:
        unit, source = parse_unit_name(values["EV:OBJECT_NAME"]), "EV:OBJECT_NAME"
    if message and unit.path is None:
        problems.append(Problem("no_unit", "EVMSG"))
    if unit.path and len(unit.path) > UNIT_PATH_LIMIT:
        problems.append(Problem("unit_cut", source, str(len(unit.path))))
        unit = unit._replace(path=unit.path[:UNIT_PATH_LIMIT])
    return unit


# -- unit references ---------------------------------------------------------------------------
# The text is split at `:`, which no service, unit name or execution ID contains, and each part
# is looked at a fixed number of times: linear in the length of the text. (A regular expression
# with a lazy path up to `:@` rescanned the rest of the message from every parenthesis.)


def parse_unit_in_message(message: str) -> UnitRef:
    """Find the `(service:/path:@exec)` unit reference in a JP1/AJS3 message.

    Service and execution ID are optional; full-width parentheses count. The leftmost reference
    with an execution ID wins: its path runs up to `:@`, so unit names containing parentheses
    still parse. Else the leftmost one without, whose path stops at the first parenthesis.
    """
    parts = message.split(":")
    return _unit_with_exec(parts) or _unit_plain(parts) or UnitRef()


def _unit_with_exec(parts: list[str]) -> UnitRef | None:
    """`(/path:@ID)` opening in parts[i], or `(service:/path:@ID)` opening in parts[i]."""
    exec_ids = {j: e for j, p in enumerate(parts) if p[:1] == "@" and (e := _exec_closing(p))}
    for i in sorted({j - k for j in exec_ids for k in (1, 2) if j >= k}):
        part, found = parts[i], []
        start = _open_before_slash(part)
        if start >= 0 and i + 1 in exec_ids:
            found.append((start, UnitRef(None, part[start + 1 :], exec_ids[i + 1])))
        start = _service_start(part)
        if start >= 0 and i + 2 in exec_ids and parts[i + 1][:1] == "/":
            found.append((start, UnitRef(part[start + 1 :], parts[i + 1], exec_ids[i + 2])))
        if found:
            return min(found)[1]
    return None


def _unit_plain(parts: list[str]) -> UnitRef | None:
    """`(/path)` within parts[i], or `(service:/path)` opening in parts[i]; no `:` in the path."""
    for i, part in enumerate(parts):
        if "(" not in part and "（" not in part:
            continue
        found: list[tuple[int, UnitRef]] = []
        inner = _first_parenthesised_path(part)
        if inner:
            found.append((inner[0], UnitRef(None, inner[1], None)))
        start = _service_start(part)
        if start >= 0 and i + 1 < len(parts) and parts[i + 1][:1] == "/":
            closing = _PAREN.search(parts[i + 1])
            if closing and closing[0] in _CLOSE:
                path = parts[i + 1][: closing.start()]
                found.append((start, UnitRef(part[start + 1 :], path, None)))
        if found:
            return min(found)[1]
    return None


def _open_before_slash(part: str) -> int:
    """The position of the first `(/` or `（/` in part, or -1."""
    found = [p for p in (part.find("(/"), part.find("（/")) if p >= 0]
    return min(found, default=-1)


def _service_start(part: str) -> int:
    """The position of the parenthesis opening a scheduler service that ends `part`, or -1."""
    start = max(part.rfind(c) for c in "()（）")
    if start < 0 or part[start] not in _OPEN or not _is_service(part[start + 1 :]):
        return -1
    return start


def _is_service(text: str) -> bool:
    return 0 < len(text) <= _SERVICE_LIMIT and not any(
        c in _NOT_IN_SERVICE or c.isspace() for c in text
    )


def _exec_closing(part: str) -> str | None:
    """The execution ID `@A100` at the start of part if a closing parenthesis follows it."""
    match = _EXEC_ID.match(part)
    after = part[match.end() : match.end() + 1] if match else ""
    return match[0] if match and after and after in _CLOSE else None


def _first_parenthesised_path(part: str) -> tuple[int, str] | None:
    """The first `(/path)` in a part (no parenthesis inside): its position and path."""
    parens = [(m.start(), m[0]) for m in _PAREN.finditer(part)]
    for (start, opening), (end, closing) in zip(parens, parens[1:], strict=False):
        if opening in _OPEN and closing in _CLOSE and part.startswith("/", start + 1):
            return start, part[start + 1 : end]
    return None


def parse_unit_name(text: str) -> UnitRef:
    """Parse a bare unit reference such as `AJSROOT1:/grp/net:@A100` or `/grp/net`."""
    parts = text.strip().split(":")
    service = exec_id = None
    if len(parts) == 3 or (len(parts) == 2 and not parts[0].startswith("/")):
        service = parts.pop(0)
        if not _is_service(service):
            return UnitRef()
    if len(parts) == 2:
        exec_id = parts.pop()
        if not _EXEC_ID.fullmatch(exec_id):
            return UnitRef()
    if len(parts) != 1 or not parts[0].startswith("/"):
        return UnitRef()
    return UnitRef(service, parts[0], exec_id)


def parent_path(path: str) -> str:
    """`/grp/net/job` -> `/grp/net`; the root `/grp` -> `/grp`."""
    head = path.rsplit("/", 1)[0]
    return head or path


# -- problems, in words ------------------------------------------------------------------------

QUOTE_LIMIT = 60  # characters of an offending value quoted in a note
_QUOTES = {"en": ("'", "'"), "ja": ("「", "」")}
_PROBLEM_TEXTS = {
    "en": {
        "missing": "missing: {vars}",
        "bad_event_id": "{var} {value} is not a JP1 event ID (expected e.g. 4104:0)",
        "bad_format": "{var} {value} is not in JP1's format ({format})",
        "no_unit": "no unit name (/path) found in {var}",
        "cut": "{var} was cut to JP1's limit of {limit} characters (it had {value})",
        "unit_cut": "the unit path in {var} was cut to {limit} characters (it had {value})",
        "bad_bytes": "{var} held bytes that are not text; they are shown as \ufffd",
        "not_decoded": "{var} is not valid {value}; it is shown as it came",
        "stray_words": "the command line had words outside any --set: {value} "
        "(a quote in a value ends its argument: use --set-b64)",
        "legacy": "{value}",
        "unknown": "{var}: {code}",
    },
    "ja": {
        "missing": "欠落: {vars}",
        "bad_event_id": "{var} の値 {value} は JP1 のイベントIDではありません（例: 4104:0）",
        "bad_format": "{var} の値 {value} は JP1 の形式（{format}）ではありません",
        "no_unit": "{var} にユニット名（/パス）が見つかりません",
        "cut": "{var} は JP1 の上限 {limit} 文字で切り詰めました（元は {value} 文字）",
        "unit_cut": "{var} のユニットパスは {limit} 文字で切り詰めました（元は {value} 文字）",
        "bad_bytes": "{var} に文字として読めないバイトがあり、\ufffd で表示しています",
        "not_decoded": "{var} は {value} として読めないため、受け取ったまま表示しています",
        "stray_words": "コマンドラインに --set 以外の語がありました: {value}"
        "（値の中の引用符で引数が切れています。--set-b64 を使ってください）",
        "legacy": "{value}",
        "unknown": "{var}: {code}",
    },
}


def describe_problems(event: Event, language: str) -> list[str]:
    """The event's missing variables and problems as sentences in "en" or "ja" (the Notes)."""
    language = language if language in _PROBLEM_TEXTS else "en"
    texts = _PROBLEM_TEXTS[language]
    lines = [texts["missing"].format(vars=", ".join(event.missing))] if event.missing else []
    for problem in event.problems:
        template = texts.get(problem.code, texts["unknown"])
        lines.append(template.format(**_wording_values(problem, language)))
    return lines


def _wording_values(problem: Problem, language: str) -> dict[str, object]:
    code, var, value = problem
    limit = UNIT_PATH_LIMIT if code == "unit_cut" else _limit(var)
    if code in ("bad_event_id", "bad_format", "stray_words"):
        value = quote(value or "", language)
    return {
        "code": code,
        "var": var,
        "value": value,
        "limit": limit,
        "format": _FORMATS[var][1] if var in _FORMATS else "",
    }


def quote(value: str, language: str) -> str:
    """A value quoted in a note, cut to QUOTE_LIMIT characters."""
    if len(value) > QUOTE_LIMIT:
        value = value[: QUOTE_LIMIT - 1] + "…"
    opening, closing = _QUOTES.get(language, _QUOTES["en"])
    return opening + value + closing


# Problems as stored by jp1notify before they had codes: English sentences.
_LEGACY_FORMS = (
    (r"(EVID) (.*) is not a JP1 event ID \(expected e\.g\. 4104:0\)", "bad_event_id"),
    (r"(EVDATE|EVTIME) (.*) is not in JP1's format", "bad_format"),
    (r"no unit name \(/path\) found in (EVMSG)()", "no_unit"),
)


def _problem_from_json(item: Any) -> Problem:
    """A stored problem: {"code", "var", "value"}, or an older jp1notify's English sentence."""
    if isinstance(item, dict):
        return Problem(str(item.get("code", "")), str(item.get("var", "")), item.get("value"))
    if not isinstance(item, str):
        return Problem(*item)
    for form, code in _LEGACY_FORMS:
        match = re.fullmatch(form, item)
        if match:
            return Problem(code, match[1], _unrepr(match[2]) if match[2] else None)
    return Problem("legacy", "", item)


def _unrepr(text: str) -> str:
    """The value inside Python's repr quotes (escapes kept: a note only shows it)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def event_datetime(event: Event, zone: tzinfo | None) -> datetime | None:
    """EVDATE + EVTIME as an aware datetime in the manager's zone, or None if unusable."""
    return parse_event_time(event.date, event.time, zone)


# What datetime.strptime(..., "%Y/%m/%d %H:%M:%S") accepts, without importing _strptime and
# locale (~4 ms a start): its own patterns (CPython Lib/_strptime.py, TimeRE), so a day may be
# space-padded ("2026/11/ 5") and only the year takes any Unicode digit; any whitespace between
# date and time.
_EVENT_TIME = re.compile(
    r"(\d\d\d\d)/(1[0-2]|0[1-9]|[1-9])/(3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])"
    r"\s+(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)"
)


def parse_event_time(date: str | None, time: str | None, zone: tzinfo | None) -> datetime | None:
    """`2026/11/22` + `02:13:05` in `zone` (None: this machine's zone), or None if unusable."""
    if not date or not time:
        return None
    found = _EVENT_TIME.fullmatch(f"{date} {time}")
    try:
        naive = datetime(*map(int, found.groups())) if found else None
    except ValueError:  # 2026/02/30, 25:00:00
        return None
    if naive is None:
        return None
    return naive.replace(tzinfo=zone) if zone else naive.astimezone()
