"""Values shown in one line of a message: cut to a length, control characters escaped, entries
of [[routes]], [[ignore]] and [[scopes]] named as check-config lists them.

Shared by the config (config.py, schema.py), the store and the command line; it imports nothing,
so that schema.py and store.py need not import config.py for it.
"""

from __future__ import annotations


def shown(value: object, limit: int = 60) -> str:
    """A value as TOML wrote it, cut to `limit` characters with "…": no error line echoes a 1 MB
    value. Text is quoted; a TOML date or time is shown as written, not as Python's repr."""
    text = repr(value) if isinstance(value, str | int | float | list | dict) else str(value)
    return cut(text, limit)


def cut(text: str, limit: int = 60) -> str:
    """`text` for one line of a message: control characters escaped (\\n), at most `limit`
    characters, a cut marked with "…"."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entry_label(section: str, index: int, name: object = None) -> str:
    """How errors and check-config name an entry of [[routes]], [[ignore]] or [[scopes]]:
    `routes #2 "production warnings"`, numbered from 1 in file order."""
    label = f"{section} #{index + 1}"
    if not isinstance(name, str) or not name or name == default_name(section, index):
        return label
    return f'{label} "{cut(name, 40)}"'


def default_name(section: str, index: int) -> str:
    """The name of an unnamed route or ignore rule, in logs and history: `route #2`."""
    return f"{'route' if section == 'routes' else section} #{index + 1}"
