"""The routing config: where it is found, how it is loaded, and the values the rest of jp1notify
reads from it.

The file format and its validation live in `schema.py` (pydantic); this module holds the
compiled, immutable result that classification, routing and rendering take as a value. Webhook
URLs are not part of that value: a destination names where its URL comes from, and
`resolve_webhook` reads it only when a message is actually sent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import NamedTuple

from jp1notify.patterns import UnitPattern

CONFIG_ENV = "JP1NOTIFY_CONFIG"
DEFAULT_CONFIG = Path("config") / "jp1notify.toml"


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one readable line per problem."""

    def __init__(self, path: Path | str | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


class RedactedDict(dict[str, str]):
    """A dict of secrets whose repr never shows them (a Config may end up in a traceback)."""

    def __repr__(self) -> str:
        return f"<{len(self)} redacted>"


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
    literal_webhooks: RedactedDict  # destination -> URL given as webhook_url
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
    from jp1notify import schema  # pydantic is only needed when a config is actually loaded

    return schema.compile_config(path, data)


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
        url = config.literal_webhooks[destination.name]
    problem = check_webhook_url(url)
    if problem:
        raise ConfigError(
            config.path, [f"{key}: the webhook URL from {source.describe()} {problem}"]
        )
    return url


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
