"""The config file format (TOML), validated with pydantic and compiled to `config.Config`.

Every problem becomes one line naming the key and what is allowed, e.g.
`routes[2].destination: unknown destination 'alerts' (known: alert, notice)`. Shape errors come
from pydantic; references between sections (destinations, scopes) are checked afterwards.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from jp1notify.catalog import LEVELS
from jp1notify.config import (
    Config,
    ConfigError,
    Destination,
    HttpSettings,
    IgnoreRule,
    Matcher,
    OutboxSettings,
    RedactedDict,
    Route,
    Scope,
    WebhookSource,
    resolve_path,
)
from jp1notify.event import normalize_event_id
from jp1notify.patterns import PatternError, UnitPattern, compile_unit_pattern

Level = Literal[LEVELS]  # type: ignore[valid-type]
Language = Literal["ja", "en"]


def _as_list(value: Any) -> Any:
    """Let a single string stand for a one-element list: `mention = "here"`."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
LevelList = Annotated[list[Level], BeforeValidator(_as_list)]

_EVENT_ID = re.compile(r"[0-9A-Fa-f]{1,8}(?::[0-9A-Fa-f]{1,8})?")
# https://api.slack.com/reference/surfaces/formatting#mentioning-groups
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}|good|warning|danger")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MatchModel(_Model):
    event_ids: StrList | None = None
    levels: LevelList | None = None
    scopes: StrList | None = None
    units: StrList | None = None
    exclude_units: StrList = []
    services: StrList | None = None
    hosts: StrList | None = None


class ScopeModel(_Model):
    name: str = Field(min_length=1)
    units: StrList | None = None
    exclude_units: StrList = []
    services: StrList | None = None
    hosts: StrList | None = None


class IgnoreModel(MatchModel):
    name: str | None = None


class RouteModel(MatchModel):
    name: str | None = None
    destination: StrList = Field(min_length=1)
    mention: StrList = []
    continue_: bool = Field(False, alias="continue")


class DestinationModel(_Model):
    webhook_url: str | None = None
    webhook_url_env: str | None = None
    webhook_url_file: str | None = None
    language: Language | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DestinationModel:
        given = [
            k for k in ("webhook_url", "webhook_url_env", "webhook_url_file") if getattr(self, k)
        ]
        if len(given) != 1:
            raise ValueError(
                "exactly one of webhook_url, webhook_url_env, webhook_url_file must be set"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self


class MessageModel(_Model):
    language: Language = "en"
    timezone: str | None = None
    extra_fields: StrList = []
    colors: dict[Level, str] = {}


class HttpModel(_Model):
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    retry_budget_seconds: float = Field(20.0, ge=0, le=600)
    max_attempts: int = Field(4, ge=1, le=20)
    proxy: str | None = None
    ca_file: str | None = None


class OutboxModel(_Model):
    data_dir: str = "data"
    retention_days: int = Field(30, ge=1, le=3650)
    drain_seconds: float = Field(60.0, ge=1, le=600)
    max_wait_seconds: float = Field(10.0, ge=0, le=120)
    digest_interval_seconds: float = Field(5.0, ge=1, le=300)


class LogModel(_Model):
    dir: str = "logs"
    retention_days: int = Field(30, ge=1, le=3650)


class ConfigModel(_Model):
    message: MessageModel = MessageModel()
    http: HttpModel = HttpModel()
    outbox: OutboxModel = OutboxModel()
    log: LogModel = LogModel()
    levels: dict[str, Level] = {}
    fallback_level: Level = "warning"
    default_scope: str = Field("other", min_length=1)
    self_guard: bool = True
    scopes: list[ScopeModel] = []
    ignore: list[IgnoreModel] = []
    destinations: dict[str, DestinationModel] = Field(min_length=1)
    routes: list[RouteModel] = Field(min_length=1)


def compile_config(path: Path, data: bytes) -> Config:
    """Parse TOML bytes, validate them and build the Config. Raises ConfigError."""
    raw = _parse_toml(path, data)
    references = reference_problems(raw)
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(err) for err in exc.errors()] + references) from None
    compiler = _Compiler(path)
    config = compiler.build(model)
    if compiler.problems or references:
        raise ConfigError(path, compiler.problems + references)
    return config


def reference_problems(raw: dict[str, Any]) -> list[str]:
    """Names that point nowhere: routes to unknown destinations, unknown or duplicate scopes.

    Checked on the raw TOML so that they are reported together with shape errors.
    """
    destinations = raw.get("destinations")
    known_destinations = sorted(destinations) if isinstance(destinations, dict) else []
    scope_names = [s.get("name") for s in _tables(raw, "scopes")]
    known_scopes = sorted(
        {n for n in scope_names if isinstance(n, str)} | {str(raw.get("default_scope", "other"))}
    )
    problems = [
        f"scopes[{i}].name: scope {name!r} is defined twice"
        for i, name in enumerate(scope_names)
        if isinstance(name, str) and name in scope_names[:i]
    ]
    for section in ("ignore", "routes"):
        for i, table in enumerate(_tables(raw, section)):
            for name in _names(table.get("scopes")):
                if name not in known_scopes:
                    problems.append(
                        f"{section}[{i}].scopes: unknown scope {name!r} (known: {', '.join(known_scopes)})"
                    )
            if section == "routes":
                for name in _names(table.get("destination")):
                    if name not in known_destinations:
                        problems.append(
                            f"routes[{i}].destination: unknown destination {name!r} "
                            f"(known: {', '.join(known_destinations)})"
                        )
    return problems


def _tables(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    return [t if isinstance(t, dict) else {} for t in value] if isinstance(value, list) else []


def _names(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in values if isinstance(v, str)]


def _parse_toml(path: Path, data: bytes) -> dict[str, Any]:
    if data.startswith(b"\xef\xbb\xbf"):  # Notepad's "UTF-8 with BOM"
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            path,
            ["the file is not UTF-8 (saved as Shift_JIS/ANSI?). Save it as UTF-8 and try again"],
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"TOML syntax error: {exc}"]) from None


def _describe(error: Any) -> str:
    """One pydantic error as `key.path: what is wrong (what is allowed)`."""
    loc = format_loc(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        parent = _model_at(error["loc"][:-1])
        allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
        if len(error["loc"]) > 1 and name in ConfigModel.model_fields:
            return (
                f"{loc}: '{name}' is a top-level key; in TOML every key after a [table] header "
                "belongs to that table, so move it above the first [table]"
            )
        hint = difflib.get_close_matches(name, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{loc}: unknown key (allowed: {', '.join(allowed)}){suggestion}"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind == "literal_error":
        expected = error["ctx"]["expected"].replace("'", "")
        return (
            f"{loc}: {error['input']!r} is not allowed (allowed: {expected.replace(' or ', ', ')})"
        )
    message = error["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def format_loc(loc: tuple[Any, ...]) -> str:
    """('routes', 2, 'destination') -> 'routes[2].destination'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, to list its allowed keys."""
    model: type[BaseModel] | None = ConfigModel
    dict_key_next = False
    for part in loc:
        if isinstance(part, int):
            continue
        if dict_key_next:  # destinations.<name>: the name is a key, not a field
            dict_key_next = False
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        dict_key_next = typing.get_origin(field.annotation) is dict
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside list[...] / dict[str, ...] / X | None, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found:
            return found
    return None


class _Compiler:
    """Turns a validated ConfigModel into a Config, collecting reference and syntax problems."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent
        self.problems: list[str] = []

    def build(self, m: ConfigModel) -> Config:
        scopes = tuple(
            Scope(s.name, self._matcher(f"scopes[{i}]", s)) for i, s in enumerate(m.scopes)
        )
        ignore = tuple(
            IgnoreRule(r.name or f"ignore[{i}]", self._matcher(f"ignore[{i}]", r))
            for i, r in enumerate(m.ignore)
        )
        routes = tuple(self._route(i, r) for i, r in enumerate(m.routes))
        timezone_ = self._timezone(m.message.timezone)
        return Config(
            path=self.path,
            language=m.message.language,
            timezone=timezone_,
            timezone_name=m.message.timezone,
            extra_fields=tuple(m.message.extra_fields),
            colors=self._colors(m.message.colors),
            levels=self._levels(m.levels),
            fallback_level=m.fallback_level,
            default_scope=m.default_scope,
            self_guard=m.self_guard,
            scopes=scopes,
            ignore=ignore,
            routes=routes,
            destinations={
                name: Destination(name, self._source(name, d), d.language)
                for name, d in m.destinations.items()
            },
            literal_webhooks=RedactedDict(
                {n: d.webhook_url for n, d in m.destinations.items() if d.webhook_url}
            ),
            http=self._http(m.http),
            outbox=OutboxSettings(
                data_dir=resolve_path(self.base, m.outbox.data_dir),
                retention_days=m.outbox.retention_days,
                drain_seconds=m.outbox.drain_seconds,
                max_wait_seconds=m.outbox.max_wait_seconds,
                digest_interval_seconds=m.outbox.digest_interval_seconds,
            ),
            log_dir=resolve_path(self.base, m.log.dir),
            log_retention_days=m.log.retention_days,
        )

    def _route(self, i: int, r: RouteModel) -> Route:
        key = f"routes[{i}]"
        return Route(
            name=r.name or key,
            matcher=self._matcher(key, r),
            destinations=tuple(r.destination),
            mentions=tuple(filter(None, (self._mention(f"{key}.mention", x) for x in r.mention))),
            continue_=r.continue_,
        )

    def _matcher(self, key: str, m: MatchModel | ScopeModel) -> Matcher:
        event_ids = levels = scopes = None
        if isinstance(m, MatchModel):
            event_ids = self._event_ids(f"{key}.event_ids", m.event_ids)
            levels = frozenset(m.levels) if m.levels is not None else None
            scopes = frozenset(m.scopes) if m.scopes is not None else None
        return Matcher(
            event_ids=event_ids,
            levels=levels,
            scopes=scopes,
            units=self._patterns(f"{key}.units", m.units) if m.units is not None else None,
            exclude_units=self._patterns(f"{key}.exclude_units", m.exclude_units),
            services=frozenset(m.services) if m.services is not None else None,
            hosts=frozenset(h.lower() for h in m.hosts) if m.hosts is not None else None,
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
        return frozenset(
            filter(None, (self._event_id(f"{key}[{i}]", x) for i, x in enumerate(ids)))
        )

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

    def _source(self, name: str, d: DestinationModel) -> WebhookSource:
        if d.webhook_url_env:
            return WebhookSource("env", d.webhook_url_env)
        if d.webhook_url_file:
            return WebhookSource("file", str(resolve_path(self.base, d.webhook_url_file)))
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

    def _http(self, h: HttpModel) -> HttpSettings:
        ca_file = str(resolve_path(self.base, h.ca_file)) if h.ca_file else None
        if ca_file and not Path(ca_file).is_file():
            self.problems.append(f"http.ca_file: {ca_file} is not a file")
        return HttpSettings(
            h.timeout_seconds, h.retry_budget_seconds, h.max_attempts, h.proxy, ca_file
        )
