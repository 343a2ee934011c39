"""The config file format (TOML), validated with pydantic; `config.build_config` compiles the
result. Only a changed config file pays for importing pydantic (config.py keeps a cache).

Every problem becomes one line naming the key and what is allowed, in the operator's words,
e.g. `routes #3 "batch" destination: unknown destination 'alerts' (known: alert, notice)` or
`http.timeout_seconds: must be a number, without quotes`. Shape errors come from pydantic (in
strict mode: "30" is not 30, "off" is not false) and are translated here, type by type, so no
pydantic phrasing reaches an operator; references between sections (destinations, scopes) are
checked afterwards.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from jp1notify.catalog import LEVELS
from jp1notify.destinations import KINDS, SECRET_KEYS, Kind
from jp1notify.errors import ConfigError
from jp1notify.text import cut, entry_label, shown

Level = Literal[LEVELS]  # type: ignore[valid-type]
Language = Literal["ja", "en"]


def _as_list(value: Any) -> Any:
    """Let a single string stand for a one-element list: `mention = "here"`."""
    return [value] if isinstance(value, str) else value


WINDOWS_PATH_ADVICE = (
    "in double quotes a backslash starts an escape (\\t is a tab, \\n a line break): write "
    "Windows paths in single quotes, 'C:\\jp1notify\\x.url', or with forward slashes, "
    '"C:/jp1notify/x.url"'
)
_CONTROL_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return", "\0": "a NUL"}


def _path(value: str) -> str:
    """Refuse control characters in a path: "C:\\temp\\new.url" in TOML double quotes holds a
    tab and a line break, and a NUL makes every file operation fail."""
    bad = next((c for c in value if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        name = _CONTROL_NAMES.get(bad, f"the control character U+{ord(bad):04X}")
        raise ValueError(f"the path has {name} in it; {WINDOWS_PATH_ADVICE}")
    return value


def _variable(value: str) -> str:
    """An environment variable's name; a URL or token here would be shown in every message
    about it."""
    if "://" in value or value.startswith("xox"):
        raise ValueError(
            "this is a URL or token, not the name of an environment variable: name the variable "
            "that holds it (e.g. JP1NOTIFY_WEBHOOK_ALERTS), or use webhook_url / token / ping_url"
        )
    bare = value.strip("$%{}")
    if bare != value and bare and all(c.isalnum() or c == "_" for c in bare):
        raise ValueError(f"write the variable's bare name, {bare!r}, without $ or % signs")
    if "=" in value or any(ord(c) < 32 or c.isspace() for c in value):
        raise ValueError(
            "this is not the name of an environment variable (it has '=', a space or a "
            "control character)"
        )
    return value


def _name(value: str) -> str:
    """A name shown in messages, logs and check-config: one line of printable text."""
    if any(not c.isprintable() for c in value):
        raise ValueError("a name must be one line of printable text (no tab, line break, ...)")
    return value


def _webhook_file(value: str) -> str:
    if "://" in value or value.startswith("xox"):
        raise ValueError(
            "this is a URL or token, not a file path: put it in that file, or use webhook_url / "
            "token / ping_url"
        )
    return _path(value)


# RFC 9110 5.1: a field name is a token. Headers jp1notify sets itself, or that the HTTP layer
# owns, cannot be replaced (the body is JSON; a wrong length or host would break the request).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OWN_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection", "user-agent"}
)
MAX_HEADERS = 20


def _headers(value: dict[str, str]) -> dict[str, str]:
    """`headers` of a webhook: names as HTTP takes them, values on one line (they are secrets:
    never quoted in a message)."""
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, text in value.items():
        shown_name = name if len(name) <= 60 else name[:59] + "…"
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{shown_name!r} is not an HTTP header name (letters, digits, -)")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"{shown_name!r} is set by jp1notify itself and cannot be replaced")
        if not text.strip() or any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError(
                f"the value of header {shown_name!r} is empty or has a line break or control "
                "character (the value is not shown: it may be a secret)"
            )
        if not text.isascii():  # httpx sends header values as ASCII: it could never be sent
            raise ValueError(
                f"the value of header {shown_name!r} has a character that is not ASCII (HTTP "
                "header values are ASCII; the value is not shown: it may be a secret)"
            )
    return value


# https://docs.slack.dev/reference/methods/chat.update: `channel` must be an ID (the reply to
# chat.postMessage gives one); public C..., private G..., direct message D....
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")


def _channel(value: str) -> str:
    if not _CHANNEL_ID.fullmatch(value):
        raise ValueError(
            "write the channel ID, like 'C0123ABCD' (in Slack: open the channel, click its name, "
            "the ID is at the bottom of the About tab), not a channel name"
        )
    return value


def _proxy(value: str) -> str:
    from jp1notify.config import check_proxy_url  # schema.py is imported by config.py

    problem = check_proxy_url(value) if value else None
    if problem:
        raise ValueError(f"the proxy URL {problem}")
    return value


# A route's `hours` / `quiet_hours` (rules.Window): HH:MM-HH:MM, local time, may wrap midnight.
_WINDOW_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
WeekDay = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _window(value: str) -> str:
    """`hours` / `quiet_hours`: a window of the day, HH:MM-HH:MM, which may wrap midnight."""
    start, dash, end = value.replace(" ", "").partition("-")
    if not dash or not _WINDOW_CLOCK.fullmatch(start) or not _WINDOW_CLOCK.fullmatch(end):
        raise ValueError(
            'must be a window of the day as HH:MM-HH:MM, like "22:00-08:00" (it may wrap '
            "midnight; the end is not included)"
        )
    if _minutes(start) == _minutes(end):
        raise ValueError(
            "starts and ends at the same time: for the whole day remove the key, else give "
            'a window like "22:00-08:00"'
        )
    return value


def _minutes(clock: str) -> int:
    hour, _, minute = clock.partition(":")
    return int(hour) * 60 + int(minute)


StrList = Annotated[list[str], BeforeValidator(_as_list)]
LevelList = Annotated[list[Level], BeforeValidator(_as_list)]
PathStr = Annotated[str, AfterValidator(_path)]
VariableStr = Annotated[str, AfterValidator(_variable)]
NameStr = Annotated[str, AfterValidator(_name)]
WebhookFileStr = Annotated[str, AfterValidator(_webhook_file)]
ChannelStr = Annotated[str, AfterValidator(_channel)]
ProxyStr = Annotated[str, AfterValidator(_proxy)]
WindowStr = Annotated[str, AfterValidator(_window)]


class _Model(BaseModel):
    # strict: "30" is not 30 and "off" is not false (an int for a float field is still fine)
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )


class MatchModel(_Model):
    event_ids: StrList | None = None
    levels: LevelList | None = None
    scopes: StrList | None = None
    units: StrList | None = None
    exclude_units: StrList = []
    services: StrList | None = None
    hosts: StrList | None = None


class ScopeModel(_Model):
    name: NameStr = Field(min_length=1)
    units: StrList | None = None
    exclude_units: StrList = []
    services: StrList | None = None
    hosts: StrList | None = None


class IgnoreModel(MatchModel):
    name: NameStr | None = None


class RouteModel(MatchModel):
    name: NameStr | None = None
    destination: StrList = Field(min_length=1)
    mention: StrList = []
    continue_: bool = Field(False, alias="continue")
    recovery: bool = True  # tell a webhook destination that the incident is resolved
    # when the route applies: the event's own local time (rules.Window)
    hours: WindowStr | None = None
    quiet_hours: WindowStr | None = None
    days: Annotated[list[WeekDay], BeforeValidator(_as_list)] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _days_need_a_window(self) -> RouteModel:
        if self.days is not None and not (self.hours or self.quiet_hours):
            raise ValueError(
                'days says on which days hours or quiet_hours apply: add hours = "22:00-08:00" '
                "or quiet_hours, or remove days"
            )
        return self


class RunbookModel(MatchModel):
    name: NameStr | None = None
    text: str = Field(min_length=1)  # placeholders: checked by config's builder (guidance.py)
    url: str | None = None  # checked by config.check_link_url


ContextLevel = Literal["error", "warning"]  # problem events only (guidance.PROBLEM_LEVELS)


def _argv(value: Any) -> Any:
    """`command` is an argv list: a string would need a shell (or guessing) to split."""
    if isinstance(value, str):
        raise ValueError(
            'write the command as a list of arguments, like ["ajsshow", "-F", '
            '"{service}"]: jp1notify runs no shell, so each placeholder stays one argument'
        )
    return value


def _argument(value: str) -> str:
    if "\0" in value:
        raise ValueError("an argument cannot hold a NUL character")
    return value


class ContextModel(_Model):
    command: Annotated[list[Annotated[str, AfterValidator(_argument)]], BeforeValidator(_argv)] = (
        Field(min_length=1)
    )
    levels: Annotated[list[ContextLevel], BeforeValidator(_as_list)] = ["error", "warning"]
    timeout_seconds: float = Field(5.0, gt=0, le=30)
    max_lines: int = Field(15, ge=1, le=200)
    max_chars: int = Field(1500, ge=100, le=2500)


# -- kind = "alertmanager" (destinations/alertmanager.py) -------------------------------------


def _alertmanager_url(value: str) -> str:
    """One Alertmanager instance's base address. Not a secret (credentials go in username and
    password), so it may be quoted; plain http is allowed anywhere (Alertmanager is usually an
    internal http service), check-config warns when a password would cross the network in it."""
    from urllib.parse import urlsplit

    from jp1notify.urls import url_problem

    scheme = value.partition("://")[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https:// (like http://am1.example.co.jp:9093)")
    problem = url_problem(value)
    if problem:
        raise ValueError(f"the URL {problem}")
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError("has user:password in it: give them as username and password_env")
    if parts.query or parts.fragment:
        raise ValueError("has a ? or # part: give the instance's base address alone")
    if "/api/" in parts.path + "/":
        raise ValueError(
            "give the base address, like http://am1:9093, without /api/v2/alerts (jp1notify adds it)"
        )
    return value


def _basic_user(value: str) -> str:
    """RFC 7617: a user-id cannot contain a colon; no control characters."""
    if ":" in value or not value.isprintable():
        raise ValueError("a basic-auth user name has no colon and no control characters")
    return value


AlertmanagerUrl = Annotated[str, AfterValidator(_alertmanager_url)]
BasicUser = Annotated[str, AfterValidator(_basic_user)]
ALERTMANAGER_KEYS = ("urls", "username", "alert_lifetime_minutes")


class DestinationModel(_Model):
    kind: Literal[KINDS] = "slack_webhook"  # type: ignore[valid-type]
    webhook_url: str | None = None
    webhook_url_env: VariableStr | None = None
    webhook_url_file: WebhookFileStr | None = None
    token: str | None = None
    token_env: VariableStr | None = None
    token_file: WebhookFileStr | None = None
    ping_url: str | None = None
    ping_url_env: VariableStr | None = None
    ping_url_file: WebhookFileStr | None = None
    # kind "teams" takes webhook_url (a Workflows URL); kind "webhook" these:
    url: str | None = None
    url_env: VariableStr | None = None
    url_file: WebhookFileStr | None = None
    headers: Annotated[dict[str, str], AfterValidator(_headers)] | None = None
    channel: ChannelStr | None = None
    api_url: str | None = None
    # kind = "pagerduty" (destinations/pagerduty.py); events_url checked by config._destination
    routing_key: str | None = None
    routing_key_env: VariableStr | None = None
    routing_key_file: WebhookFileStr | None = None
    events_url: str | None = None
    client: NameStr | None = Field(None, min_length=1, max_length=100)
    client_url: str | None = None
    language: Language | None = None
    # kind = "alertmanager": every instance, optional basic auth (the password is the secret)
    urls: Annotated[list[AlertmanagerUrl], BeforeValidator(_as_list)] | None = None
    username: BasicUser | None = None
    password: str | None = None
    password_env: VariableStr | None = None
    password_file: WebhookFileStr | None = None
    alert_lifetime_minutes: float | None = Field(None, ge=1, le=1440)

    @model_validator(mode="after")
    def _fits_kind(self) -> DestinationModel:
        """Exactly one source of the kind's secret (none without a username, for alertmanager:
        its secret is optional); no key that belongs to another kind."""
        key = SECRET_KEYS[Kind(self.kind)]
        # another kind's keys first: a forgotten `kind` is the likely mistake, not a missing key
        foreign = [
            k
            for other in dict.fromkeys(SECRET_KEYS.values())  # several kinds share webhook_url
            if other != key
            for k in (other, f"{other}_env", f"{other}_file")
            if getattr(self, k)
        ]
        if self.kind != Kind.SLACK_BOT:
            foreign += [k for k in ("channel", "api_url") if getattr(self, k)]
        if self.kind != Kind.PAGERDUTY:
            foreign += [k for k in ("events_url", "client", "client_url") if getattr(self, k)]
        if self.kind != Kind.WEBHOOK and self.headers is not None:
            foreign.append("headers")
        if self.kind != Kind.ALERTMANAGER:
            foreign += [k for k in ALERTMANAGER_KEYS if getattr(self, k) is not None]
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} cannot be used with kind {self.kind!r}{_kind_hint(foreign)}"
            )
        trio = (key, f"{key}_env", f"{key}_file")
        given = [k for k in trio if getattr(self, k)]
        if self.kind == Kind.ALERTMANAGER:
            return self._fits_alertmanager(trio, given)
        if len(given) != 1:
            raise ValueError(
                f"exactly one of {', '.join(trio)} must be set"
                + (f" for kind {self.kind!r}" if self.kind != Kind.SLACK_WEBHOOK else "")
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.kind == Kind.SLACK_BOT and not self.channel:
            raise ValueError("kind 'slack_bot' needs channel = \"C0123ABCD\" (the channel ID)")
        return self

    def _fits_alertmanager(self, trio: tuple[str, ...], given: list[str]) -> DestinationModel:
        if not self.urls:
            raise ValueError(
                'kind \'alertmanager\' needs urls = ["http://am1:9093", "http://am2:9093"] (every '
                "instance of the cluster, not a load balancer)"
            )
        if self.username and len(given) != 1:
            raise ValueError(
                f"with username, exactly one of {', '.join(trio)} must be set"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if given and not self.username:
            raise ValueError(f"{given[0]} needs username (basic auth takes both)")
        return self


# What an operator who wrote another kind's key probably meant.
_KIND_HINTS = {
    "token": ' (set kind = "slack_bot" for a bot token)',
    "channel": ' (set kind = "slack_bot" for a bot token)',
    "api_url": ' (set kind = "slack_bot" for a bot token)',
    "ping_url": ' (set kind = "healthchecks" for a Healthchecks ping URL)',
    "routing_key": ' (set kind = "pagerduty" for a PagerDuty routing key)',
    "events_url": ' (set kind = "pagerduty" for a PagerDuty routing key)',
    "client": ' (set kind = "pagerduty" for a PagerDuty routing key)',
    "client_url": ' (set kind = "pagerduty" for a PagerDuty routing key)',
    "webhook_url": ' (kinds "slack_webhook", the default, and "teams" take a webhook URL)',
    "url": ' (set kind = "webhook" for a generic JSON webhook)',
    "headers": ' (set kind = "webhook" for a generic JSON webhook)',
    "urls": ' (set kind = "alertmanager" for Prometheus Alertmanager)',
    "username": ' (set kind = "alertmanager" for Prometheus Alertmanager)',
    "password": ' (set kind = "alertmanager" for Prometheus Alertmanager)',
    "alert_lifetime_minutes": ' (set kind = "alertmanager" for Prometheus Alertmanager)',
}


def _kind_hint(foreign: list[str]) -> str:
    first = foreign[0].removesuffix("_env").removesuffix("_file")
    return _KIND_HINTS.get(first, "")


_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
Day = Literal["daily", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError('must be a time of day as HH:MM, like "06:00" (00:00 to 23:59)')
    return value


class ExpectModel(_Model):
    """[[expect]]: jobnets that must end normally by a time of day (watch.py)."""

    name: NameStr = Field(min_length=1)
    units: StrList = Field(min_length=1)
    exclude_units: StrList = []
    services: StrList | None = None
    by: Annotated[str, AfterValidator(_clock)]
    days: Annotated[list[Day], BeforeValidator(_as_list)] = Field(["daily"], min_length=1)
    destination: StrList = Field(min_length=1)
    mention: StrList = []
    level: ContextLevel = "error"


class HeartbeatModel(_Model):
    """[heartbeat]: a URL pinged at most once per interval (a dead-man's switch, heartbeat.py)."""

    url: str | None = None
    url_env: VariableStr | None = None
    url_file: WebhookFileStr | None = None
    interval_minutes: float = Field(5.0, ge=1, le=1440)
    timeout_seconds: float = Field(3.0, gt=0, le=10)
    report_stuck: bool = True  # ping <url>/fail while alerts wait over 15 minutes or died

    @model_validator(mode="after")
    def _one_source(self) -> HeartbeatModel:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k)]
        if len(given) != 1:
            found = f" (found {', '.join(given)})" if given else ""
            raise ValueError(f"exactly one of url, url_env, url_file must be set{found}")
        return self


class DurationsModel(_Model):
    """[durations]: how a jobnet's run time is compared with its usual one (runs.py)."""

    runs: int = Field(10, ge=1, le=100)  # the usual run time: median of the last N normal runs
    min_runs: int = Field(3, ge=1, le=100)  # fewer normal runs known: no comparison
    slow_factor: float = Field(3.0, gt=1, le=100)  # slower than this times the usual: slow
    min_extra_seconds: float = Field(30.0, ge=0, le=86400)  # and at least this much longer
    slow_level: Level = "warning"  # a slow run's level is raised to this (routes can pick it)


class MessageModel(_Model):
    language: Language = "en"
    timezone: str | None = None
    extra_fields: StrList = []
    colors: dict[Level, str] = {}


class HttpModel(_Model):
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    retry_budget_seconds: float = Field(20.0, ge=0, le=600)
    max_attempts: int = Field(4, ge=1, le=20)
    proxy: ProxyStr | None = None
    ca_file: PathStr | None = None


class OutboxModel(_Model):
    data_dir: PathStr = "data"
    retention_days: int = Field(30, ge=1, le=3650)
    drain_seconds: float = Field(60.0, ge=1, le=600)
    max_wait_seconds: float = Field(10.0, ge=0, le=120)
    digest_interval_seconds: float = Field(5.0, ge=1, le=300)


class LogModel(_Model):
    dir: PathStr = "logs"
    retention_days: int = Field(30, ge=1, le=3650)


class ConfigModel(_Model):
    message: MessageModel = MessageModel()
    http: HttpModel = HttpModel()
    outbox: OutboxModel = OutboxModel()
    log: LogModel = LogModel()
    levels: dict[str, Level] = {}
    fallback_level: Level = "warning"
    default_scope: NameStr = Field("other", min_length=1)
    self_guard: bool = True
    scopes: list[ScopeModel] = []
    ignore: list[IgnoreModel] = []
    destinations: dict[NameStr, DestinationModel] = Field(min_length=1)
    routes: list[RouteModel] = Field(min_length=1)
    runbooks: list[RunbookModel] = []
    context: ContextModel | None = None
    expect: list[ExpectModel] = []
    heartbeat: HeartbeatModel | None = None
    durations: DurationsModel = DurationsModel()


def validate(path: Path, data: bytes) -> tuple[dict[str, Any], list[str]]:
    """Parse and validate TOML bytes. Returns the config as plain data with every default
    filled in (keys as written in TOML, so `continue`), and the reference problems (unknown
    destinations or scopes) for the caller to report with its own. Raises ConfigError listing
    every shape and reference problem if the shape is wrong."""
    return validate_data(path, parse_toml(path, data))


def validate_data(path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`validate` for data already parsed: the TOML with environment overrides merged in
    (settings.py)."""
    try:
        references = reference_problems(raw)
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        problems = [describe_error(err, raw) for err in exc.errors()]
        raise ConfigError(path, problems + references) from None
    except RecursionError:
        raise ConfigError(path, [_TOO_DEEP]) from None
    return model.model_dump(by_alias=True), references


_TOO_DEEP = (
    "values are nested too deeply (lists in lists or tables in tables, hundreds of levels); "
    "a jp1notify config needs at most two levels"
)


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
        f"{entry_label('scopes', i, name)} name: scope {shown(name)} is defined twice"
        for i, name in enumerate(scope_names)
        if isinstance(name, str) and name in scope_names[:i]
    ]
    expect_names = [e.get("name") for e in _tables(raw, "expect")]
    problems += [
        f"{entry_label('expect', i, name)} name: {shown(name)} is used twice; each expectation "
        "needs its own name (it keys the missed-run alerts)"
        for i, name in enumerate(expect_names)
        if isinstance(name, str) and name in expect_names[:i]
    ]
    for section in ("ignore", "routes", "runbooks", "expect"):
        for i, table in enumerate(_tables(raw, section)):
            key = entry_label(section, i, table.get("name"))
            problems += _unknown(f"{key} scopes", "scope", table.get("scopes"), known_scopes)
            if section in ("routes", "expect"):
                problems += _unknown(
                    f"{key} destination",
                    "destination",
                    table.get("destination"),
                    known_destinations,
                )
    return problems


def _unknown(key: str, what: str, value: Any, known: list[str]) -> list[str]:
    listed = cut(", ".join(cut(k, 40) for k in known), 200)
    return [
        f"{key}: unknown {what} {shown(name)} (known: {listed})"
        for name in _names(value)
        if name not in known
    ]


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
        raise ConfigError(path, [syntax_error(str(exc), text)]) from None
    except RecursionError:
        raise ConfigError(path, [_TOO_DEEP]) from None


_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_BACKSLASH_IN_DOUBLE_QUOTES = re.compile(r'"[^"]*\\')


def syntax_error(message: str, text: str) -> str:
    """tomllib's message, plus the Windows path advice when a backslash escape is the likely
    cause: "C:\\Users\\..." is an invalid \\U escape, "C:\\jp1notify" an unknown \\j one."""
    line = _AT_LINE.search(message)
    number = int(line[1]) if line else 0
    lines = text.splitlines()
    offending = lines[number - 1] if 0 < number <= len(lines) else ""
    escape = "hex value" in message or "escape" in message.lower() or "'\\'" in message
    if escape or _BACKSLASH_IN_DOUBLE_QUOTES.search(offending):
        return f"TOML syntax error: {message}; {WINDOWS_PATH_ADVICE}"
    return f"TOML syntax error: {message}"


# -- pydantic errors in the operator's words --------------------------------------------------

_LIST_SECTIONS = ("routes", "ignore", "scopes", "runbooks", "expect")


def describe_error(error: Any, raw: dict[str, Any]) -> str:
    """One pydantic error as `key: what is wrong (what is allowed)`, never pydantic's phrasing."""
    loc = tuple(error["loc"])
    key = format_loc(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, key)
    if kind == "value_error":  # our own validators: already an operator sentence
        return f"{key}: {str(error['msg']).removeprefix('Value error, ')}"
    return f"{key}: {_what_is_wrong(kind, loc, error)}" if key else _what_is_wrong(kind, loc, error)


def _unknown_key(loc: tuple[Any, ...], key: str) -> str:
    name = str(loc[-1])
    parent = _model_at(loc[:-1])
    allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
    if len(loc) > 1 and name in ConfigModel.model_fields:
        return (
            f"{key}: '{name}' is a top-level key; in TOML every key after a [table] header "
            "belongs to that table, so move it above the first [table]"
        )
    hint = difflib.get_close_matches(name, allowed, n=1) if len(name) < 100 else []
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    return f"{key}: unknown key (allowed: {', '.join(allowed)}){suggestion}"


def _what_is_wrong(kind: str, loc: tuple[Any, ...], error: Any) -> str:
    value = error.get("input")
    ctx = error.get("ctx") or {}
    quoted = " (without quotes)" if isinstance(value, str) else ""
    if kind in ("missing",):
        return "required key is missing" + _MISSING_ADVICE.get(loc, "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{shown(value)} is not allowed (allowed: {expected})"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false" + quoted
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number" + quoted
    if kind in ("float_type", "float_parsing"):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{shown(value, 24)} is far too large a number"
        return "must be a number" + quoted
    if kind == "finite_number":
        return "must be a number (not nan or inf)"
    if kind == "string_type":
        example = f', like "{value}"' if isinstance(value, int | float) else ""
        return f"must be text, in quotes{example}"
    if kind in _BOUNDS:
        return f"{_BOUNDS[kind]} {_number(ctx)}"
    if kind in ("too_short", "string_too_short"):
        if loc[-1] == "destination":
            return "must name at least one destination"
        return _TOO_SHORT.get(loc, "must not be empty")
    if kind in ("list_type", "model_type", "dict_type"):
        return _wrong_container(kind, loc, value)
    return "has a value that is not allowed here (see the comments in config/jp1notify.toml)"


_MISSING_ADVICE = {
    ("routes",): " (add at least one [[routes]] table)",
    ("destinations",): " (add at least one [destinations.<name>] table)",
}
_TOO_SHORT = {
    ("routes",): "add at least one [[routes]] table",
    ("destinations",): "add at least one [destinations.<name>] table",
}
_BOUNDS = {
    "greater_than_equal": "must be at least",
    "greater_than": "must be more than",
    "less_than_equal": "must be at most",
    "less_than": "must be less than",
}


def _number(ctx: dict[str, Any]) -> str:
    bound = next((v for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")), "")
    return f"{bound:g}" if isinstance(bound, int | float) else str(bound)


def _wrong_container(kind: str, loc: tuple[Any, ...], value: Any) -> str:
    """A value of the wrong kind where a table or list is expected, and the bracket mix-ups:
    [routes] for [[routes]], [[message]] or [[destinations.x]] for [message], [destinations.x]."""
    name = ".".join(str(p) for p in loc if not isinstance(p, int))
    if kind == "list_type" and len(loc) == 1 and loc[0] in _LIST_SECTIONS:
        if isinstance(value, dict):
            return (
                f"write [[{name}]] (two pairs of brackets) before each entry; [{name}] makes a "
                "single table, not a list of them"
            )
        return f"must be a list of [[{name}]] tables"
    if kind == "list_type":
        example = f', like ["{value}"]' if isinstance(value, int | float) else ""
        return f"must be text in quotes, or a list of texts in [ ]{example}"
    if len(loc) == 2 and loc[0] in _LIST_SECTIONS:
        return f"each entry must be a [[{loc[0]}]] table"
    if loc == ("destinations",):
        return "write a [destinations.<name>] table (one pair of brackets) for each destination"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"write [{cut(name)}] (one pair of brackets); [[{cut(name)}]] makes a list of tables"
    if isinstance(value, list):
        return f"must be a [{cut(name)}] table of key = value lines, not a list"
    if len(loc) == 2 and loc[0] == "destinations":
        return (
            "must be a table: name each destination, [destinations.alerts], and put its keys "
            "under it"
        )
    return f"must be a table ([{cut(name)}] or {{ key = value }})"


def format_loc(loc: tuple[Any, ...], raw: dict[str, Any] | None = None) -> str:
    """('routes', 2, 'destination') -> 'routes #3 "name" destination' (numbered from 1, as
    check-config lists them); ('message', 'colors', 'error') -> 'message.colors.error'."""
    out = ""
    previous: Any = None
    for part in loc:
        if part == "[key]":  # pydantic's marker for a dict key
            continue
        if isinstance(part, int):
            if previous in _LIST_SECTIONS and out == previous:
                out = entry_label(out, part, _entry_name(raw, out, part))
            else:
                out += f" #{part + 1}"
        elif out:
            out += (" " if isinstance(previous, int) else ".") + cut(str(part))
        else:
            out = cut(str(part))
        previous = part
    return out


def _entry_name(raw: dict[str, Any] | None, section: str, index: int) -> Any:
    tables = _tables(raw or {}, section)
    return tables[index].get("name") if index < len(tables) else None


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
