"""`jp1notify check-config`: a readable summary of a valid config, and warnings about what is
valid but probably not meant (a destination whose webhook cannot be read, no catch-all route).
"""

from __future__ import annotations

from collections.abc import Mapping

from jp1notify.config import Config, ConfigError, Matcher, resolve_webhook


def summarize(config: Config, environ: Mapping[str, str]) -> str:
    zone = config.timezone_name or "this machine's local zone"
    lines = [
        f"Config {config.path}: OK",
        f"Messages: language {config.language}, EVDATE/EVTIME read in {zone}",
        f"Logs: {config.log_dir} (kept {config.log_retention_days} days)",
        f"Outbox: {config.outbox.data_dir} (settled events kept {config.outbox.retention_days} days;"
        f" a sender spends at most {config.outbox.drain_seconds:g}s, digests every"
        f" {config.outbox.digest_interval_seconds:g}s during storms)",
        f"HTTP: timeout {config.http.timeout:g}s (without a usable store: up to "
        f"{config.http.max_attempts} attempts within {config.http.retry_budget:g}s), proxy "
        + ("from http.proxy" if config.http.proxy else "from HTTPS_PROXY/HTTP_PROXY if set"),
    ]
    if config.levels:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(config.levels.items()))
        lines.append(f"Level overrides: {overrides} (fallback {config.fallback_level})")
    lines.append(f"Scopes (first match wins, else '{config.default_scope}'):")
    lines += [f"  {s.name}: {describe_matcher(s.matcher)}" for s in config.scopes] or ["  (none)"]
    lines.append("Ignored events:")
    if config.self_guard:
        lines.append("  self_guard: events of the notifier's own jobnet (from AJSJOBNAME)")
    lines += [f"  {r.name}: {describe_matcher(r.matcher)}" for r in config.ignore]
    lines.append("Destinations:")
    warnings = []
    for dest in config.destinations.values():
        try:
            resolve_webhook(dest, config, environ)
            state = "readable"
        except ConfigError as exc:
            state = "NOT readable here"
            warnings.append(exc.problems[0])
        lines.append(f"  {dest.name}: {dest.source.describe()} ({state})")
    lines.append("Routes (in order; the first match wins unless it says continue):")
    for number, r in enumerate(config.routes, 1):
        mention = f", mention {' '.join(map(describe_mention, r.mentions))}" if r.mentions else ""
        flow = ", continue" if r.continue_ else ""
        lines.append(
            f"  {number}. {r.name}: {describe_matcher(r.matcher)} -> "
            f"{', '.join(r.destinations)}{mention}{flow}"
        )
    warnings += _route_warnings(config)
    if warnings:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in warnings]
    return "\n".join(lines)


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
    return "; ".join(parts)


def _route_warnings(config: Config) -> list[str]:
    warnings = []
    if not any(r.matcher.is_catch_all for r in config.routes):
        warnings.append(
            "no catch-all route: an event that matches no route and no ignore rule notifies "
            "nobody (it is logged and reported on stderr)"
        )
    for index, r in enumerate(config.routes):
        if r.matcher.is_catch_all and not r.continue_ and index < len(config.routes) - 1:
            warnings.append(
                f"routes[{index}] ({r.name}) matches every event and does not continue: "
                "the routes after it are never used"
            )
    used = {d for r in config.routes for d in r.destinations}
    for name in config.destinations:
        if name not in used:
            warnings.append(f"destinations.{name} is not used by any route")
    return warnings
