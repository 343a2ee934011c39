"""`jp1notify check-config`: a readable summary of a valid config, the errors that keep it from
delivering or queueing on this machine, and warnings about what is valid but probably not meant.

Errors (check-config exits 78): a webhook URL that cannot work (a file that does not exist, a
malformed URL, literal, from a file or from a variable set here), a data or log folder that
cannot be created or written. Warnings (exit 0): what may differ for the JP1 job, which runs
with the JP1 service's environment and perhaps as another OS user (a variable not set in this
shell, a file this user may not read), routes that are never reached, unit patterns that
probably miss units below a jobnet, JP1NOTIFY_X__... variables whose X is no config key.

The keys that JP1NOTIFY_... variables of this shell override are listed with their values
(a secret's never), since the JP1 service's environment may not have the same variables.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from jp1notify.config import (
    Config,
    WebhookSource,
    named,
    override_for,
    resolve_webhook,
    scan_environment,
    typos,
    unknown_override,
)
from jp1notify.errors import StoreError, WebhookError
from jp1notify.patterns import UnitPattern
from jp1notify.rules import Matcher, matches_every_event
from jp1notify.text import cut, entry_label, shown


class Summary(NamedTuple):
    text: str  # the summary, with its warnings
    errors: list[str]  # one line per problem that keeps the config from working here


def summarize(config: Config, environ: Mapping[str, str]) -> Summary:
    destinations, webhook_errors, webhook_warnings = _destinations(config, environ)
    queue, store_errors, store_warnings = _store(config)
    tls, http_errors, http_warnings = _https(config, environ)
    beat, beat_errors, beat_warnings = _heartbeat(config, environ)
    errors = webhook_errors + _folder_errors(config, environ) + store_errors + http_errors
    errors += beat_errors
    state = "OK" if not errors else f"NOT usable here ({len(errors)} errors, listed below)"
    lines = [f"Config {config.path}: {state}", *_settings(config), *_overrides(config, environ)]
    lines += [*tls, *queue, *beat, *_rules(config, destinations)]
    warnings = [unknown_override(name) for name in typos(scan_environment(environ)[1], config)]
    warnings += webhook_warnings + store_warnings + http_warnings + _route_warnings(config)
    warnings += beat_warnings
    warnings += list(_pattern_hints(config)) + _context_warnings(config)
    if warnings:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in warnings]
    return Summary("\n".join(cut(line, _MAX_LINE) for line in lines), errors)


def _rules(config: Config, destinations: list[str]) -> list[str]:
    """Scopes, ignore rules, destinations and routes, in the order they are applied."""
    lines = [f"Scopes (first match wins, else '{config.default_scope}'):"]
    lines += [f"  {cut(s.name)}: {describe_matcher(s.matcher)}" for s in config.scopes]
    if not config.scopes:
        lines.append("  (none)")
    lines.append("Ignored events:")
    if config.self_guard:
        lines.append("  self_guard: events of the notifier's own jobnet (from AJSJOBNAME)")
    lines += [f"  {cut(r.name)}: {describe_matcher(r.matcher)}" for r in config.ignore]
    lines += ["Destinations:", *destinations]
    lines.append(
        "Incidents: error and warning events of a jobnet open one; its normal end resolves it "
        "and tells every destination it went to (`jp1notify incidents`)"
    )
    lines.append("Routes (in order; the first match wins unless it says continue):")
    for number, r in enumerate(config.routes, 1):
        mention = f", mention {' '.join(map(describe_mention, r.mentions))}" if r.mentions else ""
        flow = ", continue" if r.continue_ else ""
        flow += "" if r.recovery else ", no recovery message"
        lines.append(
            f"  {number}. {cut(r.name)}: {describe_matcher(r.matcher)} -> "
            f"{', '.join(map(cut, r.destinations))}{mention}{flow}"
        )
    if any(r.matcher.has_window for r in config.routes):
        zone = config.timezone_name or "this machine's time zone"
        lines.append(f"  (hours are the event's own time, EVDATE/EVTIME, in {zone})")
    return lines + _guidance(config) + _expectations(config)


def _guidance(config: Config) -> list[str]:
    """Runbooks and the context command, as the messages of problem events show them."""
    lines = ["Runbooks (error and warning events; every match, at most 3 per message):"]
    for r in config.runbooks:
        link = f" (link {cut(r.url, 120)})" if r.url else ""
        lines.append(f"  {cut(r.name)}: {describe_matcher(r.matcher)}{link}: {cut(r.text, 200)}")
    if not config.runbooks:
        lines.append("  (none)")
    c = config.context
    if c is None:
        return [*lines, "Context command: none"]
    argv = " ".join(cut(a, 80) for a in c.command)
    return [
        *lines,
        f"Context command ({', '.join(sorted(c.levels))} events; at most "
        f"{c.timeout_seconds:g}s, {c.max_lines} lines, {c.max_chars} characters): {argv}",
    ]


def _context_warnings(config: Config) -> list[str]:
    """Runbooks that can never show; a context program not found here (the JP1 job, whose PATH
    differs, may find it: a warning, not an error)."""
    import shutil

    warnings = [
        f"{entry_label('runbooks', i, r.name)} levels: runbooks are shown for error and warning "
        "events only, so this one never is"
        for i, r in enumerate(config.runbooks)
        if r.matcher.levels is not None and not r.matcher.levels & {"error", "warning"}
    ]
    if config.context is None:
        return warnings
    program = config.context.command[0]
    try:
        found = shutil.which(program)
    except (OSError, ValueError):
        found = None
    if found:
        return warnings
    return warnings + [
        f"context.command #1: {cut(program, 120)} is not found on this PATH; if the JP1 job "
        "does not find it either, alerts say so instead of showing its output. Give the "
        "program's full path"
    ]


_MAX_LINE = 2000  # a listing line with a huge value in it is cut, like error lines


def _settings(config: Config) -> list[str]:
    zone = config.timezone_name or "this machine's local zone"
    lines = [
        f"Messages: language {config.language}, EVDATE/EVTIME read in {zone}",
        f"Logs: {cut(str(config.log_dir), 160)} (kept {config.log_retention_days} days)",
        f"Outbox: {cut(str(config.outbox.data_dir), 160)} (settled events kept {config.outbox.retention_days} days;"
        f" a sender spends at most {config.outbox.drain_seconds:g}s, digests every"
        f" {config.outbox.digest_interval_seconds:g}s during storms)",
        f"HTTP: timeout {config.http.timeout:g}s (without a usable store: up to "
        f"{config.http.max_attempts} attempts within {config.http.retry_budget:g}s), proxy "
        + ("from http.proxy" if config.http.proxy else "from HTTPS_PROXY/HTTP_PROXY if set"),
    ]
    if config.levels:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(config.levels.items()))
        lines.append(f"Level overrides: {overrides} (fallback {config.fallback_level})")
    return lines


def _overrides(config: Config, environ: Mapping[str, str]) -> list[str]:
    """The keys that JP1NOTIFY_... variables set, in the order applied, with their values as
    written (a secret's only named: the value is never shown)."""
    if not config.overrides:
        return []
    lines = ["Overrides from the environment (they win over the config file):"]
    for o in config.overrides:
        value = f"(secret, from {o.variable})" if o.secrets else environ.get(o.variable, "")
        lines.append(f"  {cut(o.variable, 120)} sets {o.label} = {cut(value, 200)}")
    return lines


def _destinations(
    config: Config, environ: Mapping[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """One line per destination, and the errors and warnings about reading their URLs here."""
    lines: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    for dest in config.destinations.values():
        try:
            resolve_webhook(dest, config, environ)
            state = "readable"
        except WebhookError as exc:
            state = "NOT readable here" if exc.local else "NOT usable"
            keys = ("destinations", dest.name, _source_key(dest.source))
            problem = named(exc.problems[0], override_for(config.overrides, environ, keys))
            (warnings if exc.local else errors).append(problem)
        kind = "" if dest.kind == "slack_webhook" else f"{dest.kind}, "
        kind += f"channel {dest.channel}, " if dest.channel else ""
        api = f", API {cut(dest.api_url, 80)}" if dest.api_url else ""
        api += f", events URL {cut(dest.events_url, 80)}" if dest.events_url else ""
        api += f", headers {', '.join(map(cut, dest.headers))} (redacted)" if dest.headers else ""
        if dest.kind == "alertmanager":
            from jp1notify.destinations.alertmanager import describe_destination

            where, warned = describe_destination(dest)
            api += where
            warnings += warned
        lines.append(f"  {cut(dest.name)}: {kind}{dest.source.describe()} ({state}){api}")
    return lines, errors, warnings


def _source_key(source: WebhookSource) -> str:
    """The config key a secret's source is given by: webhook_url_env, webhook_url_file, ..."""
    return f"{source.key}_{source.kind}" if source.kind in ("env", "file") else source.key


def _heartbeat(
    config: Config, environ: Mapping[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """The [heartbeat] line (where its URL comes from, never the URL), and the error or warning
    about reading the URL here, judged like a webhook URL's (heartbeat.py)."""
    h = config.heartbeat
    if h is None:
        return ["Heartbeat: none (add [heartbeat] to know that jp1notify itself is alive)"], [], []
    from jp1notify.config import read_heartbeat_url
    from jp1notify.redaction import Secrets

    errors: list[str] = []
    warnings: list[str] = []
    try:
        read_heartbeat_url(config, environ, Secrets())
        state = "readable"
    except WebhookError as exc:
        state = "NOT readable here" if exc.local else "NOT usable"
        keys = ("heartbeat", _source_key(h.source))
        problem = named(exc.problems[0], override_for(config.overrides, environ, keys))
        (warnings if exc.local else errors).append(problem)
    stuck = "; <url>/fail while alerts are stuck" if h.report_stuck else ""
    line = (
        f"Heartbeat: {h.source.describe()} ({state}); pinged by send, flush and watch at most "
        f"every {h.interval_seconds / 60:g} minutes (timeout {h.timeout_seconds:g}s){stuck}"
    )
    return [line], errors, warnings


def _https(config: Config, environ: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """Which trust store verifies destinations (a line), and the problems of building the HTTPS
    client as a send would: a CA file that is not a PEM certificate is an error; a trust store
    or proxy variable of this shell that cannot be used is a warning (the JP1 job's environment
    may differ), and so is an operating-system trust store that cannot be used here."""
    import ssl

    ca_file = config.http.ca_file
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            error = (
                f"http.ca_file: {cut(ca_file, 200)} is not a usable PEM CA certificate "
                f"({cut(str(exc), 120)})"
            )
            override = override_for(config.overrides, environ, ("http", "ca_file"))
            return [], [named(error, override)], []
    from jp1notify import trust
    from jp1notify.delivery import make_client

    try:
        anchors = trust.load(ca_file)
        make_client(config.http).close()
    except Exception as exc:  # noqa: BLE001 - whatever httpx or ssl refuse, say it
        warning = (
            f"HTTPS cannot be set up in this shell ({type(exc).__name__}: {cut(str(exc), 120)}): "
            "check SSL_CERT_FILE/SSL_CERT_DIR and HTTPS_PROXY/HTTP_PROXY; the JP1 job's "
            "environment must not have the same problem"
        )
        return [], [], [warning]
    line = f"TLS: certificates verified with {cut(anchors.store, 300)}"
    if anchors.problem is None:
        return [line], [], []
    warning = (
        f"the operating system's trust store cannot be used here ({cut(anchors.problem, 120)}): "
        "a TLS-inspecting proxy's CA is trusted only through http.ca_file"
    )
    return [line], [], [warning]


def _store(config: Config) -> tuple[list[str], list[str], list[str]]:
    """What the store holds (a line), and the errors and warnings about it: one written by a
    newer jp1notify cannot be used; messages waiting for a destination not in this config, dead
    messages, a damaged or locked store deserve a look."""
    from jp1notify.store import DB_NAME, Problem, State, Store

    if not os.path.exists(config.outbox.data_dir / DB_NAME):  # False too for an unusable path
        return ["Queue: empty (no store yet)"], [], _watch_warnings(config, None)
    try:
        store = Store.open(config.outbox.data_dir)
        try:
            counts, due = store.counts(), store.due(0.0, 0.0)
            from jp1notify.watch import watched_at

            watched = watched_at(store)
        finally:
            store.close()
    except StoreError as exc:
        if exc.problem is Problem.CORRUPT:
            return [], [], [f"{exc}: the next send or flush moves it aside and starts afresh"]
        if exc.problem is Problem.LOCKED:
            return [], [], [str(exc)]
        return [], [f"outbox.data_dir: {exc}"], []
    queue = (
        f"Queue: {counts.get(State.PENDING, 0)} pending, {counts.get(State.DEAD, 0)} dead, "
        f"{counts.get(State.SENT, 0)} sent (`jp1notify history` lists them)"
    )
    warnings = [
        f"{d.pending} messages wait for destination {cut(d.name)!r}, which is not in this config: "
        f"put it back, or move them with `jp1notify retry --from {cut(d.name)} --to <destination>`"
        for d in due
        if d.name not in config.destinations
    ]
    if counts.get(State.DEAD):
        warnings.append(
            f"{counts[State.DEAD]} dead messages were never delivered: `jp1notify history --state "
            "dead` shows why; once fixed, `jp1notify retry --all` sends them"
        )
    lines = [queue]
    if config.expectations and watched is not None:
        lines.append(f"Watch: last ran {_when(watched)}")
    return lines, [], warnings + _watch_warnings(config, watched)


def _when(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def _watch_warnings(config: Config, watched: float | None) -> list[str]:
    if not config.expectations or watched is not None:
        return []
    return [
        "[[expect]] entries are configured but `jp1notify watch` has never run with this store: "
        'schedule it every 5 minutes outside JP1 (docs/operators.md, "Expected runs"), or '
        "missed runs are never noticed"
    ]


def _expectations(config: Config) -> list[str]:
    """The [[expect]] entries, as `watch` checks them."""
    from jp1notify.config import WEEKDAYS

    if not config.expectations:
        return ["Expected runs (`jp1notify watch`): none"]
    zone = config.timezone_name or "this machine's local zone"
    lines = [f"Expected runs (`jp1notify watch`; times in {zone}):"]
    for e in config.expectations:
        units = ", ".join(cut(p.glob, 80) for p in e.units)
        days = "daily" if len(e.days) == 7 else ",".join(WEEKDAYS[d] for d in sorted(e.days))
        hour, minute = e.by
        mention = f", mention {' '.join(map(describe_mention, e.mentions))}" if e.mentions else ""
        excluded = (
            f" except {', '.join(p.glob for p in e.exclude_units)}" if e.exclude_units else ""
        )
        lines.append(
            f"  {cut(e.name)}: {units}{excluded} by {hour:02d}:{minute:02d} {days} -> "
            f"{', '.join(map(cut, e.destinations))} ({e.level}{mention})"
        )
    return lines


def _folder_errors(config: Config, environ: Mapping[str, str]) -> list[str]:
    errors = []
    for keys, folder in (
        (("outbox", "data_dir"), config.outbox.data_dir),
        (("log", "dir"), config.log_dir),
    ):
        problem = folder_problem(folder)
        if problem:
            line = f"{'.'.join(keys)}: {problem}"
            errors.append(named(line, override_for(config.overrides, environ, keys)))
    return errors


def folder_problem(folder: Path) -> str | None:
    """Why jp1notify could not create or write files in `folder`, or None. Probes by creating
    and deleting a file; folders it had to create for that are removed again."""
    shown_folder = cut(str(folder), 200)
    created = _missing_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".jp1notify-check-{os.getpid()}.tmp"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        return (
            f"{shown_folder} cannot be a folder: a file is in the way. Move the file or change "
            "the key"
        )
    except OSError as exc:
        return (
            f"cannot create or write files in {shown_folder} ({exc.strerror}). Point it at a "
            "folder the JP1 job's OS user can write"
        )
    finally:
        for path in created:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def _missing_parents(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    return missing


def describe_mention(markup: str) -> str:
    """`<!channel>` -> `@channel`, `<!subteam^S0123>` -> `@group S0123`, `<@U0123>` -> `@user U0123`."""
    inner = markup.strip("<>")
    if inner.startswith("!subteam^"):
        return f"@group {inner.removeprefix('!subteam^')}"
    if inner.startswith("@"):
        return f"@user {inner[1:]}"
    return "@" + inner.lstrip("!")


def describe_matcher(m: Matcher) -> str:
    if m.is_catch_all:
        return "every event"
    parts = []
    for label, values in (
        ("event IDs", m.event_ids),
        ("levels", m.levels),
        ("scopes", m.scopes),
        ("services", m.services),
        ("hosts", m.hosts),
    ):
        if values is not None:
            parts.append(f"{label} {', '.join(sorted(values))}")
    if m.units is not None:
        parts.append(f"units {', '.join(p.glob for p in m.units)}")
    if m.exclude_units:
        parts.append(f"except units {', '.join(p.glob for p in m.exclude_units)}")
    if m.hours is not None:
        parts.append(f"hours {m.hours.text}")
    if m.quiet_hours is not None:
        parts.append(f"quiet hours {m.quiet_hours.text}")
    return "; ".join(parts)


def _route_warnings(config: Config) -> list[str]:
    warnings = [
        f"ignore {r.name!r} drops every event except units "
        f"{', '.join(p.glob for p in r.matcher.exclude_units)}: make sure those patterns match "
        "the jobnets you want to hear about (to notify only some units, routes with units are "
        "the usual way)"
        for r in config.ignore
        if r.matcher.exclude_units
        and matches_every_event(
            r.matcher._replace(exclude_units=()), config.default_scope, config.scopes
        )
    ]
    if not any(r.matcher.is_catch_all for r in config.routes):
        warnings.append(
            "no catch-all route: an event that matches no route and no ignore rule notifies "
            "nobody (it is logged and reported on stderr)"
        )
    for index, r in enumerate(config.routes):
        if r.matcher.is_catch_all and not r.continue_ and index < len(config.routes) - 1:
            warnings.append(
                f"{entry_label('routes', index, r.name)} matches every event and does not "
                "continue: the routes after it are never used"
            )
    used = {d for r in config.routes for d in r.destinations}
    for name in config.destinations:
        if name not in used:
            warnings.append(f"destinations.{cut(name)} is not used by any route")
    return warnings


def _pattern_hints(config: Config) -> Iterator[str]:
    """Unit patterns without '**' match units at one depth only: '/PROD' is the jobnet itself,
    '/PROD/*' its direct children, neither the jobs further down (their events carry the job's
    own path)."""
    entries = [("scopes", i, s.name, s.matcher) for i, s in enumerate(config.scopes)]
    entries += [("ignore", i, r.name, r.matcher) for i, r in enumerate(config.ignore)]
    entries += [("routes", i, r.name, r.matcher) for i, r in enumerate(config.routes)]
    for section, index, name, matcher in entries:
        for key, patterns in (
            ("units", matcher.units or ()),
            ("exclude_units", matcher.exclude_units),
        ):
            for pattern in patterns:
                hint = pattern_hint(pattern)
                if hint:
                    yield f"{entry_label(section, index, name)} {key}: {hint}"


def pattern_hint(pattern: UnitPattern) -> str | None:
    glob = pattern.glob
    if "**" in glob:
        return None
    wider = shown(glob.removesuffix("/*") + "/**")
    if glob.endswith("/*"):
        parent = cut(glob.removesuffix("/*") or "/")
        return (
            f"{shown(glob)} matches only the units directly under {parent}, not the jobs "
            f"inside them; for everything below {parent} write {wider}"
        )
    if not any(c in glob for c in "*?"):
        return (
            f"{shown(glob)} matches only the unit {cut(glob)} itself, not the jobnets and jobs "
            f"inside it; for both write {wider}"
        )
    return (
        f"{shown(glob)} matches only units at that depth, not the jobs inside them; to "
        f"include those write {wider}"
    )
