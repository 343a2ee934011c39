#!/usr/bin/env python3
"""Parsing and matching on hostile input: seconds per call for each case, in this tree and,
with --ref, in an older commit of jp1notify (taken with `git archive`). Prints a Markdown table
for docs/benchmarks.md.

    .venv/bin/python benchmarks/hostile_input.py --ref a4a0367

Each case runs in its own child process with a time limit (--timeout, default 60 s): a case
that needs longer is shown as "> 60". Cases:
  - a JP1 message of `(/` repeated, no `:` (the unit reference scan), 64 KB and 1 MB;
  - the same message as EVMSG through `parse_event` (cut at JP1's 1023 characters now);
  - the unit pattern `/PROD/*a*a*a*a*a*a*a*b` against `/PROD/` + N x `a` (no match);
  - `redact` of `http://` repeated without spaces, 64 KB and 1 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

KB = 1024
STARS = "/PROD/*a*a*a*a*a*a*a*b"

# name -> (label, kind of input, size)
CASES = {
    "unit-64k": ("unit reference in a 64 KB message of `(/`", "unit", 64 * KB),
    "unit-1m": ("unit reference in a 1 MB message of `(/`", "unit", KB * KB),
    "event-64k": ("`parse_event` with that 64 KB message as EVMSG", "event", 64 * KB),
    "event-1m": ("`parse_event` with that 1 MB message as EVMSG", "event", KB * KB),
    "stars-30": (f"`{STARS}` against a 30-character name", "stars", 30),
    "stars-80": (f"`{STARS}` against an 80-character name", "stars", 80),
    "stars-1m": (f"`{STARS}` against a 1 MB name", "stars", KB * KB),
    "redact-64k": ("`redact` of 64 KB of `http://`", "redact", 64 * KB),
    "redact-1m": ("`redact` of 1 MB of `http://`", "redact", KB * KB),
}


def child(kind: str, size: int) -> None:
    """Build the input (untimed), then print the seconds of one call on it."""
    from jp1notify.event import parse_event, parse_unit_in_message
    from jp1notify.patterns import compile_unit_pattern
    from jp1notify.redaction import redact

    pattern: Any = compile_unit_pattern(STARS)
    message = "KAVS0262-E " + "(/" * (size // 2)
    inputs: dict[str, tuple[Callable[[Any], object], object]] = {
        "unit": (parse_unit_in_message, message),
        "event": (parse_event, {"EVID": "4104:0", "EVMSG": message}),
        # before `UnitPattern.matches`, patterns were regular expressions
        "stars": (
            getattr(pattern, "matches", None) or pattern.regex.fullmatch,
            "/PROD/" + "a" * size,
        ),
        "redact": (redact, "http://" * (size // 7)),
    }
    call, value = inputs[kind]
    start = time.perf_counter()
    call(value)
    print(time.perf_counter() - start)


def run_case(source: Path, kind: str, size: int, timeout: float) -> float | None:
    """Seconds of the call in a child importing jp1notify from `source`; None past the
    timeout."""
    env = dict(os.environ, PYTHONPATH=str(source))
    command = [sys.executable, __file__, "--child", kind, str(size)]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def old_tree(ref: str, folder: Path) -> Path:
    """jp1notify/ as it was at `ref`, extracted into `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "jp1notify"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def cell(seconds: float | None, timeout: float) -> str:
    if seconds is None:
        return f"> {timeout:g}"
    return f"{seconds:.4f}" if seconds < 1 else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", help="also measure jp1notify as it was at this commit")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="jp1notify-old-") as folder:
        old = old_tree(args.ref, Path(folder)) if args.ref else None
        header = "| case | this tree, s |" + (f" {args.ref}, s |" if old else "")
        print(header)
        print("|---|---|" + ("---|" if old else ""))
        for name in args.cases:
            label, kind, size = CASES[name]
            started = time.perf_counter()
            row = [label, cell(run_case(ROOT, kind, size, args.timeout), args.timeout)]
            if old:
                row.append(cell(run_case(old, kind, size, args.timeout), args.timeout))
            print("| " + " | ".join(row) + " |", flush=True)
            print(f"  ({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
