"""The JP1 event on the command line: `send --set NAME=VALUE`, `--set-b64`, `--set-url`.

JP1/IM automated actions (actdef.conf `cmd`) and JP1/Base local actions (jbslcact.conf `cmd`)
run one command per JP1 event with the event's values substituted into the command line as
`$EVMSG`, `$EVID`, ... (JP1/IM - Manager Overview and System Design Guide 6.3.4,
https://itpfdoc.hitachi.co.jp/manuals/3021/30213L0200e/IMDS0247.HTM), not in environment
variables as a JP1/AJS3 job gets them. `--set EVMSG=$EVMSG` hands them over under the names
`event.parse_event` reads, so dedup, routing and everything after it stay the same.

A substituted value is hostile text on a command line: a double quote ends its argument, `%`
is expanded by cmd.exe, line breaks and `&|<>^` are the shell's. JP1/IM can URL- or
Base64-encode a value for the action (same page, "Encoding of event inheritance information";
the exact variable syntax and the character encoding of the bytes could not be read there:
unconfirmed), so `--set-b64 NAME=VALUE` and `--set-url NAME=VALUE` decode it. The decoded
bytes are read like a POSIX environment's (UTF-8, else CP932, what neither decodes becomes
U+FFFD with a note: `event._as_text`).

Bad input loses nothing: a value that does not decode is used as it came, with a note on the
message, and words that belong to no option (a quote inside a value split the command line)
are noted, never a reason to drop the alert. Only a mistake in the action definition itself
(no `=`, a name jp1notify does not read) is a usage error, seen on the first test run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple

from jp1notify.errors import EventError, SettingError
from jp1notify.event import FIELDS, Event, Problem, parse_event


class Encoding(StrEnum):
    """How a value was given on the command line."""

    PLAIN = "plain"  # --set
    BASE64 = "base64"  # --set-b64
    URL = "url"  # --set-url


# The options, in the order `send --help` shows them.
OPTIONS = {"--set": Encoding.PLAIN, "--set-b64": Encoding.BASE64, "--set-url": Encoding.URL}
_OPTION_OF = {encoding: option for option, encoding in OPTIONS.items()}
_NAMES_IN_WORDS = {Encoding.BASE64: "Base64", Encoding.URL: "URL encoding"}

_EXTRA = re.compile(r"EVENV[1-9]")
_ATTRIBUTE = re.compile(r"EV:[^\s=]+", re.IGNORECASE)
ALLOWED = ", ".join([*FIELDS, "EVENV1..EVENV9", "EV:<extended attribute>"])
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_WHITE = re.compile(r"\s+")
# JP1 turns control characters into spaces in what it substitutes (destinations.md 6.3); an
# encoded value bypasses that, so decoded ones get the same (NUL, ESC: no terminal escape
# sequence reaches stderr or the log), line breaks and tabs kept as the environment keeps them.
_CONTROLS = {c: " " for c in [*range(0x20), 0x7F] if chr(c) not in "\t\n\r"}


def after_settings(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """`argv` split into what the option parser reads and stray words: from the first --set on,
    only --set options and their values. A value split by its quote (`--set "EVMSG=$EVMSG"`,
    the message holding `" --dry-run "`, `" -h "` or `" --config <another file> "`) must not
    become an option that sends nothing or sends elsewhere: such words are stray words."""
    start = next((i for i, word in enumerate(argv) if _is_set_option(word)), len(argv))
    kept, stray = list(argv[:start]), []
    words = iter(argv[start:])
    for word in words:
        if word in OPTIONS:
            value = next(words, None)
            kept += [word] if value is None else [word, value]
        elif _is_set_option(word):
            kept.append(word)
        else:
            stray.append(word)
    return kept, stray


def _is_set_option(word: str) -> bool:
    return word in OPTIONS or word.startswith(tuple(f"{option}=" for option in OPTIONS))


class Setting(NamedTuple):
    """One `--set NAME=VALUE`: the variable's name as parse_event files it, the value as given."""

    name: str
    value: str
    encoding: Encoding


def parse_setting(text: str, encoding: Encoding) -> Setting:
    """`NAME=VALUE`, split at the first `=` (a value may hold more); the name checked."""
    name, equals, value = text.partition("=")
    if not equals:
        raise SettingError(
            f"expected NAME=VALUE, found {text[:40]!r}; "
            "in the action definition write e.g. EVID=$EVID"
        )
    key = variable_name(name)
    if key is None:
        raise SettingError(
            f"{name[:40]!r} is not a JP1 event variable jp1notify reads (allowed: {ALLOWED})"
        )
    return Setting(key, value, encoding)


def variable_name(name: str) -> str | None:
    """The name parse_event files a variable under (`evmsg` -> `EVMSG`), or None if it reads
    no such variable. Like Windows environment names, the standard ones ignore case; the
    attribute part of `EV:name` keeps its case."""
    if _ATTRIBUTE.fullmatch(name):
        return "EV:" + name[3:]
    upper = name.upper() if name.isascii() else name
    if upper in FIELDS or _EXTRA.fullmatch(upper):
        return upper
    return None


def event_from_settings(settings: Sequence[Setting], stray: Iterable[str] = ()) -> Event:
    """The event the --set options describe; the environment's EV* variables are not read.

    The first --set of a name wins; a repeat is a stray word. A hostile value split by its
    quote (`--set "EVMSG=$EVMSG"` last, the message holding `" --set EVID=4103:0 "`) must not
    override what the action definition set before it. Values that did not decode, and stray
    words, become notes (Problems) on the event. Raises EventError if neither EVID nor EVMSG
    has a value.
    """
    values: dict[str, str] = {}
    problems: list[Problem] = []
    repeats: list[str] = []
    for setting in settings:
        if setting.name in values:
            repeats.append(f"{_OPTION_OF[setting.encoding]} {setting.name}={setting.value}")
            continue
        value, problem = decode(setting)
        values[setting.name] = value
        problems += [problem] if problem else []
    words = " ".join([*stray, *repeats])
    if words:
        problems.append(Problem("stray_words", "", words))
    try:
        event = parse_event(values)
    except EventError:
        raise EventError(
            "no JP1 event on the command line: EVID and EVMSG are both missing or empty. In "
            "the action definition pass at least --set EVID=$EVID and the message, e.g. "
            "--set-b64 EVMSG=<EVMSG Base64-encoded by JP1> (docs/operators.md: 'JP1/IM "
            "automated actions and JP1/Base local actions')."
        ) from None
    return event._replace(problems=(*event.problems, *problems))


def decode(setting: Setting) -> tuple[str, Problem | None]:
    """The value as text parse_event can read, or the value as given and a note if it does
    not decode (JP1 passed it unencoded, or the definition names the wrong option)."""
    if setting.encoding is Encoding.PLAIN:
        return setting.value, None
    try:
        raw = _base64(setting.value) if setting.encoding is Encoding.BASE64 else _url(setting.value)
    except ValueError:
        return setting.value, Problem(
            "not_decoded", setting.name, _NAMES_IN_WORDS[setting.encoding]
        )
    # Bytes not valid UTF-8 stay as surrogate escapes, which parse_event repairs (CP932, ...).
    return raw.decode("utf-8", "surrogateescape").translate(_CONTROLS), None


def _base64(text: str) -> bytes:
    """Standard or URL-safe Base64; white space ignored (JP1 turns line breaks into spaces),
    missing padding tolerated. Raises ValueError (binascii.Error) on anything else."""
    import base64

    compact = _WHITE.sub("", text).replace("-", "+").replace("_", "/").rstrip("=")
    if len(compact) % 4 == 1:
        raise ValueError("not Base64: one character too many")
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


def _url(text: str) -> bytes:
    """Percent-encoding; `+` is a space (HTML form encoding, as Java's URLEncoder writes it:
    which form JP1 uses is unconfirmed, and both write a real `+` as %2B). A `%` without two
    hex digits is not URL encoding: ValueError."""
    from urllib.parse import unquote_to_bytes

    if _BAD_PERCENT.search(text):
        raise ValueError("not URL encoding: a % without two hex digits")
    return unquote_to_bytes(text.replace("+", " "))
