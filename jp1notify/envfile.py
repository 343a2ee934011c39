"""Dev mode: a fake JP1 event from a dotenv-style file (`--env-file config/samples/x.env`).

One `NAME=value` per line, as in JP1's own environment variable files; blank lines and lines
starting with `#` are skipped; a value may be wrapped in single or double quotes. Names may
contain a colon (`EV:OBJECT_NAME`), as JP1's extended attributes do, and an attribute's name
(after `EV:`) any character but `=` and white space.

The file stands in for the environment, bytes included: text that is not UTF-8 (a Shift_JIS
file saved by Notepad, a stray byte) is read the way a POSIX environment is, as surrogate
escapes, which `event.parse_event` repairs like any other environment value. A UTF-16 file
(Notepad's "Unicode") is recognised by its byte order mark.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from jp1notify.config import read_regular_file
from jp1notify.errors import EnvFileError

_LINE = re.compile(r"(?:export\s+)?((?i:EV:)[^\s=]+|[A-Za-z_][A-Za-z0-9_:.]*)\s*=(.*)")


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = _decode(read_regular_file(path))
    except OSError as exc:
        raise EnvFileError(f"cannot read the env file {path}: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(stripped)
        if not match:
            raise EnvFileError(f"{path}:{number}: expected NAME=value, found {stripped[:60]!r}")
        values[match[1]] = _unquote(match[2].strip())
    return values


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    return data.removeprefix(codecs.BOM_UTF8).decode("utf-8", "surrogateescape")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace('\\"', '"').replace("\\\\", "\\") if value[0] == '"' else inner
    return value
