"""Every exception jp1notify raises on purpose, in one tree (after httpx's `_exceptions.py`):

    Jp1notifyError
    ├── ConfigError             the config cannot be used (`path`, `problems`)
    │   └── WebhookError        a destination's webhook URL cannot be used (`local`)
    ├── EventError              the environment holds no usable JP1 event
    ├── EnvFileError            the --env-file cannot be read or parsed
    ├── PatternError            a unit pattern cannot be compiled (also a ValueError)
    ├── HistoryError            a history filter cannot be understood (also a ValueError)
    ├── SettingError            a `send --set` is not NAME=VALUE with a known name (ValueError)
    ├── StoreError              the store cannot be used (`problem`: a StoreProblem)
    ├── RecordedButFailed       the event is recorded, the store failed right after (`error`)
    ├── LostLease               another process took the sender lease over
    └── CommandLineExit         argparse answered the command line itself (`code`)

Each carries what its handler needs to tell the operator what to do next; the message is a full
sentence in the operator's terms. Foreign exceptions are translated once, where they arise:
`sqlite3` errors in store.py (`raise translate(exc, path) from exc`), pydantic's in schema.py.
The command line (cli.py) is the one place that maps these to exit codes.

This module imports nothing heavy (no pydantic, httpx or sqlite3): every JP1 event loads it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class Jp1notifyError(Exception):
    """The base of every exception jp1notify raises on purpose."""


class ConfigError(Jp1notifyError):
    """The config cannot be used; `problems` holds one readable line per problem."""

    def __init__(self, path: Path | str | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


class WebhookError(ConfigError):
    """A destination's webhook URL cannot be used. `local` is True when that may hold only for
    this process (a variable not set here, a file this user may not read): JP1's job runs with
    another environment, maybe as another user, so check-config only warns about it."""

    def __init__(self, path: Path | str | None, problem: str, local: bool = False) -> None:
        super().__init__(path, [problem])
        self.local = local


class EventError(Jp1notifyError):
    """The environment holds no usable JP1 event at all."""


class EnvFileError(Jp1notifyError):
    """The env file cannot be read or has a line that is not NAME=value."""


class PatternError(Jp1notifyError, ValueError):
    """A unit pattern that cannot be compiled; the message says how to write it."""


class HistoryError(Jp1notifyError, ValueError):
    """A filter that cannot be understood; the message shows the accepted forms."""


class SettingError(Jp1notifyError, ValueError):
    """A `send --set` argument that is not NAME=VALUE with a name jp1notify reads (a usage
    error in the action definition); the message lists the allowed names."""


class StoreProblem(StrEnum):
    """Why the store cannot be used (store.Problem)."""

    CORRUPT = "corrupt"  # damaged: move it aside and start afresh
    LOCKED = "locked"  # another process holds it longer than the busy timeout
    NEWER = "newer"  # written by a newer jp1notify: never downgraded
    FULL = "full"  # the disk is full
    READONLY = "readonly"
    UNUSABLE = "unusable"  # anything else: cannot be created or opened


class StoreError(Jp1notifyError):
    """The store cannot be opened, read or written; the message says what to check."""

    def __init__(self, message: str, problem: StoreProblem = StoreProblem.UNUSABLE) -> None:
        super().__init__(message)
        self.problem = problem

    @property
    def corrupt(self) -> bool:
        return self.problem is StoreProblem.CORRUPT


class RecordedButFailed(Jp1notifyError):
    """The event is recorded, but the store failed right after: it must not be sent directly."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


class LostLease(Jp1notifyError):
    """Another process took the sender lease over: stop sending at once."""


class CommandLineExit(Jp1notifyError):
    """argparse answered the command line itself (a usage error it printed, --help, --version):
    main() returns `code` instead of argparse ending the process."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code
