"""The context command: run `[context] command` for a problem event and keep its output, cleaned
and cut, for the message (for example `ajsshow`, saying which job ended abnormally and with which
return code).

Safety and bounds, whatever the command or the event holds:
- no shell, ever: the argv list is passed as it is, and each placeholder is replaced inside its
  own argument, so event text can neither add nor split arguments (on Windows, subprocess joins
  the list by the MS C runtime's rules, which the program's runtime splits back; batch files are
  refused by the config, as cmd.exe would parse the arguments again);
- stdin is closed; stdout and stderr share one pipe, read by a thread into a buffer of at most
  READ_LIMIT bytes (the rest is read and dropped, so the command never blocks on a full pipe);
- `timeout_seconds` bounds the whole thing: at the deadline the command's process group (POSIX:
  its own session; Windows: its own process group, ended with `taskkill /T /F`) is killed, and
  a grandchild that still holds the pipe is not waited for beyond the deadline and a short grace;
- the output is decoded as UTF-8, else CP932 (JP1 on Japanese Windows), else UTF-8 with
  replacement characters; control and bidirectional formatting characters are removed.
`run_context` never raises: a command that cannot run, fails or hangs gives a ContextResult whose
note says so, and the alert goes out all the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import unicodedata

from jp1notify.config import ContextSettings, cut
from jp1notify.event import Event
from jp1notify.guidance import ContextResult, expand, placeholder_values

READ_LIMIT = 64 * 1024  # bytes of output kept; ajsshow's listing of a jobnet is far smaller
KILL_GRACE = 1.0  # seconds the reader gets after a kill to collect what is left in the pipe
HOLD_MARGIN = 2.0  # messages wait this much beyond the timeout for their context (notify.py)
CUT_MARK = "…"
# The command gets a process group of its own, to be killed as a whole: a new session on POSIX,
# a new process group (and no console window) on Windows.
_WINDOWS_GROUP = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(
    subprocess, "CREATE_NO_WINDOW", 0
)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def applies(settings: ContextSettings | None, level: str) -> bool:
    return settings is not None and level in settings.levels


def hold_seconds(settings: ContextSettings) -> float:
    """How long the event's messages wait for the context before a sender may take them."""
    return settings.timeout_seconds + HOLD_MARGIN


def command_line(settings: ContextSettings, event: Event) -> tuple[list[str], tuple[str, ...]]:
    """The argv for this event, and the placeholders the event has no value for."""
    values = placeholder_values(event)
    argv: list[str] = []
    missing: list[str] = []
    for argument in settings.command:
        text, absent = expand(argument, values)
        argv.append(text)
        missing += absent
    return argv, tuple(dict.fromkeys(missing))


def run_context(settings: ContextSettings, event: Event) -> ContextResult:
    """Run the context command for `event` within its timeout. Never raises."""
    try:
        return _run(settings, event)
    except Exception as exc:  # noqa: BLE001 - the alert must go out whatever happens here
        reason = cut(f"{type(exc).__name__}: {exc}", 200)
        return _failed("not_started", reason, f"the context command could not run ({reason})")


def _run(settings: ContextSettings, event: Event) -> ContextResult:
    argv, missing = command_line(settings, event)
    if missing:
        names = ", ".join(f"{{{name}}}" for name in missing)
        return _failed(
            "missing", names, f"the context command was not run: the event has no {names}"
        )
    program = cut(argv[0], 120)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            creationflags=_WINDOWS_GROUP if sys.platform == "win32" else 0,
            start_new_session=sys.platform != "win32",
        )
    except FileNotFoundError:
        return _failed(
            "not_found",
            program,
            f"the context command {program} was not found (check [context] command and the "
            "PATH of the JP1 job, or give the program's full path)",
        )
    except (OSError, ValueError) as exc:
        reason = cut(getattr(exc, "strerror", None) or str(exc), 200)
        return _failed("not_started", reason, f"the context command could not start: {reason}")
    return _collect(settings, process)


def _failed(code: str, value: str, note: str) -> ContextResult:
    return ContextResult(None, note, code, value)


def _collect(settings: ContextSettings, process: subprocess.Popen[bytes]) -> ContextResult:
    deadline = time.monotonic() + settings.timeout_seconds
    reader = _Reader(process)
    timed_out = False
    try:
        process.wait(timeout=settings.timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    # The command ended, but a process it started may still hold the pipe: wait for the end of
    # the output only until the deadline.
    reader.thread.join(max(0.0, deadline - time.monotonic()))
    if timed_out or reader.thread.is_alive():
        _kill_group(process)
        reader.thread.join(KILL_GRACE)
        timed_out = True
    text = clean(reader.output(), settings, cut_bytes=reader.dropped)
    if timed_out:
        seconds = f"{settings.timeout_seconds:g}"
        return ContextResult(
            text,
            f"the context command timed out after {seconds} s and was stopped; the alert went "
            "out with what it had written",
            "timeout",
            seconds,
        )
    if process.returncode != 0:
        code = str(process.returncode)
        return ContextResult(text, f"the context command ended with exit code {code}", "exit", code)
    return ContextResult(text)


class _Reader:
    """Reads the command's pipe in a thread, keeping at most READ_LIMIT bytes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.stream = process.stdout
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)  # may be left behind
        self.thread.start()

    def _read(self) -> None:
        assert self.stream is not None
        try:
            while chunk := self.stream.read1(8192):  # type: ignore[attr-defined]
                with self.lock:
                    room = READ_LIMIT - self.kept
                    if len(chunk) > room:
                        self.dropped = True
                    if room > 0:
                        self.chunks.append(chunk[:room])
                        self.kept += min(room, len(chunk))
        except (OSError, ValueError):  # the pipe closed under us
            pass
        finally:
            try:
                self.stream.close()
            except OSError:
                pass

    def output(self) -> bytes:
        with self.lock:
            return b"".join(self.chunks)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and what it started; best effort (it may have ended meanwhile)."""
    if sys.platform == "win32":
        _taskkill(process.pid)
    else:
        import signal

        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group's id is the leader's pid
        except OSError:  # the whole group has ended
            pass
    try:
        process.kill()
    except OSError:
        pass
    try:
        process.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        pass


def _taskkill(pid: int) -> None:
    """`taskkill /T /F`: the process and its children. Taken from System32, not from PATH."""
    system = os.environ.get("SystemRoot", r"C:\Windows")
    try:
        subprocess.run(
            [os.path.join(system, "System32", "taskkill.exe"), "/T", "/F", "/PID", str(pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=2 * KILL_GRACE,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    except (OSError, subprocess.SubprocessError):
        pass


# -- output: decoded, cleaned, cut --------------------------------------------------------------


def decode(data: bytes, cut_bytes: bool = False) -> str:
    """UTF-8, else CP932, else UTF-8 with replacement characters. Output cut at READ_LIMIT may
    end inside a character: up to 3 trailing bytes are then dropped before trying."""
    trims = range(4) if cut_bytes else range(1)
    for encoding in ("utf-8", "cp932"):
        for trim in trims:
            try:
                return data[: len(data) - trim].decode(encoding).removeprefix("\ufeff")
            except UnicodeDecodeError:
                continue
    return data.decode("utf-8", "replace").removeprefix("\ufeff")


def strip_controls(text: str) -> str:
    """Line breaks normalised to \\n, tabs to spaces; other control characters and the
    bidirectional formatting characters (which could make text read backwards) removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(
        c
        for c in text
        if c in "\n\t" or (unicodedata.category(c) not in ("Cc", "Cs") and c not in _BIDI)
    )
    return kept.expandtabs(8)


def clean(data: bytes, settings: ContextSettings, cut_bytes: bool = False) -> str | None:
    """The output as the message shows it: at most max_lines lines and max_chars characters,
    a cut marked with a last line "… (+N lines)" or "…"; None if it said nothing."""
    lines = [line.rstrip() for line in strip_controls(decode(data, cut_bytes)).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return None
    shown, rest = lines[: settings.max_lines], len(lines) - settings.max_lines
    text = "\n".join(shown)
    marker = f"{CUT_MARK} (+{rest} lines)" if rest > 0 else CUT_MARK if cut_bytes else ""
    if len(text) + len(marker) + 1 > settings.max_chars:
        text, marker = text[: settings.max_chars - len(marker or CUT_MARK) - 1], marker or CUT_MARK
    return f"{text}\n{marker}" if marker else text
