"""The routing config: where it is found, how it is loaded, and the values the rest of jp1notify
reads from it.

The file format and its validation live in `schema.py` (pydantic). Importing pydantic costs
about 0.1 s, which every JP1 event would pay, so a validated config is cached as plain JSON
beside the file (`jp1notify.toml.cache`, keyed by a hash of the file, the jp1notify version and
the cache format, sealed by a hash of its own content, with the config file's permission bits,
holding no secret) and only a changed file is validated again. `build_config` compiles validated
data into the immutable `Config` that classification, routing and rendering take as a value.
Webhook URLs are in neither: a destination names where its URL comes from, and
`resolve_webhook` reads it only when a message is actually sent.

Environment variables named `JP1NOTIFY_<KEY>` or `JP1NOTIFY_<KEY>__<KEY>...` override any key of
the file (`JP1NOTIFY_OUTBOX__DATA_DIR`: a clustered host's shared disk; a CI's webhook URL).
Finding them is a scan of the variables' names (`scan_environment`); only when there are some
and the cache missed does `settings.py` (pydantic-settings) merge them over the file. Their
names and values are part of the cache key; the cache records which keys they set
(`Override`), never a value they hold for a secret: that is read from the variable again.

Error lines name what to fix in the operator's terms: `routes #2 "production warnings"
destination: ...` (entries of [[routes]], [[ignore]] and [[scopes]] are numbered from 1, as
check-config lists them), and never echo a long value whole (`shown`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from jp1notify import __version__
from jp1notify.errors import ConfigError, PatternError, WebhookError
from jp1notify.event import normalize_event_id
from jp1notify.patterns import UnitPattern, compile_unit_pattern
from jp1notify.redaction import Secrets
from jp1notify.rules import _SAMPLE_PATHS as _SAMPLE_PATHS  # re-exported: rules.py owns them
from jp1notify.rules import Matcher, matches_every_event
from jp1notify.rules import matches_every_unit as matches_every_unit
from jp1notify.text import cut, default_name, entry_label, shown

if TYPE_CHECKING:
    import threading

try:  # CPython's own SHA-256: hashlib loads OpenSSL's libcrypto first (~3 ms of every start)
    from _sha2 import sha256  # Python 3.12 and later (the Windows build)
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:
        from hashlib import sha256

CONFIG_ENV = "JP1NOTIFY_CONFIG"
DEFAULT_CONFIG = Path("config") / "jp1notify.toml"
CACHE_FORMAT = 5  # bump when the cached data changes shape: an older cache is then a miss
IN_CONFIG_FILE = "(in the config file)"  # what the cache holds instead of a secret
FROM_VARIABLE = "(from environment variable {})"  # ... instead of a secret from an override
OVERRIDE_PREFIX = "JP1NOTIFY_"
# The config file's top-level keys (schema.ConfigModel's fields, checked by test_settings): the
# first part of an override's name. Here, not taken from the schema, so that finding overrides
# imports no pydantic.
CONFIG_KEYS = frozenset(
    {
        "message",
        "http",
        "outbox",
        "log",
        "levels",
        "fallback_level",
        "default_scope",
        "self_guard",
        "scopes",
        "ignore",
        "destinations",
        "routes",
        "runbooks",
        "context",
        "expect",
        "heartbeat",
        "durations",
    }
)


class Scope(NamedTuple):
    name: str
    matcher: Matcher


class IgnoreRule(NamedTuple):
    name: str  # "ignore #1" unless named
    matcher: Matcher


class Route(NamedTuple):
    name: str  # "route #1" unless named
    matcher: Matcher
    destinations: tuple[str, ...]
    mentions: tuple[str, ...]  # Slack mention markup: "<!channel>", "<!subteam^S0123>"
    continue_: bool
    recovery: bool = True  # tell its destinations when the incident is resolved


class WebhookSource(NamedTuple):
    """Where a destination's secret (webhook URL, token) comes from: kind is "url" (written in
    the config), "env", "file", or "override" (a JP1NOTIFY_... variable that overrides the key:
    `Override`)."""

    kind: str
    ref: str  # the variable name or file path; for "url", the key path in the config file
    key: str = "webhook_url"  # the config key of the secret: webhook_url, token

    def describe(self) -> str:
        """Operator-facing description that never contains the secret itself."""
        if self.kind == "env":
            return f"environment variable {cut(self.ref)}"
        if self.kind == "file":
            return f"file {cut(self.ref, 200)}"
        if self.kind == "none":
            return "no credentials"
        if self.kind == "override":
            return f"{self.key} from environment variable {cut(self.ref)} (redacted)"
        return f"{self.key} in the config (redacted)"


SecretSource = WebhookSource


class Destination(NamedTuple):
    name: str
    source: WebhookSource
    language: str | None
    kind: str = "slack_webhook"  # destinations.Kind
    channel: str | None = None  # slack_bot: the channel ID
    api_url: str | None = None  # slack_bot: the Web API's base URL (None: Slack's)
    events_url: str | None = None  # pagerduty: the Events API v2 URL (None: PagerDuty's)
    client: str | None = None  # pagerduty: the monitoring client's name shown in the alert
    client_url: str | None = None  # pagerduty: its link
    headers: tuple[str, ...] = ()  # webhook: names of extra headers (values: read_headers)
    # alertmanager: every instance's base URL, the basic-auth user (the password is the
    # secret, `source` "none" without it), a firing alert's lifetime (None: the default)
    urls: tuple[str, ...] = ()
    username: str | None = None
    alert_lifetime_minutes: float | None = None


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


class Runbook(NamedTuple):
    """Steps written by operators for the events a matcher selects (guidance.py)."""

    name: str  # "runbooks #1" unless named
    matcher: Matcher
    text: str  # with placeholders, checked by guidance.template_problem
    url: str | None


class ContextSettings(NamedTuple):
    """[context]: a command whose output goes into the message of problem events (context.py)."""

    command: tuple[str, ...]  # argv; placeholders are replaced inside each argument
    levels: frozenset[str]
    timeout_seconds: float
    max_lines: int
    max_chars: int


class Expectation(NamedTuple):
    """[[expect]]: matching jobnets must end normally by `by` on `days` (watch.py)."""

    name: str
    units: tuple[UnitPattern, ...]  # a literal path is expected; a pattern, each jobnet seen
    exclude_units: tuple[UnitPattern, ...]
    services: frozenset[str] | None
    by: tuple[int, int]  # (hour, minute), local time in [message].timezone
    days: frozenset[int]  # weekdays, Monday 0 .. Sunday 6
    destinations: tuple[str, ...]
    mentions: tuple[str, ...]  # Slack mention markup, as routes hold them
    level: str  # the missed-run alert's level: error or warning


class HeartbeatSettings(NamedTuple):
    """[heartbeat]: ping `source`'s URL at most once per interval (heartbeat.py)."""

    source: WebhookSource  # key "url": read with read_heartbeat_url, a secret like a webhook
    interval_seconds: float
    timeout_seconds: float
    report_stuck: bool = True  # ping <url>/fail while alerts are stuck in the outbox


class DurationSettings(NamedTuple):
    """[durations]: a run is slow when it took at least `slow_factor` times the median of the
    last `runs` normal runs (with `min_runs` known), and `min_extra_seconds` more (runs.py)."""

    runs: int = 10
    min_runs: int = 3
    slow_factor: float = 3.0
    min_extra_seconds: float = 30.0
    slow_level: str = "warning"


class Override(NamedTuple):
    """A config key set by an environment variable: JP1NOTIFY_OUTBOX__DATA_DIR sets
    ("outbox", "data_dir"). Names and paths only: what it holds is read from the variable."""

    variable: str
    keys: tuple[str, ...]  # as the merged config spells them ([destinations.Ops], not ops)
    secrets: tuple[tuple[str, ...], ...] = ()  # the secrets it sets (whole key paths)

    @property
    def label(self) -> str:
        """The key as error lines and check-config name it: destinations.Ops.webhook_url."""
        return ".".join(cut(k) for k in self.keys)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    runbooks: tuple[Runbook, ...] = ()
    context: ContextSettings | None = None
    expectations: tuple[Expectation, ...] = ()
    heartbeat: HeartbeatSettings | None = None
    durations: DurationSettings = DurationSettings()
    overrides: tuple[Override, ...] = ()  # keys set by JP1NOTIFY_... variables, applied in order


def scan_environment(environ: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The variables that override config keys, as sorted (name, value) pairs, and the names
    that look like overrides of a key that does not exist (JP1NOTIFY_OUTBX__DATA_DIR).

    On every invocation: a scan of the names, nothing imported. A name is an override when the
    part after JP1NOTIFY_ (any case: Windows upper-cases names), up to `__` or the end, is a
    top-level key; JP1NOTIFY_CONFIG, JP1NOTIFY_DEBUG and the variables that `*_env` keys name
    (JP1NOTIFY_WEBHOOK_ALERTS) are not. An empty variable overrides nothing, as on Windows,
    where `set NAME=` removes it.
    """
    found: list[tuple[str, str]] = []
    unknown: list[str] = []
    start = len(OVERRIDE_PREFIX)
    for name in environ:
        if len(name) <= start or name[:start].upper() != OVERRIDE_PREFIX:
            continue
        key, nested, _ = name[start:].partition("__")
        if key.lower() in CONFIG_KEYS:
            value = environ[name]
            if value:
                found.append((name, value))
        elif nested:
            unknown.append(name)
    return sorted(found), sorted(unknown)


def unknown_override(name: str) -> str:
    """The warning about a JP1NOTIFY_X__... variable whose X is no config key (never its value,
    which may be a secret)."""
    import difflib

    key = name[len(OVERRIDE_PREFIX) :].partition("__")[0].lower()
    close = difflib.get_close_matches(key, sorted(CONFIG_KEYS), n=1)
    hint = f"; did you mean {OVERRIDE_PREFIX}{close[0].upper()}__...?" if close else ""
    return (
        f"environment variable {cut(name)} overrides nothing and is ignored: {cut(key)!r} is "
        f"not a top-level config key{hint}"
    )


def override_for(
    overrides: Sequence[Override], environ: Mapping[str, str], keys: tuple[str, ...]
) -> Override | None:
    """The override that set the config key `keys` (the most specific one: the last applied),
    or None when the file did. A variable holding a table or list as JSON sets each key in it."""
    for override in sorted(overrides, key=lambda o: len(o.keys), reverse=True):
        if _lower(keys[: len(override.keys)]) != _lower(override.keys):
            continue
        if override_value(override, environ, keys) is not None:
            return override
    return None


def override_value(override: Override, environ: Mapping[str, str], keys: tuple[str, ...]) -> Any:
    """What `override` sets at `keys` (its whole value, or a part of the JSON it holds), or
    None. Table keys match in any case, as in the names of variables."""
    text = environ.get(override.variable, "")
    rest = keys[len(override.keys) :]
    if not rest:
        return text.strip() or None
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    for key in rest:
        if not isinstance(value, dict):
            return None
        match = key if key in value else next((k for k in value if k.lower() == key.lower()), None)
        if match is None:
            return None
        value = value[match]
    return value


def named(problem: str, override: Override | None) -> str:
    """A problem line about a key that `override` set, naming the variable:
    `JP1NOTIFY_LOG__DIR (overrides log.dir): cannot create ...`."""
    if override is None or override.variable in problem:
        return problem
    label = override.label
    if problem.startswith(label + ": "):
        return f"{override.variable} (overrides {label}): {problem[len(label) + 2 :]}"
    return f"{problem} (set with {override.variable} from the environment)"


def secret_override(overrides: Sequence[Override], keys: tuple[str, ...]) -> Override | None:
    """The override that set the secret at `keys` (a webhook URL, a header), or None."""
    wanted = _lower(keys)
    found = [o for o in overrides if wanted in map(_lower, o.secrets)]
    return max(found, key=lambda o: len(o.keys)) if found else None


def _lower(keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(k.lower() for k in keys)


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


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and compile the config file with the overrides in `environ` (default: the
    process's). Raises ConfigError with every problem found. Warns on stderr about variables
    that look like overrides of no key (a typo would otherwise go unnoticed)."""
    environ = os.environ if environ is None else environ
    variables, unknown = scan_environment(environ)
    config: Config | None = None
    try:
        config = _load(path, environ, variables)
        return config
    finally:
        for name in typos(unknown, config):
            print(f"jp1notify: warning: {unknown_override(name)}", file=sys.stderr)


def typos(unknown: Sequence[str], config: Config | None) -> list[str]:
    """The look-alike override names to warn about: not those that a `*_env` key of the config
    names (webhook_url_env = "JP1NOTIFY_OPS__HOOK" holds a secret, it overrides nothing)."""
    named = secret_variables(config) if config is not None else frozenset()
    return [name for name in unknown if name.upper() not in named]


def secret_variables(config: Config) -> frozenset[str]:
    """The variables the config's `*_env` keys name, upper-cased (Windows names have no case)."""
    sources = [d.source for d in config.destinations.values()]
    if config.heartbeat is not None:
        sources.append(config.heartbeat.source)
    return frozenset(s.ref.upper() for s in sources if s.kind == "env")


def _load(path: Path, environ: Mapping[str, str], variables: list[tuple[str, str]]) -> Config:
    data = _read_config_file(path)
    digest = _digest(data, variables)
    config = _from_cache(path, digest, data, environ)
    if config is not None:
        return config
    with _validating(path) as alone:
        # Another process validating this file: its cache is worth waiting for. Claimed: one
        # that validated while this process read the old cache may have written it already.
        config = (
            _from_cache(path, digest, data, environ)
            if alone
            else _wait_for_cache(path, digest, data, environ)
        )
        if config is not None:
            return config
        if variables:
            from jp1notify import settings  # pydantic-settings: only for overrides, on a miss

            config, validated = settings.load(path, data, variables)
        else:
            from jp1notify import schema  # pydantic: only when the file changed

            validated, references = schema.validate(path, data)
            config = build_config(path, validated, references)
        _write_cache(path, digest, validated, config.overrides)
    return config


def _digest(data: bytes, variables: list[tuple[str, str]]) -> str:
    """The cache key: this version and cache format, the file, and the overrides' names and
    values (a hash only: both may hold secrets)."""
    key = sha256(f"{__version__}\0{CACHE_FORMAT}\0".encode() + data)
    if variables:
        key.update(b"\0" + json.dumps(variables).encode())
    return key.hexdigest()


# A storm that starts right after the config was edited (and check-config not run) would have
# every one of its processes validate the file (pydantic: ~0.25 CPU s each, 60 s of CPU for 500
# events). One process validates, holding `<config>.cache.lock`; the others wait for its cache,
# which costs them a stat and a read every 50 ms. The validator touches its claim every second
# (a thread): in a storm on 2 cores it gets a 500th of the CPU and validating takes far longer
# than when alone, which must not look like death. A claim untouched for VALIDATION_WAIT is a
# dead validator's: taken over. The others wait at most CLAIM_WAIT in all. A validator that
# finds the file invalid writes no cache: the waiters then validate it themselves, and each
# reports the problems.
VALIDATION_WAIT = 10.0
CLAIM_WAIT = 120.0


@contextlib.contextmanager
def _validating(path: Path) -> Iterator[bool]:
    """Claim the validation of `path` for this process: True if claimed (or no claim can be
    made: a read-only folder), False if a live claim of another process stands."""
    lock = path.with_name(path.name + ".cache.lock")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(lock, flags)
    except FileExistsError:
        if _claim_is_live(lock):
            yield False
            return
        # A dead validator's claim: taken over (left there, it would make every later storm
        # after an edit validate in each process). Another process taking it over too only
        # costs a second validation.
        try:
            os.remove(lock)
            fd = os.open(lock, flags)
        except FileExistsError:
            yield not _claim_is_live(lock)
            return
        except OSError:  # a folder in its place, or no write access
            yield True
            return
    except OSError:
        yield True
        return
    os.close(fd)
    done = _keep_alive(lock)
    try:
        yield True
    finally:
        done.set()
        with contextlib.suppress(OSError):
            os.remove(lock)


def _keep_alive(lock: Path) -> threading.Event:
    """Touch `lock` every second until the returned event is set."""
    import threading  # only on a cache miss: ~1 ms that a cache hit does not pay

    done = threading.Event()

    def touch() -> None:
        while not done.wait(1.0):
            with contextlib.suppress(OSError):
                os.utime(lock)

    threading.Thread(target=touch, daemon=True).start()
    return done


def _claim_is_live(lock: Path) -> bool:
    try:
        age = time.time() - os.stat(lock).st_mtime
    except OSError:
        return False  # just released: the cache is there, or the file was invalid
    return -VALIDATION_WAIT < age < VALIDATION_WAIT


def _wait_for_cache(
    path: Path, digest: str, data: bytes, environ: Mapping[str, str]
) -> Config | None:
    """The config from the cache the validating process writes, or None once its claim ends
    without one, goes stale, or CLAIM_WAIT has passed."""
    lock = path.with_name(path.name + ".cache.lock")
    deadline = time.monotonic() + CLAIM_WAIT
    while time.monotonic() < deadline:
        time.sleep(0.05)
        config = _from_cache(path, digest, data, environ)
        if config is not None or not _claim_is_live(lock):
            return config if config is not None else _from_cache(path, digest, data, environ)
    return None


def read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file; raises IsADirectoryError for anything else (a folder, or a
    FIFO, whose read would block forever, before any time bound applies)."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)


def _read_config_file(path: Path) -> bytes:
    try:
        return read_regular_file(path)
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
    except ValueError:  # a NUL character in the path
        raise ConfigError(None, ["the config path has a NUL character: check --config"]) from None


def cache_path(path: Path) -> Path:
    return path.with_name(path.name + ".cache")


_OVERRIDES = "(overrides)"  # the cache's record of the overrides applied (not a config key)


def _from_cache(path: Path, digest: str, data: bytes, environ: Mapping[str, str]) -> Config | None:
    """The config built from its cache, or None for a cache miss. Whatever the cache holds
    (another version's layout, a hand edit, garbage), a miss is the worst outcome: a config
    that fails to build from its cache is validated from the file, which says what is wrong."""
    cached = _read_cache(path, digest)
    if cached is None:
        return None
    try:
        overrides = tuple(
            Override(str(v), tuple(map(str, k)), tuple(tuple(map(str, x)) for x in s))
            for v, k, s in cached.pop(_OVERRIDES, [])
        )
        http = cached["http"]
        if _is_marker(http["proxy"]):  # it carries a password: never cached
            http["proxy"] = _secret(data, overrides, environ, ("http", "proxy"))
        return build_config(path, cached, (), overrides)
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


def _is_marker(value: object) -> bool:
    """Whether a cached value stands for a secret (IN_CONFIG_FILE, FROM_VARIABLE)."""
    return value == IN_CONFIG_FILE or (
        isinstance(value, str) and value.startswith(FROM_VARIABLE.partition("{")[0])
    )


def _secret(
    data: bytes, overrides: Sequence[Override], environ: Mapping[str, str], keys: tuple[str, ...]
) -> str:
    """A secret at `keys`: from the variable that overrode it, else from the config file's
    bytes (parsed without validation: the cache vouches for them)."""
    override = secret_override(overrides, keys)
    if override is None:
        return _toml_string(data, *keys)
    value = override_value(override, environ, keys)
    if not isinstance(value, str):
        raise ValueError(f"{override.variable} no longer holds {'.'.join(keys)}")
    return value.strip()


def _read_cache(path: Path, digest: str) -> dict[str, Any] | None:
    """The cached data if the cache was written for exactly these config bytes by this version
    and cache format, and is intact: its first line seals the rest with that key."""
    try:
        text = read_regular_file(cache_path(path)).decode("utf-8")
    except (OSError, ValueError):  # none, a folder or a FIFO in its place, not UTF-8
        return None
    seal, _, body = text.partition("\n")
    if seal != _seal(digest, body):
        return None
    try:
        cached = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return cached if isinstance(cached, dict) else None


def _seal(digest: str, body: str) -> str:
    return sha256(f"{digest}\n{body}".encode("utf-8", "surrogatepass")).hexdigest()


def _write_cache(
    path: Path, digest: str, validated: dict[str, Any], overrides: Sequence[Override] = ()
) -> None:
    """Best effort: a read-only folder, or another process replacing the file, only costs speed.
    Written atomically, never more readable than the config file itself, and without secrets."""
    cached = _without_secrets(validated, overrides)
    if overrides:
        cached[_OVERRIDES] = [[o.variable, o.keys, o.secrets] for o in overrides]
    body = json.dumps(cached, ensure_ascii=False)
    target = cache_path(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        # The config's read bits; owner write so that the next version can replace the cache.
        mode = (os.stat(path).st_mode & 0o666) | 0o200
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # Windows
        fd = os.open(temporary, flags, mode)
        with open(fd, "wb") as file:
            file.write(f"{_seal(digest, body)}\n{body}".encode("utf-8", "surrogatepass"))
        os.chmod(temporary, mode)  # os.open's mode went through the umask
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


# A destination's keys that hold a secret when given (not their _env and _file variants).
SECRET_VALUE_KEYS = ("webhook_url", "token", "ping_url", "routing_key", "url", "password")


def _without_secrets(
    validated: dict[str, Any], overrides: Sequence[Override] = ()
) -> dict[str, Any]:
    """A copy of validated data without literal webhook URLs or a proxy's user:password.
    They are read when needed (`_literal_secret`, `_from_cache`) from the config file, or from
    the variable that overrode them, which the cache names instead (FROM_VARIABLE)."""
    data: dict[str, Any] = json.loads(json.dumps(validated))

    def marker(*keys: str) -> str:
        override = secret_override(overrides, keys)
        return FROM_VARIABLE.format(override.variable) if override else IN_CONFIG_FILE

    for name, destination in data.get("destinations", {}).items():
        for key in SECRET_VALUE_KEYS:
            if destination.get(key):
                destination[key] = marker("destinations", name, key)
        for header in destination.get("headers") or {}:  # webhook headers: secrets too
            destination["headers"][header] = marker("destinations", name, "headers", header)
    if (data.get("heartbeat") or {}).get("url"):
        data["heartbeat"]["url"] = marker("heartbeat", "url")
    http = data.get("http", {})
    if "@" in (http.get("proxy") or ""):
        http["proxy"] = marker("http", "proxy")
    return data


def _toml_string(data: bytes, *keys: str) -> str:
    """One string of the config file, parsed without validation (the cache vouches for it)."""
    import tomllib

    value: Any = tomllib.loads(data.decode("utf-8-sig"))
    for key in keys:
        value = value[key]
    if not isinstance(value, str):
        raise TypeError(f"{'.'.join(keys)} is not a string")
    return value


def read_secret(
    destination: Destination, config: Config, environ: Mapping[str, str], secrets: Secrets
) -> str:
    """The one place that reads a destination's secret (webhook URL or token), now, and marks it
    secret for this invocation (`secrets`: redacted from every output). Raises WebhookError
    naming the key to fix, never echoing the value."""
    value = _resolve_secret(destination, config, environ)
    secrets.add(value)
    for header in read_headers(destination, config, environ).values():
        for part in (header, *header.split()):  # "Bearer <token>": the token alone too
            if len(part) >= HEADER_SECRET_MIN:
                secrets.add(part)
    return value


# A webhook header's value (or a word of it) this long is a secret; shorter ones ("jp1", "ops")
# would blank ordinary words out of every line written, and are no credential anyway.
HEADER_SECRET_MIN = 8


def read_headers(
    destination: Destination, config: Config, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A webhook destination's extra headers (`headers`), read from the config file (or the
    variables that override them: `environ`, default the process's) now: their values are
    secrets (an Authorization header), never cached (`_without_secrets`)."""
    environ = os.environ if environ is None else environ
    literal = ("destinations", destination.name, "headers")
    return {name: _literal_secret(config, environ, *literal, name) for name in destination.headers}


def _resolve_secret(destination: Destination, config: Config, environ: Mapping[str, str]) -> str:
    source = destination.source
    key = f"destinations.{cut(destination.name)}"
    what = _SECRET_NAMES.get(source.key, source.key)
    literal = ("destinations", destination.name, source.key)
    value = _read_source(source, key, literal, config, environ, what)
    problem = _check_secret(source.key, value)
    if problem and destination.kind == "teams":  # a Workflows URL, not a Slack one
        problem = problem.replace("hooks.slack.com/services/...", "…/workflows/.../invoke?...")
    if problem:
        raise WebhookError(config.path, f"{key}: the {what} from {source.describe()} {problem}")
    return value


def _read_source(
    source: WebhookSource,
    key: str,
    literal: tuple[str, ...],
    config: Config,
    environ: Mapping[str, str],
    what: str,
) -> str:
    """The secret `source` names, read now: `key` is its table in error lines
    ("destinations.ops", "heartbeat"), `literal` the TOML keys of a value written in the file."""
    if source.kind == "env":
        value = environ.get(source.ref, "").strip()
        if not value:
            raise WebhookError(
                config.path,
                f"{key}.{source.key}_env: environment variable {cut(source.ref)} is not set or "
                "empty",
                local=True,
            )
        return value
    if source.kind == "file":
        return _read_secret_file(config.path, f"{key}.{source.key}_file", source.ref, what)
    if source.kind == "none":  # a kind whose secret is optional, not given (alertmanager)
        return ""
    value = _literal_secret(config, environ, *literal)
    if source.kind == "override" and not value:
        raise WebhookError(
            config.path,
            f"{source.ref} (overrides {'.'.join(map(cut, literal))}): the environment variable "
            "is no longer set, or is empty",
            local=True,
        )
    return value


def read_heartbeat_url(config: Config, environ: Mapping[str, str], secrets: Secrets) -> str:
    """The [heartbeat] URL, read now like a webhook URL (its path is the check's secret: anyone
    who has it can ping the check) and marked secret in `secrets`. Raises WebhookError naming
    the key to fix, never echoing the value."""
    assert config.heartbeat is not None
    source = config.heartbeat.source
    what = "heartbeat URL"
    value = _read_source(source, "heartbeat", ("heartbeat", "url"), config, environ, what)
    secrets.add(value)
    problem = check_webhook_url(value)
    if problem:
        problem = problem.replace("hooks.slack.com/services/...", "hc-ping.com/<uuid>")
        raise WebhookError(config.path, f"heartbeat: the {what} from {source.describe()} {problem}")
    return value


def resolve_webhook(destination: Destination, config: Config, environ: Mapping[str, str]) -> str:
    """A destination's secret, read now, for checks that keep it to themselves (check-config)."""
    return _resolve_secret(destination, config, environ)


_SECRET_NAMES = {
    "webhook_url": "webhook URL",
    "ping_url": "ping URL",
    "routing_key": "routing key",
    "url": "URL",
    "password": "password",
}


def _check_secret(key: str, value: str) -> str | None:
    """Why a destination's secret is unusable, by its config key, or None."""
    if key == "webhook_url":
        return check_webhook_url(value)
    if key == "ping_url":
        return check_ping_url(value)
    if key == "routing_key":
        from jp1notify.destinations.pagerduty import check_routing_key

        return check_routing_key(value)
    if key == "url":  # kind webhook: any HTTPS endpoint
        problem = check_webhook_url(value)
        return problem and problem.replace("hooks.slack.com/services/...", "example.com/hook")
    if key == "password":
        return check_password(value)
    return check_token(value)


def check_password(value: str) -> str | None:
    """Why a basic-auth password (alertmanager) is unusable, or None; never contains it. None
    for "": a destination without `username` has no password."""
    if any(not c.isprintable() for c in value):
        return "has a control character or line break in it: put the password alone on one line"
    return None


# Healthchecks adds these to a check's ping URL itself (jp1notify does too: destinations/
# healthchecks.py); a URL that already ends with one was copied with its signal.
_PING_SIGNALS = ("start", "fail", "log")


def check_ping_url(url: str) -> str | None:
    """Why a Healthchecks ping URL is unusable, or None; a phrase that never contains the URL
    (its UUID or ping key is the secret). https://healthchecks.io/docs/http_api/"""
    if "://" not in url:
        return (
            "is not a URL: give the check's whole ping URL, like https://hc-ping.com/<uuid> "
            "(copy it from the check's page)"
        )
    problem = check_webhook_url(url)
    if problem:
        return problem.replace("hooks.slack.com/services/...", "hc-ping.com/<uuid>")
    parts = urlsplit(url)
    last = parts.path.rstrip("/").rpartition("/")[2]
    if parts.query or parts.fragment:
        return "has a ? or # part: give the check's ping URL alone (jp1notify adds ?rid=...)"
    if last in _PING_SIGNALS:
        return (
            f"ends with /{last}: give the check's ping URL without /start, /fail or /log "
            "(jp1notify adds them)"
        )
    if not parts.path.strip("/"):
        return (
            "has no check in it: give the check's whole ping URL, like https://hc-ping.com/<uuid>"
        )
    return None


def check_token(token: str) -> str | None:
    """Why a Slack token is unusable, or None; a phrase that never contains the token."""
    if "://" in token:
        return 'is a URL, not a token: for a webhook URL use kind = "slack_webhook"'
    if not token.isascii() or not token.isprintable() or " " in token:
        return "has spaces or characters a token never has: copy it again from Slack"
    if not token.startswith("xox"):
        return "is not a Slack token (a bot token starts with xoxb-): copy it again from Slack"
    return None


def _read_secret_file(path: Path, key: str, file: str, what: str) -> str:
    try:
        value = read_regular_file(Path(file)).decode("utf-8-sig").strip()
    except PermissionError as exc:
        raise WebhookError(
            path,
            f"{key}: cannot read {cut(file, 200)}: {exc.strerror} (the OS user of the JP1 job "
            "must be able to read it)",
            local=True,
        ) from None
    except OSError as exc:
        raise WebhookError(path, f"{key}: cannot read {cut(file, 200)}: {exc.strerror}") from None
    except ValueError:
        raise WebhookError(
            path,
            f"{key}: {cut(file, 200)} is not UTF-8 text: save it as UTF-8, the {what} on one line",
        ) from None
    if not value:
        raise WebhookError(path, f"{key}: {cut(file, 200)} is empty: put the {what} in it")
    return value


def _literal_secret(config: Config, environ: Mapping[str, str], *keys: str) -> str:
    """A secret written in the config (a destination's `webhook_url` or `token`, `heartbeat.url`,
    at TOML `keys`), or in the variable that overrode it: read when needed, never kept (the
    cache holds no secret)."""
    override = secret_override(config.overrides, keys)
    if override is not None:
        value = override_value(override, environ, keys)
        return value.strip() if isinstance(value, str) else ""
    try:
        return _toml_string(read_regular_file(config.path), *keys).strip()
    except (OSError, ValueError, KeyError, TypeError):
        return ""


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_HTTPS_ONLY = "must start with https:// (like https://hooks.slack.com/services/...)"


def check_webhook_url(url: str) -> str | None:
    """Why a webhook URL is unusable, or None: a phrase that never contains the URL (a secret),
    e.g. "has an empty name between dots in its host". Refuses what httpx or the socket layer
    would refuse (see urls.py). TLS is mandatory except on this machine (tests)."""
    scheme = url.partition("://")[0].lower()
    if scheme not in ("https", "http"):
        return _HTTPS_ONLY
    from jp1notify.urls import url_problem

    problem = url_problem(url)
    if problem:
        return problem
    if scheme == "http" and urlsplit(url).hostname not in _LOCAL_HOSTS:
        return _HTTPS_ONLY
    return None


LINK_URL_LIMIT = 500  # a runbook link must leave room for the steps in a Slack message


def check_link_url(url: str) -> str | None:
    """Why a link shown in messages (a runbook's url) is unusable, or None: https, or http on
    this machine, like webhooks; not a secret, so callers may quote it."""
    scheme = url.partition("://")[0].lower()
    if scheme not in ("https", "http"):
        return "must start with https:// (like https://wiki.example.co.jp/jp1/nightly)"
    if len(url) > LINK_URL_LIMIT:
        return f"is longer than {LINK_URL_LIMIT} characters: link a shorter address"
    from jp1notify.urls import url_problem

    problem = url_problem(url)
    if problem:
        return problem
    if scheme == "http" and urlsplit(url).hostname not in _LOCAL_HOSTS:
        return "must start with https:// (http:// only for this machine: localhost, 127.0.0.1)"
    return None


def check_proxy_url(url: str) -> str | None:
    """Why `http.proxy` is unusable, or None; never contains the URL (it may hold a password).
    httpx takes http:// and https:// proxies (SOCKS needs an extra package we do not ship)."""
    scheme = url.partition("://")[0].lower()
    if scheme.startswith("socks"):
        return "is a SOCKS proxy, which jp1notify cannot use: give an http:// or https:// proxy"
    if scheme not in ("http", "https"):
        return "must start with http:// or https:// (like http://proxy.example.co.jp:8080)"
    from jp1notify.urls import url_problem

    problem = url_problem(url)
    if problem and "@" in url:
        problem += "; in a user name or password, write @ / # ? % as %40 %2F %23 %3F %25"
    return problem


def resolve_path(base: Path, value: str) -> Path:
    """A path from the config: relative ones are relative to the config file's folder."""
    path = Path(os.path.expandvars(value))
    return path if path.is_absolute() else (base / path).resolve()


# -- compiling validated data into a Config --------------------------------------------------

_EVENT_ID = re.compile(r"[0-9A-Fa-f]{1,8}(?::[0-9A-Fa-f]{1,8})?")
# https://docs.slack.dev/messaging/formatting-message-text#mentioning-users: member IDs start
# with U or W, user group IDs with S, then upper-case letters and digits (8 or more today).
_GROUP_ID = re.compile(r"S[A-Z0-9]{8,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{8,}")
_SPECIAL_MENTIONS = ("channel", "here", "everyone")
_MENTIONS_ALLOWED = (
    "allowed: none, channel, here, everyone, a user ID like U0123ABCD, "
    "a user group ID like S0123ABCD"
)
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}|good|warning|danger")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_CONDITIONS = ("event_ids", "levels", "scopes", "units", "services", "hosts")


def build_config(
    path: Path,
    validated: dict[str, Any],
    problems: Sequence[str] = (),
    overrides: Sequence[Override] = (),
) -> Config:
    """Compile validated config data (schema.validate) into a Config. Raises ConfigError for
    what the schema cannot see (unit patterns, event IDs, mentions, time zones, colours, rules
    that match nothing or drop everything), together with the `problems` already found.
    `overrides`: the keys environment variables set (a secret among them is read from its
    variable)."""
    builder = _Builder(path, tuple(overrides))
    config = builder.build(validated)
    if builder.problems or problems:
        raise ConfigError(path, builder.problems + list(problems))
    return config


class _Builder:
    """Builds a Config from validated data, collecting problems instead of stopping at one."""

    def __init__(self, path: Path, overrides: tuple[Override, ...] = ()) -> None:
        self.path = path
        self.base = path.parent
        self.overrides = overrides
        self.problems: list[str] = []

    def build(self, m: dict[str, Any]) -> Config:
        message, outbox, log = m["message"], m["outbox"], m["log"]
        scopes = tuple(
            Scope(s["name"], self._matcher(entry_label("scopes", i, s["name"]), s))
            for i, s in enumerate(m["scopes"])
        )
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
            scopes=scopes,
            ignore=tuple(
                self._ignore(i, r, m["default_scope"], scopes) for i, r in enumerate(m["ignore"])
            ),
            routes=tuple(self._route(i, r) for i, r in enumerate(m["routes"])),
            destinations={
                name: self._destination(name, d) for name, d in m["destinations"].items()
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
            runbooks=tuple(self._runbook(i, r) for i, r in enumerate(m["runbooks"])),
            context=self._context(m["context"]),
            expectations=tuple(self._expect(i, e) for i, e in enumerate(m.get("expect", []))),
            heartbeat=self._heartbeat(m.get("heartbeat")),
            durations=DurationSettings(**m["durations"])
            if m.get("durations")
            else DurationSettings(),
            overrides=self.overrides,
        )

    def _expect(self, i: int, e: dict[str, Any]) -> Expectation:
        key = entry_label("expect", i, e["name"])
        hour, _, minute = e["by"].partition(":")
        days = e["days"]
        weekdays = range(7) if "daily" in days else (WEEKDAYS.index(d) for d in days)
        mentions = (self._mention(f"{key} mention", x) for x in e["mention"])
        return Expectation(
            name=e["name"],
            units=self._patterns(f"{key} units", e["units"]),
            exclude_units=self._patterns(f"{key} exclude_units", e["exclude_units"]),
            services=frozenset(e["services"]) if e.get("services") is not None else None,
            by=(int(hour), int(minute)),
            days=frozenset(weekdays),
            destinations=tuple(e["destination"]),
            mentions=tuple(filter(None, mentions)),
            level=e["level"],
        )

    def _heartbeat(self, h: dict[str, Any] | None) -> HeartbeatSettings | None:
        if h is None:
            return None
        if h.get("url_env"):
            source = WebhookSource("env", h["url_env"], "url")
        elif h.get("url_file"):
            source = WebhookSource("file", str(resolve_path(self.base, h["url_file"])), "url")
        else:
            source = self._literal("url", ("heartbeat", "url"))
        return HeartbeatSettings(
            source, h["interval_minutes"] * 60, h["timeout_seconds"], h.get("report_stuck", True)
        )

    def _runbook(self, i: int, r: dict[str, Any]) -> Runbook:
        from jp1notify.guidance import template_problem

        key = entry_label("runbooks", i, r["name"])
        problem = template_problem(r["text"])
        if problem:
            self.problems.append(f"{key} text: {problem}")
        url = r["url"]
        problem = check_link_url(url) if url else None
        if problem:
            self.problems.append(f"{key} url: {shown(url)} {problem}")
        return Runbook(
            r["name"] or default_name("runbooks", i), self._matcher(key, r), r["text"], url
        )

    def _program(self, program: str) -> None:
        """The program is the operator's alone: event text may fill arguments, never choose
        what runs. A .bat or .cmd is run by cmd.exe, which reads its arguments again with its
        own rules (quotes, &, |, %), so event text could run commands: Python's subprocess
        documentation warns of it (https://docs.python.org/3/library/subprocess.html#windows-popen-args)."""
        key = "context.command #1"
        if "{" in program.replace("{{", ""):
            self.problems.append(
                f"{key}: the program cannot hold a placeholder (only its arguments can): name "
                'the program itself, like "ajsshow"'
            )
        if not program.strip():
            self.problems.append(f'{key}: name the program to run, like "ajsshow"')
        if program.lower().rstrip(". ").endswith((".bat", ".cmd")):
            self.problems.append(
                f"{key}: {shown(program)} is a batch file: cmd.exe would read the event's text "
                'in its arguments as commands. Name the program itself, like "ajsshow.exe"'
            )

    def _context(self, c: dict[str, Any] | None) -> ContextSettings | None:
        if c is None:
            return None
        from jp1notify.guidance import template_problem

        command = tuple(c["command"])
        for i, argument in enumerate(command):
            problem = template_problem(argument)
            if problem:
                self.problems.append(f"context.command #{i + 1}: {problem}")
        self._program(command[0])
        return ContextSettings(
            command, frozenset(c["levels"]), c["timeout_seconds"], c["max_lines"], c["max_chars"]
        )

    def _route(self, i: int, r: dict[str, Any]) -> Route:
        key = entry_label("routes", i, r["name"])
        mentions = (self._mention(f"{key} mention", x) for x in r["mention"])
        return Route(
            name=r["name"] or default_name("routes", i),
            matcher=self._windows(key, r),
            destinations=tuple(r["destination"]),
            mentions=tuple(filter(None, mentions)),
            continue_=r["continue"],
            recovery=r.get("recovery", True),
        )

    def _windows(self, key: str, r: dict[str, Any]) -> Matcher:
        """A route's conditions with its time windows (schema checked their form)."""
        from jp1notify.rules import window

        days, hours, quiet = r.get("days"), r.get("hours"), r.get("quiet_hours")
        return self._matcher(key, r)._replace(
            hours=window(hours, days) if hours else None,
            quiet_hours=window(quiet, days) if quiet else None,
        )

    def _ignore(
        self, i: int, r: dict[str, Any], default_scope: str, scopes: tuple[Scope, ...]
    ) -> IgnoreRule:
        key = entry_label("ignore", i, r["name"])
        matcher = self._matcher(key, r)
        if matches_every_event(matcher, default_scope, scopes):
            self.problems.append(
                f"{key} would drop (nearly) every alert: add event_ids, levels, scopes, units, "
                "services or hosts to say which events it drops"
            )
        return IgnoreRule(r["name"] or default_name("ignore", i), matcher)

    def _matcher(self, key: str, m: dict[str, Any]) -> Matcher:
        def optional(name: str) -> frozenset[str] | None:
            return frozenset(m[name]) if m.get(name) is not None else None

        for name in _CONDITIONS:
            if m.get(name) == []:
                self.problems.append(
                    f"{key} {name}: an empty list matches no event: remove the key or give values"
                )
        units = m.get("units")
        hosts = m.get("hosts")
        return Matcher(
            event_ids=self._event_ids(f"{key} event_ids", m.get("event_ids")),
            levels=optional("levels"),
            scopes=optional("scopes"),
            units=self._patterns(f"{key} units", units) if units is not None else None,
            exclude_units=self._patterns(f"{key} exclude_units", m["exclude_units"]),
            services=optional("services"),
            hosts=frozenset(h.lower() for h in hosts) if hosts is not None else None,
        )

    def _patterns(self, key: str, patterns: list[str]) -> tuple[UnitPattern, ...]:
        compiled = []
        for i, pattern in enumerate(patterns):
            try:
                compiled.append(compile_unit_pattern(pattern))
            except PatternError as exc:
                message = str(exc).replace(repr(pattern), shown(pattern))
                self.problems.append(f"{key} #{i + 1}: {message}")
        return tuple(compiled)

    def _event_ids(self, key: str, ids: list[str] | None) -> frozenset[str] | None:
        if ids is None:
            return None
        found = (self._event_id(f"{key} #{i + 1}", x) for i, x in enumerate(ids))
        return frozenset(filter(None, found))

    def _event_id(self, key: str, value: str) -> str | None:
        if not _EVENT_ID.fullmatch(value):
            self.problems.append(
                f"{key}: {shown(value)} is not a JP1 event ID (hex, e.g. '4104' or '00004104')"
            )
            return None
        return normalize_event_id(value.split(":")[0])

    def _levels(self, levels: dict[str, str]) -> dict[str, str]:
        out = {}
        for raw, level in levels.items():
            event_id = self._event_id(f"levels.{cut(raw)}", raw)
            if event_id:
                out[event_id] = level
        return out

    def _mention(self, key: str, value: str) -> str:
        if value in _SPECIAL_MENTIONS:
            return f"<!{value}>"
        if value == "none":
            return ""
        if _GROUP_ID.fullmatch(value):
            return f"<!subteam^{value}>"
        if _USER_ID.fullmatch(value):
            return f"<@{value}>"
        self.problems.append(f"{key}: {shown(value)} is not a mention{mention_hint(value)}")
        return ""

    def _destination(self, name: str, d: dict[str, Any]) -> Destination:
        from jp1notify.destinations import SECRET_KEYS, Kind

        kind = Kind(d.get("kind") or Kind.SLACK_WEBHOOK)
        api_url = d.get("api_url") or None
        if api_url:
            problem = check_webhook_url(api_url)
            if problem:
                problem = problem.replace("hooks.slack.com/services/...", "slack.com/api/")
                self.problems.append(f"destinations.{cut(name)}.api_url: the URL {problem}")
        source = self._source(name, d, SECRET_KEYS[kind])
        if kind == Kind.ALERTMANAGER and not d.get("username"):
            source = WebhookSource("none", "", SECRET_KEYS[kind])
        return Destination(
            name,
            source,
            d["language"],
            kind.value,
            d.get("channel") or None,
            api_url,
            *self._pagerduty(name, d),
            tuple(d.get("headers") or ()),
            tuple(d.get("urls") or ()),
            d.get("username") or None,
            d.get("alert_lifetime_minutes"),
        )

    def _pagerduty(self, name: str, d: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
        """kind = "pagerduty": events_url (https, or http on this machine) and client_url."""
        events_url, client_url = d.get("events_url") or None, d.get("client_url") or None
        if events_url:
            problem = check_webhook_url(events_url)
            if problem:
                problem = problem.replace(
                    "hooks.slack.com/services/...", "events.eu.pagerduty.com/v2/enqueue"
                )
                self.problems.append(f"destinations.{cut(name)}.events_url: the URL {problem}")
        problem = check_link_url(client_url) if client_url else None
        if problem:
            self.problems.append(
                f"destinations.{cut(name)}.client_url: {shown(client_url)} {problem}"
            )
        return events_url, d.get("client") or None, client_url

    def _source(self, name: str, d: dict[str, Any], key: str) -> WebhookSource:
        if d.get(f"{key}_env"):
            return WebhookSource("env", d[f"{key}_env"], key)
        if d.get(f"{key}_file"):
            return WebhookSource("file", str(resolve_path(self.base, d[f"{key}_file"])), key)
        return self._literal(key, ("destinations", name, key))

    def _literal(self, key: str, keys: tuple[str, ...]) -> WebhookSource:
        """A secret given as a value: in the file, or in the variable that overrode it."""
        override = secret_override(self.overrides, keys)
        if override is not None:
            return WebhookSource("override", override.variable, key)
        return WebhookSource("url", ".".join(keys), key)

    def _timezone(self, name: str | None) -> tzinfo | None:
        if name is None:
            return None
        if name.upper() in ("UTC", "Z"):
            return UTC
        offset = _OFFSET.fullmatch(name)
        if offset:
            return self._offset(name, offset)
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self.problems.append(
                f"message.timezone: unknown time zone {shown(name)} (e.g. Asia/Tokyo, UTC, +09:00)"
            )
            return None

    def _offset(self, name: str, offset: re.Match[str]) -> tzinfo | None:
        hours, minutes = int(offset[2]), int(offset[3])
        if hours > 23 or minutes > 59:  # datetime.timezone takes less than a day
            self.problems.append(
                f"message.timezone: {shown(name)} is not a UTC offset (from -23:59 to +23:59, "
                "e.g. +09:00)"
            )
            return None
        sign = -1 if offset[1] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))

    def _colors(self, colors: dict[str, str]) -> dict[str, str]:
        for level, color in colors.items():
            if not _COLOR.fullmatch(color):
                self.problems.append(
                    f"message.colors.{level}: {shown(color)} is not a colour "
                    "(#RRGGBB, good, warning, danger)"
                )
        return dict(colors)

    def _http(self, h: dict[str, Any]) -> HttpSettings:
        ca_file = str(resolve_path(self.base, h["ca_file"])) if h["ca_file"] else None
        if ca_file and not _is_file(ca_file):
            self.problems.append(f"http.ca_file: {cut(ca_file, 200)} is not a file")
        return HttpSettings(
            h["timeout_seconds"],
            h["retry_budget_seconds"],
            h["max_attempts"],
            h["proxy"] or None,
            ca_file,
        )


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # a name too long for the file system
        return False


def mention_hint(value: str) -> str:
    """What the operator probably meant by a mention that is not one: ": write 'channel'"."""
    inner = value.strip().strip("<>")
    word = inner.lstrip("!@").lower()
    if word in _SPECIAL_MENTIONS:
        return f": write {word!r}"
    slack_id = inner.removeprefix("!subteam^").lstrip("@").split("|")[0].upper()
    if slack_id != value and (_GROUP_ID.fullmatch(slack_id) or _USER_ID.fullmatch(slack_id)):
        if slack_id == value.upper():
            return f": Slack IDs are upper-case, write {slack_id!r}"
        return f": write the ID alone, {slack_id!r}"
    if re.fullmatch(r"[UWS][A-Z0-9]{1,7}", value):
        return (
            ": a Slack ID is U, W or S and 8 or more upper-case letters and digits, like U0123ABCD"
        )
    return (
        ": mention a person by their member ID (Slack profile > ⋮ > Copy member ID), a user "
        f"group by its ID, never by a display name ({_MENTIONS_ALLOWED})"
    )
