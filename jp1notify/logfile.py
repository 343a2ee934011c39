"""The log: one dated file per day (`jp1notify-2026-11-22.log`) in the configured folder.

Several jp1notify processes write at once on Windows, so there is no rename-based rotation:
each line is appended with a single write on a file opened with O_APPEND, and a new day simply
starts a new file. The process that creates a day's file deletes files older than the retention.
Lines are logfmt (`key=value`, quoted when needed) so that findstr/grep and log tools read them.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path

from jp1notify.redaction import redact

PREFIX = "jp1notify-"
_NAME = re.compile(r"jp1notify-(\d{4}-\d{2}-\d{2})\.log")
_BARE = re.compile(r"[^\s\"=]+")


class LogFile:
    """Appends logfmt lines; failures to write are reported once and never stop a notification."""

    def __init__(self, directory: Path, retention_days: int, secrets: list[str]) -> None:
        self.directory = directory
        self.retention_days = retention_days
        # The caller's list, not a copy: webhook URLs read later must be redacted here too.
        self.secrets = secrets
        self.error: str | None = None  # why the last write failed, for stderr

    def path_for(self, day: date) -> Path:
        return self.directory / f"{PREFIX}{day.isoformat()}.log"

    def write(self, now: datetime, fields: dict[str, object]) -> None:
        line = " ".join([now.isoformat(timespec="milliseconds"), *_pairs(fields)])
        data = (redact(line, self.secrets) + "\n").encode("utf-8")
        path = self.path_for(now.date())
        try:
            fd, new = self._open(path)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            self.error = f"cannot write the log file {path}: {exc.strerror or exc}"
            return
        if new:
            self.prune(now.date())

    def _open(self, path: Path) -> tuple[int, bool]:
        """An append descriptor, and whether this call created the day's file."""
        # O_BINARY: no newline translation by the Windows C runtime (0 elsewhere)
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            return os.open(path, flags), False
        except FileNotFoundError:  # the folder itself is new
            self.directory.mkdir(parents=True, exist_ok=True)
            return os.open(path, flags | os.O_CREAT, 0o644), True

    def prune(self, today: date) -> list[Path]:
        """Delete log files older than the retention; returns what was deleted."""
        oldest = today - timedelta(days=self.retention_days)
        removed = []
        for entry in self.directory.glob(f"{PREFIX}*.log"):
            match = _NAME.fullmatch(entry.name)
            if not match or date.fromisoformat(match[1]) >= oldest:
                continue
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:  # another process removed it first, or it is open on Windows
                pass
        return removed


def _pairs(fields: dict[str, object]) -> list[str]:
    return [f"{key}={_quote(value)}" for key, value in fields.items() if value is not None]


def _quote(value: object) -> str:
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
