"""The routing config: where it is found, how it is loaded, and the values the rest of jp1notify
reads from it.

The file format and its validation live in `schema.py` (pydantic). Importing pydantic costs
about 0.1 s, which every JP1 event would pay, so a validated config is cached as plain JSON
beside the file (`jp1notify.toml.cache`, keyed by a hash of the file and the jp1notify
version) and only a changed file is validated again. `build_config` compiles validated data into
the immutable `Config` that classification, routing and rendering take as a value.
Webhook URLs are in neither: a destination names where its URL comes from, and
`resolve_webhook` reads it only when a message is actually sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from jp1notify import __version__
from jp1notify.event import normalize_event_id
from jp1notify.patterns import PatternError, UnitPattern, compile_unit_pattern

CONFIG_ENV = "JP1NOTIFY_CONFIG"
DEFAULT_CONFIG = Path("config") / "jp1notify.toml"


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one readable line per problem."""

    def __init__(self, path: Path | str | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


class Matcher(NamedTuple):
    """Conditions of a scope, route or ignore rule; None means "any". All given ones must hold."""

    event_ids: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    scopes: frozenset[str] | None = None
    units: tuple[UnitPattern, ...] | None = None
    exclude_units: tuple[UnitPattern, ...] = ()
    services: frozenset[str] | None = None
    hosts: frozenset[str] | None = None

    @property
    def is_catch_all(self) -> bool:
        return self == Matcher()


class Scope(NamedTuple):
    name: str
    matcher: Matcher


class IgnoreRule(NamedTuple):
    name: str  # "ignore[0]" unless named
    matcher: Matcher


class Route(NamedTuple):
    name: str  # "routes[0]" unless named
    matcher: Matcher
    destinations: tuple[str, ...]
    mentions: tuple[str, ...]  # Slack mention markup: "<!channel>", "<!subteam^S0123>"
    continue_: bool


class WebhookSource(NamedTuple):
    """Where a destination's webhook URL comes from: kind is "url", "env" or "file"."""

    kind: str
    ref: str  # the variable name or file path; for "url", the key path in the config file

    def describe(self) -> str:
        """Operator-facing description that never contains the URL itself."""
        if self.kind == "env":
            return f"environment variable {self.ref}"
        if self.kind == "file":
            return f"file {self.ref}"
        return "webhook_url in the config (redacted)"


class Destination(NamedTuple):
    name: str
    source: WebhookSource
    language: str | None


class HttpSettings(NamedTuple):
    timeout: float
    retry_budget: float
    max_attempts: int
    proxy: str | None
    ca_file: str | None


class OutboxSettings(NamedTuple):
    data_dir: Path
    retention_days: int
    drain_seconds: float
    max_wait_seconds: float
    digest_interval_seconds: float


class Config(NamedTuple):
    """A validated config. Paths are absolute; `timezone` None means the machine's local zone."""

    path: Path
    language: str
    timezone: tzinfo | None
    timezone_name: str | None
    extra_fields: tuple[str, ...]
    colors: dict[str, str]
    levels: dict[str, str]
    fallback_level: str
    default_scope: str
    self_guard: bool
    scopes: tuple[Scope, ...]
    ignore: tuple[IgnoreRule, ...]
    routes: tuple[Route, ...]
    destinations: dict[str, Destination]
    http: HttpSettings
    outbox: OutboxSettings
    log_dir: Path
    log_retention_days: int


def app_dir() -> Path:
    """The folder jp1notify runs from: beside the frozen executable, or the project checkout."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent


def find_config(option: str | None, environ: Mapping[str, str]) -> Path:
    """The config path: --config, then $JP1NOTIFY_CONFIG, then config/jp1notify.toml in app_dir.

    Never the working directory: JP1 starts jobs wherever it likes.
    """
    if option:
        return Path(option).resolve()
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).resolve()
    return app_dir() / DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Read, validate and compile the config file. Raises ConfigError with every problem found."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path,
            [
                "config file not found. Pass --config PATH, set JP1NOTIFY_CONFIG, or copy "
                "config/jp1notify.toml there"
            ],
        ) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the config file: {exc.strerror}"]) from None
    digest = hashlib.sha256(__version__.encode() + b"\0" + data).hexdigest()
    validated = _read_cache(path, digest)
    if validated is not None:
        return build_config(path, validated)
    from jp1notify import schema  # pydantic: only when the file changed

    validated, references = schema.validate(path, data)
    config = build_config(path, validated, references)
    _write_cache(path, digest, validated)
    return config


def cache_path(path: Path) -> Path:
    return path.with_name(path.name + ".cache")


def _read_cache(path: Path, digest: str) -> dict[str, Any] | None:
    try:
        cached = json.loads(cache_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("sha256") != digest:
        return None
    return cached.get("config")


def _write_cache(path: Path, digest: str, validated: dict[str, Any]) -> None:
    """Best effort: a read-only folder, or another process replacing the file, only costs speed.
    Literal webhook URLs are left out: a secret is never written anywhere."""
    data = json.loads(json.dumps(validated))
    for destination in data.get("destinations", {}).values():
        if destination.get("webhook_url"):
            destination["webhook_url"] = "(in the config file)"
    target = cache_path(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(
            json.dumps({"sha256": digest, "config": data}, ensure_ascii=False), encoding="utf-8"
        )
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


def resolve_webhook(destination: Destination, config: Config, environ: Mapping[str, str]) -> str:
    """The webhook URL of a destination, read now. Raises ConfigError naming the key to fix."""
    source = destination.source
    key = f"destinations.{destination.name}"
    if source.kind == "env":
        url = environ.get(source.ref, "").strip()
        if not url:
            raise ConfigError(
                config.path,
                [f"{key}.webhook_url_env: environment variable {source.ref} is not set or empty"],
            )
    elif source.kind == "file":
        try:
            url = Path(source.ref).read_text(encoding="utf-8-sig").strip()
        except OSError as exc:
            raise ConfigError(
                config.path,
                [f"{key}.webhook_url_file: cannot read {source.ref}: {exc.strerror}"],
            ) from None
    else:
        url = _literal_webhook(config.path, destination.name)
    problem = check_webhook_url(url)
    if problem:
        raise ConfigError(
            config.path, [f"{key}: the webhook URL from {source.describe()} {problem}"]
        )
    return url


def _literal_webhook(path: Path, name: str) -> str:
    """A `webhook_url` written in the config: read from the file when needed, never kept."""
    import tomllib

    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
        return str(data["destinations"][name]["webhook_url"]).strip()
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def check_webhook_url(url: str) -> str | None:
    """Why a webhook URL is unusable, or None. TLS is mandatory except on this machine (tests)."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return "must start with https:// (like https://hooks.slack.com/services/...)"


def resolve_path(base: Path, value: str) -> Path:
    """A path from the config: relative ones are relative to the config file's folder."""
    path = Path(os.path.expandvars(value))
    return path if path.is_absolute() else (base / path).resolve()


# -- compiling validated data into a Config --------------------------------------------------

_EVENT_ID = re.compile(r"[0-9A-Fa-f]{1,8}(?::[0-9A-Fa-f]{1,8})?")
# https://docs.slack.dev/messaging/formatting-message-text#mentioning-groups
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}|good|warning|danger")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def build_config(path: Path, validated: dict[str, Any], problems: Sequence[str] = ()) -> Config:
    """Compile validated config data (schema.validate) into a Config. Raises ConfigError for
    what the schema cannot see (unit patterns, event IDs, mentions, time zones, colours),
    together with the `problems` already found."""
    builder = _Builder(path)
    config = builder.build(validated)
    if builder.problems or problems:
        raise ConfigError(path, builder.problems + list(problems))
    return config


class _Builder:
    """Builds a Config from validated data, collecting problems instead of stopping at one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent
        self.problems: list[str] = []

    def build(self, m: dict[str, Any]) -> Config:
        message, outbox, log = m["message"], m["outbox"], m["log"]
        return Config(
            path=self.path,
            language=message["language"],
            timezone=self._timezone(message["timezone"]),
            timezone_name=message["timezone"],
            extra_fields=tuple(message["extra_fields"]),
            colors=self._colors(message["colors"]),
            levels=self._levels(m["levels"]),
            fallback_level=m["fallback_level"],
            default_scope=m["default_scope"],
            self_guard=m["self_guard"],
            scopes=tuple(
                Scope(s["name"], self._matcher(f"scopes[{i}]", s))
                for i, s in enumerate(m["scopes"])
            ),
            ignore=tuple(
                IgnoreRule(r["name"] or f"ignore[{i}]", self._matcher(f"ignore[{i}]", r))
                for i, r in enumerate(m["ignore"])
            ),
            routes=tuple(self._route(i, r) for i, r in enumerate(m["routes"])),
            destinations={
                name: Destination(name, self._source(name, d), d["language"])
                for name, d in m["destinations"].items()
            },
            http=self._http(m["http"]),
            outbox=OutboxSettings(
                data_dir=resolve_path(self.base, outbox["data_dir"]),
                retention_days=outbox["retention_days"],
                drain_seconds=outbox["drain_seconds"],
                max_wait_seconds=outbox["max_wait_seconds"],
                digest_interval_seconds=outbox["digest_interval_seconds"],
            ),
            log_dir=resolve_path(self.base, log["dir"]),
            log_retention_days=log["retention_days"],
        )

    def _route(self, i: int, r: dict[str, Any]) -> Route:
        key = f"routes[{i}]"
        mentions = (self._mention(f"{key}.mention", x) for x in r["mention"])
        return Route(
            name=r["name"] or key,
            matcher=self._matcher(key, r),
            destinations=tuple(r["destination"]),
            mentions=tuple(filter(None, mentions)),
            continue_=r["continue"],
        )

    def _matcher(self, key: str, m: dict[str, Any]) -> Matcher:
        def optional(name: str) -> frozenset[str] | None:
            return frozenset(m[name]) if m.get(name) is not None else None

        units = m.get("units")
        hosts = m.get("hosts")
        return Matcher(
            event_ids=self._event_ids(f"{key}.event_ids", m.get("event_ids")),
            levels=optional("levels"),
            scopes=optional("scopes"),
            units=self._patterns(f"{key}.units", units) if units is not None else None,
            exclude_units=self._patterns(f"{key}.exclude_units", m["exclude_units"]),
            services=optional("services"),
            hosts=frozenset(h.lower() for h in hosts) if hosts is not None else None,
        )

    def _patterns(self, key: str, patterns: list[str]) -> tuple[UnitPattern, ...]:
        compiled = []
        for i, pattern in enumerate(patterns):
            try:
                compiled.append(compile_unit_pattern(pattern))
            except PatternError as exc:
                self.problems.append(f"{key}[{i}]: {exc}")
        return tuple(compiled)

    def _event_ids(self, key: str, ids: list[str] | None) -> frozenset[str] | None:
        if ids is None:
            return None
        found = (self._event_id(f"{key}[{i}]", x) for i, x in enumerate(ids))
        return frozenset(filter(None, found))

    def _event_id(self, key: str, value: str) -> str | None:
        if not _EVENT_ID.fullmatch(value):
            self.problems.append(
                f"{key}: {value!r} is not a JP1 event ID (hex, e.g. '4104' or '00004104')"
            )
            return None
        return normalize_event_id(value.split(":")[0])

    def _levels(self, levels: dict[str, str]) -> dict[str, str]:
        out = {}
        for raw, level in levels.items():
            event_id = self._event_id(f"levels.{raw}", raw)
            if event_id:
                out[event_id] = level
        return out

    def _mention(self, key: str, value: str) -> str:
        if value in ("channel", "here", "everyone"):
            return f"<!{value}>"
        if value == "none":
            return ""
        if _GROUP_ID.fullmatch(value):
            return f"<!subteam^{value}>"
        if _USER_ID.fullmatch(value):
            return f"<@{value}>"
        self.problems.append(
            f"{key}: {value!r} is not a mention (allowed: none, channel, here, everyone, a user "
            "group ID like S0123ABCD, a user ID like U0123ABCD)"
        )
        return ""

    def _source(self, name: str, d: dict[str, Any]) -> WebhookSource:
        if d["webhook_url_env"]:
            return WebhookSource("env", d["webhook_url_env"])
        if d["webhook_url_file"]:
            return WebhookSource("file", str(resolve_path(self.base, d["webhook_url_file"])))
        return WebhookSource("url", f"destinations.{name}.webhook_url")

    def _timezone(self, name: str | None) -> tzinfo | None:
        if name is None:
            return None
        if name.upper() in ("UTC", "Z"):
            return UTC
        offset = _OFFSET.fullmatch(name)
        if offset:
            sign = -1 if offset[1] == "-" else 1
            return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.problems.append(
                f"message.timezone: unknown time zone {name!r} (e.g. Asia/Tokyo, UTC, +09:00)"
            )
            return None

    def _colors(self, colors: dict[str, str]) -> dict[str, str]:
        for level, color in colors.items():
            if not _COLOR.fullmatch(color):
                self.problems.append(
                    f"message.colors.{level}: {color!r} is not a colour (#RRGGBB, good, warning, danger)"
                )
        return dict(colors)

    def _http(self, h: dict[str, Any]) -> HttpSettings:
        ca_file = str(resolve_path(self.base, h["ca_file"])) if h["ca_file"] else None
        if ca_file and not Path(ca_file).is_file():
            self.problems.append(f"http.ca_file: {ca_file} is not a file")
        return HttpSettings(
            h["timeout_seconds"], h["retry_budget_seconds"], h["max_attempts"], h["proxy"], ca_file
        )
