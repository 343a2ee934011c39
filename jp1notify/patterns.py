"""Unit path patterns: `/PROD/*/DAILY_*`, `/PROD/**`.

A pattern matches the whole unit path. `*` matches within one path segment, `?` one character
of a segment, `**` (a whole segment) any number of segments, including none: `/PROD/**`
matches `/PROD` and everything below it. Unit names never contain `/` or `:` (docs/jp1.md), so
segments are what JP1 calls units.

Matching never uses regular expressions: a pattern like `/PROD/*a*a*a*a*a*a*a*b` made Python's
backtracking `re` take minutes on an 80-character name. Both levels use the greedy wildcard
algorithm instead (the text between two stars is placed at its leftmost fit; a star only ever
grows), which is O(len(pattern) x len(path)) at worst and about linear in practice.
"""

from __future__ import annotations

from typing import NamedTuple

from jp1notify.errors import PatternError

_ANY_SEGMENTS = "**"

# A compiled segment: the glob split at `*`, e.g. `DAILY_*` -> ("DAILY_", ""). One chunk means
# no star. None stands for a `**` segment.
Segment = tuple[str, ...] | None


class UnitPattern(NamedTuple):
    glob: str  # as the operator wrote it
    segments: tuple[Segment, ...]

    def matches(self, path: str | None) -> bool:
        """True if the whole unit path matches; an unknown path matches nothing."""
        if path is None:
            return False
        if path == "":
            names: list[str] = []
        elif path.startswith("/"):
            names = path[1:].split("/")
        else:
            return False
        return _match_names(self.segments, names)


def compile_unit_pattern(pattern: str) -> UnitPattern:
    """Check one unit pattern and split it into segments; raises PatternError."""
    if pattern == _ANY_SEGMENTS:
        return UnitPattern(pattern, (None,))
    if not pattern.startswith("/"):
        raise PatternError(
            f"unit pattern {pattern!r} must be a full path starting with '/', e.g. '/PROD/**'"
        )
    return UnitPattern(pattern, tuple(_compile_segment(pattern, s) for s in pattern[1:].split("/")))


def _compile_segment(pattern: str, segment: str) -> Segment:
    if segment == _ANY_SEGMENTS:
        return None
    if _ANY_SEGMENTS in segment:
        raise PatternError(
            f"unit pattern {pattern!r}: '**' must be a whole segment ('/A/**/B'); "
            "use '*' within a name"
        )
    if segment == "":
        raise PatternError(
            f"unit pattern {pattern!r} has an empty segment ('//' or a trailing '/')"
        )
    return tuple(segment.split("*"))


def matches_any(patterns: tuple[UnitPattern, ...], path: str | None) -> bool:
    """True if the unit path matches one of the patterns; an unknown path matches none."""
    return path is not None and any(p.matches(path) for p in patterns)


# -- segments: `**` is the star, each other segment a glob matched against one name -----------


def _match_names(segments: tuple[Segment, ...], names: list[str]) -> bool:
    """Greedy wildcard match at segment level: on a mismatch, go back to the last `**` and
    let it take one more name. Names between two `**` are placed leftmost."""
    s = n = 0
    star_s, star_n = -1, 0
    while n < len(names):
        segment = segments[s] if s < len(segments) else ()
        if segment is None:
            star_s, star_n = s, n
            s += 1
        elif segment and _match_glob(segment, names[n]):
            s += 1
            n += 1
        elif star_s >= 0:
            star_n += 1
            s, n = star_s + 1, star_n
        else:
            return False
    return all(segment is None for segment in segments[s:])


# -- names: the glob's chunks between stars, `?` one character ----------------------------------


def _match_glob(chunks: tuple[str, ...], name: str) -> bool:
    """Match one name: the first chunk at the start, the last at the end, the ones between
    stars each at its leftmost place after the previous one."""
    first, last = chunks[0], chunks[-1]
    if len(chunks) == 1:
        return len(name) == len(first) and _chunk_at(name, 0, first)
    if len(first) + len(last) > len(name):
        return False
    if not (_chunk_at(name, 0, first) and _chunk_at(name, len(name) - len(last), last)):
        return False
    position, end = len(first), len(name) - len(last)
    for chunk in chunks[1:-1]:
        found = _find_chunk(name, chunk, position, end)
        if found < 0:
            return False
        position = found + len(chunk)
    return True


def _chunk_at(text: str, position: int, chunk: str) -> bool:
    """`chunk` (literal characters and `?`) matches `text` at `position`."""
    if "?" not in chunk:
        return text.startswith(chunk, position)
    if position + len(chunk) > len(text):
        return False
    return all(c == "?" or c == text[position + i] for i, c in enumerate(chunk))


def _find_chunk(text: str, chunk: str, start: int, end: int) -> int:
    """The first position in text[start:end] where `chunk` matches, or -1."""
    if "?" not in chunk:
        return text.find(chunk, start, end)
    # Jump between the places of the chunk's first literal run (str.find), then check the rest.
    offset, run = _first_literal_run(chunk)
    position = start
    while position + len(chunk) <= end:
        if run:
            found = text.find(run, position + offset, end - (len(chunk) - offset - len(run)))
            if found < 0:
                return -1
            position = found - offset
        if _chunk_at(text, position, chunk):
            return position
        position += 1
    return -1


def _first_literal_run(chunk: str) -> tuple[int, str]:
    """The offset and text of the first run of non-`?` characters in a chunk ("" if none)."""
    start = 0
    while start < len(chunk) and chunk[start] == "?":
        start += 1
    end = start
    while end < len(chunk) and chunk[end] != "?":
        end += 1
    return start, chunk[start:end]
