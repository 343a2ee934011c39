"""The config file format (TOML), validated with pydantic; `config.build_config` compiles the
result. Only a changed config file pays for importing pydantic (config.py keeps a cache).

Every problem becomes one line naming the key and what is allowed, e.g.
`routes[2].destination: unknown destination 'alerts' (known: alert, notice)`. Shape errors come
from pydantic; references between sections (destinations, scopes) are checked afterwards.
"""

from __future__ import annotations

import difflib
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from jp1notify.catalog import LEVELS
from jp1notify.config import ConfigError

Level = Literal[LEVELS]  # type: ignore[valid-type]
Language = Literal["ja", "en"]


def _as_list(value: Any) -> Any:
    """Let a single string stand for a one-element list: `mention = "here"`."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
LevelList = Annotated[list[Level], BeforeValidator(_as_list)]


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


def validate(path: Path, data: bytes) -> tuple[dict[str, Any], list[str]]:
    """Parse and validate TOML bytes. Returns the config as plain data with every default
    filled in (keys as written in TOML, so `continue`), and the reference problems (unknown
    destinations or scopes) for the caller to report with its own. Raises ConfigError listing
    every shape and reference problem if the shape is wrong."""
    raw = parse_toml(path, data)
    references = reference_problems(raw)
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(err) for err in exc.errors()] + references) from None
    return model.model_dump(by_alias=True), references


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


def parse_toml(path: Path, data: bytes) -> dict[str, Any]:
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
