"""Layered settings: `JP1NOTIFY_...` environment variables over the config file, read with
pydantic-settings' environment source (the prefix, `__` between nested keys, names in any case,
JSON for lists and tables).

config.load_config imports this module only when an override is set and the cache missed:
pydantic-settings takes about 0.2 s to import, which no event without overrides may pay. This
is the only module that imports it; its errors are translated here.

How a variable becomes a key (a variable wins over the file, the file over the default):
- `JP1NOTIFY_OUTBOX__DATA_DIR=D:\\jp1\\data` sets `[outbox] data_dir`. Names are read in any
  case, and a table name matches the file's in any case (`JP1NOTIFY_DESTINATIONS__OPS__...`
  sets `[destinations.Ops]` if the file spells it so).
- A value is text. For a key that takes a number or true/false it is read as TOML writes them
  (`7`, `2.5`, `true`); a list or table is JSON (`JP1NOTIFY_ROUTES='[{"destination":
  "alerts"}]'`). A table is merged over the file's key by key; a list replaces the file's whole.
- A variable that sets one source of a secret (`webhook_url`, `webhook_url_env` or
  `webhook_url_file`; `token...`, `url...`) replaces the file's other source: CI can give a
  literal URL to a config that names a variable.
Then schema.py validates the merged data as it would the file alone, and every problem an
override caused names its variable: `JP1NOTIFY_HTTP__TIMEOUT_SECONDS (overrides
http.timeout_seconds): must be a number`.
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from jp1notify import schema
from jp1notify.config import (
    OVERRIDE_PREFIX,
    SECRET_VALUE_KEYS,
    Config,
    Override,
    build_config,
)
from jp1notify.errors import ConfigError
from jp1notify.text import cut

DELIMITER = "__"


def _bare(annotation: Any) -> Any:
    """`X` from `Annotated[X, ...]` and `X | None`."""
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


class _Settings(BaseSettings):
    """What pydantic-settings reads the variables into. Never instantiated: schema.py validates
    the merged data, in the operator's words."""

    model_config = SettingsConfigDict(
        env_prefix=OVERRIDE_PREFIX,
        env_nested_delimiter=DELIMITER,
        case_sensitive=False,
        extra="ignore",
    )


# One field per top-level key, typed as schema.ConfigModel's (without None: a value that is not
# JSON where a table or list belongs is then reported, not passed on as text), so that the env
# source knows which values are JSON and which names lead into tables.
_Overrides = create_model(  # type: ignore[call-overload]  # fields built from the schema
    "_Overrides",
    __base__=_Settings,
    **{
        name: (_bare(field.annotation), None)
        for name, field in schema.ConfigModel.model_fields.items()
    },
)


class _OneVariable(EnvSettingsSource):
    """pydantic-settings' environment source over one variable, not os.environ: each override is
    read on its own, so that a problem names its variable."""

    def __init__(self, name: str, value: str) -> None:
        self._variables = {name.lower(): value}  # names in any case (case_sensitive=False)
        super().__init__(_Overrides)

    def _load_env_vars(self) -> dict[str, str | None]:
        return dict(self._variables)


class _Layer(NamedTuple):
    """One variable as pydantic-settings read it: the keys it names and the value it sets."""

    variable: str
    path: tuple[str, ...]  # lower case, as named
    value: Any
    text: bool  # the value is the variable's text (else JSON): no "without quotes" advice


class _Origin(NamedTuple):
    """Where an applied layer put its values, to name its variable in problem lines."""

    variable: str
    label: str  # the key it overrides: outbox.data_dir, routes
    leaves: tuple[str, ...]  # the labels of every key it set (inside a JSON table too)
    text: bool


def load(
    path: Path, data: bytes, variables: Sequence[tuple[str, str]]
) -> tuple[Config, dict[str, Any]]:
    """The config from the file's bytes with the overrides `variables` ((name, value) pairs,
    config.scan_environment) merged over it, and the validated data to cache. Raises
    ConfigError with every problem, each one an override caused naming its variable."""
    raw = schema.parse_toml(path, data)
    named = set(_env_names(raw))
    layers: list[_Layer] = []
    problems: list[str] = []
    for name, value in variables:
        if name.upper() in named:  # a secret's variable (url_env = "JP1NOTIFY_HEARTBEAT")
            continue
        try:
            layers.append(_read(name, value))
        except ConfigError as exc:  # a variable that cannot be read as an override
            problems += exc.problems
    layers.sort(key=lambda layer: (len(layer.path), layer.variable))  # the deepest wins
    _drop_replaced_sources(raw, layers)
    applied = [_apply(raw, layer) for layer in layers]
    origins = [origin for _, origin in applied]
    try:
        validated, references = schema.validate_data(path, raw)
        config = build_config(path, validated, references, [o for o, _ in applied])
    except ConfigError as exc:
        raise ConfigError(path, problems + [blame(p, origins) for p in exc.problems]) from None
    if problems:
        raise ConfigError(path, problems)
    return config, validated


def _env_names(node: Any) -> Iterator[str]:
    """The variables the file's `*_env` keys name, upper-cased (Windows names have no case).
    Such a variable holds a secret, not an override, even when its name reads as one."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.lower().endswith("_env") and isinstance(value, str):
                yield value.upper()
            else:
                yield from _env_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_names(item)


def _read(name: str, value: str) -> _Layer:
    """One variable as pydantic-settings decodes it, with text converted for a number or
    true/false key. Raises ConfigError for a name that leads nowhere or JSON that is not."""
    path = tuple(name[len(OVERRIDE_PREFIX) :].lower().split(DELIMITER))
    label = ".".join(cut(k) for k in path)
    if "" in path:
        raise _refused(
            f"{cut(name)}: a key between __ is empty; name one key after another, like "
            f"{OVERRIDE_PREFIX}OUTBOX__DATA_DIR"
        )
    target = _target(name, path)
    try:
        decoded = _OneVariable(name, value)()
    except (SettingsError, ValueError) as exc:
        raise _refused(f"{cut(name)} (overrides {label}): {_not_json(exc, target)}") from None
    except RecursionError:
        raise _refused(f"{cut(name)} (overrides {label}): the JSON is nested too deeply") from None
    try:
        keys, leaf = _descend(decoded, len(path))
    except (ValueError, AttributeError):  # pydantic-settings kept nothing of it
        raise _refused(f"{cut(name)} (overrides {label}): sets nothing jp1notify knows") from None
    if not isinstance(leaf, str):
        return _Layer(name, keys, leaf, False)
    return _Layer(name, keys, _typed(leaf.strip(), target), True)


def _refused(line: str) -> ConfigError:
    """The error for a variable that cannot be read as an override; `line` names it."""
    return ConfigError(None, [line])


def _target(name: str, path: tuple[str, ...]) -> Any:
    """The type the key at `path` takes (None for a key the schema does not know: it says so).
    Raises ConfigError where a name goes into a list or a single value, which have no keys."""
    annotation: Any = schema.ConfigModel
    for i, key in enumerate(path):
        annotation = _bare(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next(
                (f for n, f in annotation.model_fields.items() if key in (n, f.alias)), None
            )
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            raise _refused(_no_keys(name, path[:i], annotation))
    return _bare(annotation)


def _no_keys(name: str, path: tuple[str, ...], annotation: Any) -> str:
    whole = OVERRIDE_PREFIX + DELIMITER.join(path).upper()
    label = ".".join(cut(k) for k in path)
    if typing.get_origin(annotation) is list:
        return (
            f"{cut(name)}: {label} is a list, which a variable replaces whole: set {whole} "
            f"to the list as JSON, like {_example(annotation)}"
        )
    return f"{cut(name)}: {label} is a single value, not a table: set {whole} itself"


def _example(annotation: Any) -> str:
    """How a list or table is written in a variable, as JSON."""
    if typing.get_origin(annotation) is list:
        inner = _bare(typing.get_args(annotation)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return '[{"key": "value"}, {"key": "value"}]'
        return '["a", "b"]'
    return '{"key": "value"}'


def _not_json(exc: Exception, target: Any) -> str:
    cause = exc.__cause__ if isinstance(exc, SettingsError) else exc
    where = ""
    if isinstance(cause, json.JSONDecodeError):
        where = f" ({cause.msg} at character {cause.pos + 1})"
    return f"is not valid JSON{where}; write a list or table as JSON, like {_example(target)}"


def _descend(decoded: dict[str, Any], depth: int) -> tuple[tuple[str, ...], Any]:
    """The keys pydantic-settings put the value under (one per name part), and the value."""
    node: Any = decoded
    keys: list[str] = []
    for _ in range(depth):
        ((key, node),) = node.items()
        keys.append(key)
    return tuple(keys), node


def _typed(text: str, target: Any) -> Any:
    """A variable's text as a number or true/false where the key takes one, read as TOML
    writes them ("7", "2.5", "1_000", "true"); else the text, which the schema judges
    (strictly: "seven" is "must be a number")."""
    if target not in (bool, int, float) or "\n" in text or "\r" in text:
        return text
    if target is bool:
        text = text.lower()  # TRUE and False from Windows habits: still plainly a boolean
    try:
        value = tomllib.loads(f"v = {text}").get("v")
    except tomllib.TOMLDecodeError:
        return text
    if target is bool:
        return value if isinstance(value, bool) else text
    if isinstance(value, bool) or not isinstance(value, int | float):
        return text
    return value if target is float or isinstance(value, int) else text


def _drop_replaced_sources(raw: dict[str, Any], layers: Sequence[_Layer]) -> None:
    """A variable that sets one source of a secret (webhook_url_env) replaces the file's other
    sources of it (webhook_url, webhook_url_file): else the schema would find two."""
    for layer in layers:
        depth = {"destinations": 3, "heartbeat": 2}.get(layer.path[0])
        if depth is None:
            continue
        for keys in _keys_set(layer.path, layer.value, depth):
            table = _table(raw, keys[:-1])
            key = keys[-1].lower()
            base = key.removesuffix("_env").removesuffix("_file")
            if table is None or base not in SECRET_VALUE_KEYS:
                continue
            for other in (base, f"{base}_env", f"{base}_file"):
                if other != key:
                    table.pop(other, None)


def _keys_set(path: tuple[str, ...], value: Any, depth: int) -> Iterator[tuple[str, ...]]:
    """The key paths `depth` long that a layer sets (inside its JSON table too)."""
    if len(path) >= depth:
        yield path[:depth]
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _keys_set((*path, str(key)), inner, depth)


def _table(raw: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = raw
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(_spelled(node, key))
    return node if isinstance(node, dict) else None


def _spelled(table: dict[str, Any], key: str) -> str:
    """`key` as `table` already spells it, in any case; else `key`."""
    if key in table:
        return key
    return next((k for k in table if isinstance(k, str) and k.lower() == key.lower()), key)


def _apply(raw: dict[str, Any], layer: _Layer) -> tuple[Override, _Origin]:
    """Merge one layer into `raw` (tables key by key, anything else replaced) and say what it
    set: the keys as the merged data spells them, and the secrets among them."""
    node = raw
    keys: list[str] = []
    for key in layer.path[:-1]:
        key = _spelled(node, key)
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
        keys.append(key)
    keys.append(_spelled(node, layer.path[-1]))
    leaves = list(_merge(node, tuple(keys), layer.value))
    secrets = tuple(leaf for leaf, value in leaves if _is_secret(leaf, value))
    origin = _Origin(
        layer.variable,
        _label(keys),
        tuple(_label(leaf) for leaf, _ in leaves),
        layer.text,
    )
    return Override(layer.variable, tuple(keys), secrets), origin


def _merge(
    node: dict[str, Any], keys: tuple[str, ...], value: Any
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Put `value` at node[keys[-1]], merging tables key by key; yields each key path set."""
    key = keys[-1]
    if isinstance(value, dict) and isinstance(node.get(key), dict):
        for inner_key, inner in value.items():
            spelled = _spelled(node[key], str(inner_key))
            yield from _merge(node[key], (*keys, spelled), inner)
        return
    node[key] = value
    yield from _leaves(keys, value)


def _leaves(keys: tuple[str, ...], value: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves((*keys, str(key)), inner)
    else:
        yield keys, value


def _is_secret(keys: tuple[str, ...], value: Any) -> bool:
    """Whether the key holds a secret: a destination's webhook URL, token, ..., or a header;
    the heartbeat URL; a proxy with user:password. The cache never holds its value."""
    lower = tuple(k.lower() for k in keys)
    if lower[0] == "destinations" and len(lower) >= 3:
        return lower[2] in SECRET_VALUE_KEYS or lower[2] == "headers"
    if lower[:2] == ("http", "proxy"):
        return "@" in str(value)
    return lower[:2] == ("heartbeat", "url")


def _label(keys: Sequence[str]) -> str:
    return ".".join(cut(k) for k in keys)


def blame(problem: str, origins: Sequence[_Origin]) -> str:
    """A problem line naming the variable that caused it:
    `JP1NOTIFY_HTTP__TIMEOUT_SECONDS (overrides http.timeout_seconds): must be a number`, or
    `destinations.ops: exactly one of ... (set with JP1NOTIFY_... from the environment)` for a
    problem of a table a variable set a key in. Other lines are the file's, unchanged."""
    for origin in sorted(origins, key=lambda o: len(o.label), reverse=True):
        if problem.startswith(origin.label + ": "):
            what = problem[len(origin.label) + 2 :]
            if origin.text:  # a variable's text has no quotes to take off
                what = what.replace(" (without quotes)", "")
            return f"{origin.variable} (overrides {origin.label}): {_as_json(what)}"
        if any(_within(problem, leaf) for leaf in origin.leaves):
            return f"{origin.variable} (overrides {origin.label}): {_as_json(problem)}"
    key = problem.partition(": ")[0]
    around = [
        o.variable
        for o in origins
        if any(leaf.startswith((key + ".", key + " ")) for leaf in o.leaves)
    ]
    if around:
        return f"{problem} (set with {', '.join(around)} from the environment)"
    return problem


# schema._unknown_key's advice for a file, where a key below a [table] header belongs to it.
_TOML_ADVICE = (
    " is a top-level key; in TOML every key after a [table] header belongs to that table, so "
    "move it above the first [table]"
)


def _as_json(what: str) -> str:
    """A problem in a variable's JSON without advice about the file's TOML layout."""
    return what.replace(
        _TOML_ADVICE, " is a top-level key, not a key of this table: take it out of the JSON"
    )


def _within(problem: str, label: str) -> bool:
    """Whether `problem` is about the key `label` or a key inside it."""
    return problem.startswith(label) and problem[len(label) : len(label) + 1] in (":", ".", " ")
