"""Unit path patterns: `/PROD/*/DAILY_*`, `/PROD/**`.

A pattern matches the whole unit path. `*` matches within one path segment, `?` one character
of a segment, `**` (a whole segment) any number of segments, including none: `/PROD/**`
matches `/PROD` and everything below it. Unit names never contain `/` or `:` (docs/jp1.md), so
segments are what JP1 calls units.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class PatternError(ValueError):
    """A unit pattern that cannot be compiled; the message says how to write it."""


class UnitPattern(NamedTuple):
    glob: str  # as the operator wrote it
    regex: re.Pattern[str]


def compile_unit_pattern(pattern: str) -> UnitPattern:
    """Translate one unit pattern to an anchored regular expression."""
    return UnitPattern(pattern, re.compile(_translate(pattern)))


def _translate(pattern: str) -> str:
    if pattern == "**":
        return r"(?:/[^/]+)*"
    if not pattern.startswith("/"):
        raise PatternError(
            f"unit pattern {pattern!r} must be a full path starting with '/', e.g. '/PROD/**'"
        )
    parts = []
    for segment in pattern[1:].split("/"):
        if segment == "**":
            parts.append(r"(?:/[^/]+)*")
        elif "**" in segment:
            raise PatternError(
                f"unit pattern {pattern!r}: '**' must be a whole segment ('/A/**/B'); "
                "use '*' within a name"
            )
        elif segment == "":
            raise PatternError(
                f"unit pattern {pattern!r} has an empty segment ('//' or a trailing '/')"
            )
        else:
            parts.append("/" + _segment_regex(segment))
    return "".join(parts)


def _segment_regex(segment: str) -> str:
    out = []
    for char in segment:
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def matches_any(patterns: tuple[UnitPattern, ...], path: str | None) -> bool:
    """True if the unit path matches one of the patterns; an unknown path matches none."""
    return path is not None and any(p.regex.fullmatch(path) for p in patterns)
