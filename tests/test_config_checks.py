"""`jp1notify check-config` on configs that cannot work: exit 78, one readable line per
problem, no traceback, no pydantic phrasing, no secret. Classes of the issue: A (URLs),
C (edges), D (Windows paths), E (rules that match nothing or drop everything), F (the gate),
G (wording)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import clean_env, run

HOOK = "https://hooks.slack.com/services/T0CHECK/B0CHECK/checksecret"
DESTINATION = '[destinations.alerts]\nwebhook_url_env = "HOOK_ALERTS"\n'
ROUTE = '[[routes]]\ndestination = "alerts"\n'


def check(tmp_path: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return run(["check-config", "--config", str(path)], clean_env(**{"HOOK_ALERTS": HOOK, **env}))


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines: under "is not usable:" on stderr, or under "Errors:" on stdout."""
    lines = [line[2:] for line in result.stderr.splitlines() if line.startswith("  ")]
    errors = result.stdout.partition("\nErrors:\n")[2]
    return lines + [line[4:] for line in errors.splitlines() if line.startswith("  - ")]


def refused(result: subprocess.CompletedProcess[str], *secrets: str) -> list[str]:
    """Assert the config is refused cleanly; return its problem lines."""
    output = result.stdout + result.stderr
    assert result.returncode == 78, output
    for phrase in ("Traceback", "Input should", "Value error", "validation error", *secrets):
        assert phrase not in output
    assert "jp1notify check-config" in output  # says how to check again
    lines = problems(result)
    assert lines and all(len(line) < 400 for line in lines), lines
    return lines


# -- A: webhook and proxy URLs -------------------------------------------------------------

BAD_HOOKS = {
    "https://hooks..slack.com/services/T/B/x": "empty name between dots",
    "https://hooks.slack.com:99999/services/T/B/x": "invalid port",
    "https://hooks.slack.com:abc/services/T/B/x": "invalid port",
    "https://[::1/services/T/B/x": "IPv6",
    "https://xn--/services/T/B/x": "xn--",
    f"https://{'h' * 64}.slack.com/services/T/B/x": "longer than 63",
    "https://" + ".".join(["h" * 60] * 5) + "/services/T/B/x": "longer than 253",
    "https://hooks.slack.com/services/T/B/x y": "space or control character",
    "https://hooks.slack.com/services/T/B/\x01x": "space or control character",
    "https://Ⅷ.slack.com/services/T/B/x": "IDNA",
}


@pytest.mark.parametrize(("url", "phrase"), BAD_HOOKS.items())
@pytest.mark.parametrize("source", ["literal", "file", "env"])
def test_bad_webhook_urls_fail_check_config_without_showing_the_url(tmp_path, url, phrase, source):
    if source == "literal":
        escaped = url.replace("\x01", "\\u0001")
        destination = f'[destinations.alerts]\nwebhook_url = "{escaped}"\n'
        result = check(tmp_path, destination + ROUTE)
    elif source == "file":
        (tmp_path / "alerts.url").write_text(url + "\n", encoding="utf-8")
        destination = '[destinations.alerts]\nwebhook_url_file = "alerts.url"\n'
        result = check(tmp_path, destination + ROUTE)
    else:
        result = check(tmp_path, DESTINATION + ROUTE, HOOK_ALERTS=url)
    (line,) = refused(result, url, "T/B/x")
    assert line.startswith("destinations.alerts") and phrase in line


def test_a_bad_url_in_a_variable_that_is_set_fails_the_send_too(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(DESTINATION + ROUTE, encoding="utf-8")
    env = clean_env(HOOK_ALERTS="https://hooks..slack.com/services/T/B/sendsecret")
    env.update(EVID="4104:0", EVMSG="KAVS0262-E jobnet (AJSROOT1:/PROD/X:@A1) ended abnormally")
    result = run(["--config", str(path)], env)
    assert result.returncode == 78, result.stderr
    assert "empty name between dots" in result.stderr
    assert "sendsecret" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("proxy", "phrase"),
    [
        ("socks5://jp1:pw-SECRET@proxy.corp.test:1080", "SOCKS"),
        ("http://jp1:pw-SECRET@proxy.corp.test:99999", "invalid port"),
        ("http://jp1:pw-SECRET@proxy..corp.test:8080", "empty name between dots"),
        ("proxy.corp.test:8080", "must start with http:// or https://"),
    ],
)
def test_bad_proxy_is_a_config_error_without_its_password(tmp_path, proxy, phrase):
    result = check(tmp_path, f'[http]\nproxy = "{proxy}"\n' + DESTINATION + ROUTE)
    (line,) = refused(result, "pw-SECRET", "proxy.corp")
    assert line.startswith("http.proxy: the proxy URL") and phrase in line


# -- C: edges ------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", ["+24:00", "-99:99", "+09:60", "+2400"])
def test_out_of_range_offsets(tmp_path, offset):
    result = check(tmp_path, f'[message]\ntimezone = "{offset}"\n' + DESTINATION + ROUTE)
    (line,) = refused(result)
    assert line.startswith("message.timezone:") and "+09:00" in line


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 500 + "]" * 500 + "\n",
        "a = " + "{b = " * 500 + "1" + "}" * 500 + "\n",
        DESTINATION + ROUTE + "[message]\nextra_fields = " + "[" * 300 + "]" * 300 + "\n",
    ],
    ids=["arrays", "inline tables", "a deep value in a known key"],
)
def test_deep_nesting_is_one_line(tmp_path, text):
    (line,) = refused(check(tmp_path, text))
    assert "nested too deeply" in line or "extra_fields" in line


@pytest.mark.parametrize("key", ["outbox.data_dir", "log.dir", "http.ca_file"])
@pytest.mark.parametrize("char", ["\\u0000", "\\u0007", "\\t", "\\n", "\\u007f"])
def test_control_characters_in_paths(tmp_path, key, char):
    table, name = key.split(".")
    result = check(tmp_path, DESTINATION + ROUTE + f'[{table}]\n{name} = "a{char}b"\n')
    (line,) = refused(result)
    assert line.startswith(f"{key}: the path has")
    assert "'C:\\jp1notify\\x.url'" in line and '"C:/jp1notify/x.url"' in line


BIG = "x" * 1_000_000


@pytest.mark.parametrize(
    "text",
    [
        f'[message]\nlanguage = "{BIG}"\n' + DESTINATION + ROUTE,
        f'[message]\ntimezone = "{BIG}"\n' + DESTINATION + ROUTE,
        f'[message]\ncolors = {{ error = "{BIG}" }}\n' + DESTINATION + ROUTE,
        DESTINATION + ROUTE + f'mention = "{BIG}"\n',
        DESTINATION + ROUTE + f'event_ids = ["{BIG}"]\n',
        DESTINATION + ROUTE + f'units = ["{BIG}"]\n',
        DESTINATION + ROUTE + f'scopes = ["{BIG}"]\n',
        DESTINATION + f'[[routes]]\ndestination = "{BIG}"\n',
        DESTINATION + f'[[routes]]\nname = "{BIG}"\ndestination = "nope"\n',
        DESTINATION + ROUTE + f'"{BIG}" = 1\n',
        f'[levels]\n"{BIG}" = "error"\n' + DESTINATION + ROUTE,
        f'fallback_level = "{BIG}"\n' + DESTINATION + ROUTE,
    ],
    ids=[
        "language",
        "timezone",
        "colour",
        "mention",
        "event id",
        "unit pattern",
        "scope",
        "destination",
        "route name",
        "key name",
        "levels key",
        "fallback_level",
    ],
)
def test_a_huge_value_is_cut_in_error_lines(tmp_path, text):
    lines = refused(check(tmp_path, text), "x" * 200)
    assert any("…" in line for line in lines)


def test_a_config_path_that_is_a_folder(tmp_path):
    result = run(["check-config", "--config", str(tmp_path)], clean_env())
    (line,) = refused(result)
    assert "cannot read the config file" in line


# -- D: Windows paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["destinations.alerts.webhook_url_file", "outbox.data_dir", "log.dir", "http.ca_file"]
)
def test_windows_path_in_double_quotes_becomes_tab_and_line_break(tmp_path, key):
    table, name = key.rsplit(".", 1)
    destination = DESTINATION if table != "destinations.alerts" else ""
    text = destination + ROUTE + f'[{table}]\n{name} = "C:\\temp\\new.url"\n'
    (line,) = refused(check(tmp_path, text))
    assert line.startswith(f"{key}: the path has a tab in it")
    assert "single quotes, 'C:\\jp1notify\\x.url'" in line and '"C:/jp1notify/x.url"' in line


@pytest.mark.parametrize(
    "value", ["C:\\Users\\jp1\\alerts.url", "C:\\jp1notify\\alerts.url", "C:\\data\\"]
)
def test_windows_path_escape_errors_get_the_same_advice(tmp_path, value):
    text = f'[destinations.alerts]\nwebhook_url_file = "{value}"\n' + ROUTE
    (line,) = refused(check(tmp_path, text))
    assert line.startswith("TOML syntax error:") and "line 2" in line
    assert "single quotes" in line and "forward slashes" in line


def test_windows_paths_in_single_quotes_are_fine(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "a.url").write_text(HOOK, encoding="utf-8")
    text = f"[destinations.alerts]\nwebhook_url_file = '{tmp_path}/hooks/a.url'\n" + ROUTE
    result = check(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_other_syntax_errors_get_no_path_advice(tmp_path):
    (line,) = refused(check(tmp_path, DESTINATION + "[[routes]\n"))
    assert line.startswith("TOML syntax error:") and "single quotes" not in line


def test_shipped_config_explains_windows_paths():
    from conftest import ROOT

    text = (ROOT / "config" / "jp1notify.toml").read_text(encoding="utf-8")
    assert "single quotes" in text and "C:/jp1notify" in text


# -- E: rules that match nothing or drop everything ------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        'name = "everything"',
        'levels = ["error", "warning", "info", "success"]',
        'units = ["/**"]',
        'units = ["**"]',
        'units = ["/PROD/**", "/**"]',
        'scopes = ["production", "other"]',
        'levels = ["error", "warning", "info", "success"]\nunits = ["/**"]',
    ],
)
def test_an_ignore_rule_that_drops_every_alert_is_refused(tmp_path, rule):
    scopes = '[[scopes]]\nname = "production"\nunits = ["/PROD/**"]\n'
    text = scopes + DESTINATION + f"[[ignore]]\n{rule}\n" + ROUTE
    (line,) = refused(check(tmp_path, text))
    assert line.startswith("ignore #1") and "would drop (nearly) every alert" in line
    assert "event_ids, levels, scopes, units, services or hosts" in line


@pytest.mark.parametrize(
    "rule",
    [
        'event_ids = ["4102"]',
        'levels = ["info", "success"]',
        'units = ["/**"]\nexclude_units = ["/PROD/**"]',
        'hosts = ["jp1mgr01"]',
    ],
)
def test_narrow_ignore_rules_are_fine(tmp_path, rule):
    result = check(tmp_path, DESTINATION + f"[[ignore]]\n{rule}\n" + ROUTE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("routes", "units"),
        ("routes", "levels"),
        ("routes", "event_ids"),
        ("ignore", "units"),
        ("ignore", "hosts"),
        ("scopes", "units"),
        ("scopes", "services"),
    ],
)
def test_an_empty_list_condition_matches_nothing(tmp_path, section, key):
    if section == "routes":
        entry = f'[[routes]]\nname = "r"\ndestination = "alerts"\n{key} = []\n'
    elif section == "ignore":
        entry = ROUTE + f'[[ignore]]\nname = "r"\n{key} = []\n'
    else:
        entry = ROUTE + f'[[scopes]]\nname = "r"\n{key} = []\n'
    (line,) = refused(check(tmp_path, DESTINATION + entry))
    assert line == (
        f'{section} #1 "r" {key}: an empty list matches no event: remove the key or give values'
    )


def test_patterns_that_miss_units_below_a_jobnet_get_hints(tmp_path):
    text = (
        '[[scopes]]\nname = "production"\nunits = ["/PROD/*"]\n'
        + DESTINATION
        + '[[ignore]]\nunits = ["/DEV"]\n'
        + ROUTE
        + 'units = ["/PROD/**", "/BILLING/*"]\n'
    )
    result = check(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = result.stdout.partition("Warnings:\n")[2]
    assert "scopes #1 \"production\" units: '/PROD/*' matches only" in warnings
    assert "write '/PROD/**'" in warnings
    assert "ignore #1 units: '/DEV' matches only the unit /DEV itself" in warnings
    assert "routes #1 units: '/BILLING/*'" in warnings and "'/BILLING/**'" in warnings
    assert "'/PROD/**' matches" not in warnings


# -- F: check-config is a gate ---------------------------------------------------------------


def test_a_good_config_is_ok_and_exits_0(tmp_path):
    result = check(tmp_path, DESTINATION + ROUTE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].endswith(": OK")
    assert "Errors:" not in result.stdout
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()  # probed


def test_a_variable_not_set_in_this_shell_is_only_a_warning(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(DESTINATION + ROUTE, encoding="utf-8")
    result = run(["check-config", "--config", str(path)], clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HOOK_ALERTS is not set" in result.stdout.partition("Warnings:")[2]


def test_a_missing_webhook_file_is_an_error(tmp_path):
    text = '[destinations.alerts]\nwebhook_url_file = "missing.url"\n' + ROUTE
    (line,) = refused(check(tmp_path, text))
    assert line.startswith("destinations.alerts.webhook_url_file: cannot read")
    assert "missing.url" in line
    assert "NOT OK" not in line


def test_an_unreadable_webhook_file_is_only_a_warning(tmp_path, monkeypatch):
    """The JP1 job's OS user may be allowed to read what the operator may not."""
    from jp1notify.summary import summarize

    from conftest import make_config

    hook = tmp_path / "a.url"
    hook.write_text(HOOK, encoding="utf-8")
    config = make_config(
        f"[destinations.alerts]\nwebhook_url_file = '{hook}'\n" + ROUTE, tmp_path / "c.toml"
    )
    import jp1notify.config

    real = jp1notify.config.read_regular_file

    def denied(path: Path) -> bytes:
        if path == hook:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(jp1notify.config, "read_regular_file", denied)
    text, errors = summarize(config, {})
    assert errors == []
    assert "cannot read" in text.partition("Warnings:")[2] and "Permission denied" in text


@pytest.mark.parametrize(("key", "value"), [("outbox", "data_dir"), ("log", "dir")])
def test_a_file_in_the_way_of_a_folder_is_an_error(tmp_path, key, value):
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    for folder in ("blocker", "blocker/sub"):
        result = check(tmp_path, DESTINATION + ROUTE + f'[{key}]\n{value} = "{folder}"\n')
        (line,) = refused(result)
        assert line.startswith(f"{key}.{value}: ") and "a file is in the way" in line
    assert (tmp_path / "blocker").read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs a folder nobody can write")
def test_a_folder_that_cannot_be_created_is_an_error(tmp_path):
    result = check(tmp_path, DESTINATION + ROUTE + '[log]\ndir = "/proc/jp1notify-test/logs"\n')
    (line,) = refused(result)
    assert line.startswith("log.dir: cannot create or write files in /proc/jp1notify-test/logs")


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_an_error(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    result = check(tmp_path, DESTINATION + ROUTE + '[outbox]\ndata_dir = "ro"\n')
    (line,) = refused(result)
    assert line.startswith("outbox.data_dir: cannot create or write")


def test_every_gate_problem_is_listed_at_once(tmp_path):
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    text = (
        '[outbox]\ndata_dir = "blocker"\n[log]\ndir = "blocker"\n'
        '[destinations.a]\nwebhook_url_file = "missing.url"\n'
        '[destinations.b]\nwebhook_url = "https://hooks.slack.com:0/services/T/B/x"\n'
        + DESTINATION
        + '[[routes]]\ndestination = ["a", "b", "alerts"]\n'
    )
    result = check(tmp_path, text, HOOK_ALERTS="https://hooks..slack.com/services/T/B/x")
    lines = refused(result)
    assert len(lines) == 5
    assert "NOT usable here (5 errors" in result.stdout.splitlines()[0]


# -- G: wording --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('self_guard = "off"\n', "self_guard: must be true or false (without quotes)"),
        ("self_guard = 1\n", "self_guard: must be true or false"),
        ('[http]\ntimeout_seconds = "30"\n', "http.timeout_seconds: must be a number"),
        ("[http]\nmax_attempts = 2.5\n", "http.max_attempts: must be a whole number"),
        ('[http]\nmax_attempts = "3"\n', "http.max_attempts: must be a whole number"),
        ("[http]\nmax_attempts = 0\n", "http.max_attempts: must be at least 1"),
        ("[http]\ntimeout_seconds = 500\n", "http.timeout_seconds: must be at most 120"),
        ("[http]\ntimeout_seconds = 0\n", "http.timeout_seconds: must be more than 0"),
        ("[http]\ntimeout_seconds = nan\n", "http.timeout_seconds: must be a number"),
        ("[message]\ntimezone = 9\n", "message.timezone: must be text"),
        ("[message]\nextra_fields = [1]\n", "message.extra_fields #1: must be text"),
        ("[message]\nextra_fields = 5\n", "message.extra_fields: must be text"),
        ("[outbox]\nretention_days = true\n", "outbox.retention_days: must be a whole number"),
        ("message = 5\n", "message: must be a table"),
        ('[[message]]\nlanguage = "en"\n', "message: write [message] (one pair of brackets)"),
        ("[[levels]]\n", "levels: write [levels]"),
        ('default_scope = ""\n', "default_scope: must not be empty"),
    ],
)
def test_shape_errors_in_operator_words(tmp_path, text, expected):
    (line,) = refused(check(tmp_path, text + DESTINATION + ROUTE))
    assert line.startswith(expected), line


def test_an_int_for_a_float_is_fine(tmp_path):
    result = check(tmp_path, "[http]\ntimeout_seconds = 5\n" + DESTINATION + ROUTE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_single_brackets_for_routes_and_double_for_a_destination(tmp_path):
    text = '[[destinations.alerts]]\nwebhook_url_env = "H"\n[routes]\ndestination = "alerts"\n'
    lines = refused(check(tmp_path, text))
    assert lines == [
        "destinations.alerts: write [destinations.alerts] (one pair of brackets); "
        "[[destinations.alerts]] makes a list of tables",
        "routes: write [[routes]] (two pairs of brackets) before each entry; [routes] makes "
        "a single table, not a list of them",
    ]


@pytest.mark.parametrize("section", ["scopes", "ignore"])
def test_single_brackets_for_scopes_and_ignore(tmp_path, section):
    text = DESTINATION + ROUTE + f'[{section}]\nname = "x"\nunits = ["/A/**"]\n'
    (line,) = refused(check(tmp_path, text))
    assert line.startswith(f"{section}: write [[{section}]] (two pairs of brackets)")


def test_route_numbers_in_errors_match_check_config(tmp_path):
    routes = (
        '[[routes]]\nname = "production errors"\nlevels = ["error"]\ndestination = "alerts"\n'
        '[[routes]]\nname = "production warnings"\nlevels = ["warning"]\ndestination = "alert"\n'
        '[[routes]]\ndestination = "alerts"\nmention = "@here"\n'
    )
    lines = refused(check(tmp_path, DESTINATION + routes))
    assert sorted(lines) == [
        "routes #2 \"production warnings\" destination: unknown destination 'alert' "
        "(known: alerts)",
        "routes #3 mention: '@here' is not a mention: write 'here'",
    ]
    fixed = routes.replace('"alert"\n', '"alerts"\n').replace('"@here"', '"here"')
    listing = check(tmp_path, DESTINATION + fixed).stdout
    assert "  2. production warnings: levels warning -> alerts" in listing
    assert "  3. route #3: every event -> alerts, mention @here" in listing


@pytest.mark.parametrize(
    ("mention", "hint"),
    [
        ("@channel", "write 'channel'"),
        ("<!here>", "write 'here'"),
        ("!channel", "write 'channel'"),
        ("<!everyone>", "write 'everyone'"),
        ("u0123abcd", "Slack IDs are upper-case, write 'U0123ABCD'"),
        ("s0123abcd", "Slack IDs are upper-case, write 'S0123ABCD'"),
        ("<@U0123ABCD>", "write the ID alone, 'U0123ABCD'"),
        ("<!subteam^S0123ABCD|@ops>", "write the ID alone, 'S0123ABCD'"),
        ("U123", "8 or more upper-case letters and digits"),
        ("@yamada.taro", "Slack profile > ⋮ > Copy member ID"),
        ("山田 太郎", "Slack profile > ⋮ > Copy member ID"),
    ],
)
def test_mention_hints(tmp_path, mention, hint):
    (line,) = refused(check(tmp_path, DESTINATION + ROUTE + f'mention = "{mention}"\n'))
    assert line.startswith("routes #1 mention: ") and hint in line


@pytest.mark.parametrize("mention", ["U0123ABCD", "W0123ABCD9", "S0123ABCD", "none", "here"])
def test_good_mentions(tmp_path, mention):
    result = check(tmp_path, DESTINATION + ROUTE + f'mention = "{mention}"\n')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("key", ["webhook_url_env", "webhook_url_file"])
def test_a_url_where_a_variable_name_or_path_goes_is_refused_unshown(tmp_path, key):
    text = f'[destinations.alerts]\n{key} = "{HOOK}"\n' + ROUTE
    (line,) = refused(check(tmp_path, text), "checksecret", "hooks.slack.com")
    assert line.startswith(f"destinations.alerts.{key}: this is a URL or token, not ")


def test_huge_names_are_cut_in_the_gate_lines(tmp_path):
    name, variable = "d" * 100_000, "V" * 100_000
    text = f'[destinations.{name}]\nwebhook_url_file = "{"f" * 100_000}"\n'
    text += f'[destinations.other]\nwebhook_url_env = "{variable}"\n'
    text += f'[[routes]]\ndestination = ["{name}", "other"]\n'
    result = check(tmp_path, text)
    lines = refused(result, "d" * 100, "f" * 300)
    assert len(lines) == 1 and lines[0].startswith("destinations.ddd") and "…" in lines[0]
    warnings = result.stdout.partition("Warnings:")[2]
    assert "V" * 100 not in warnings and "…" in warnings


@pytest.mark.parametrize(
    "rule",
    [
        'units = ["/*", "/*/*", "/*/*/*", "/*/*/*/*", "/*/*/*/*/*"]',
        'scopes = ["all"]',
        'scopes = ["all", "production"]\nlevels = ["error", "warning", "info", "success"]',
    ],
)
def test_ignore_rules_that_drop_nearly_everything_are_refused(tmp_path, rule):
    config = tmp_path / "c.toml"
    config.write_text(
        '[[scopes]]\nname = "all"\nunits = ["/**"]\n[[scopes]]\nname = "production"\n'
        f'units = ["/PROD/**"]\n[[ignore]]\n{rule}\n[destinations.a]\nwebhook_url_env = "X"\n'
        '[[routes]]\ndestination = "a"\n',
        encoding="utf-8",
    )
    result = run(["check-config", "--config", str(config)], clean_env())
    assert result.returncode == 78 and "would drop (nearly) every alert" in result.stderr


def test_an_ignore_rule_keeping_only_some_units_gets_a_warning(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[[ignore]]\nexclude_units = ["/PROD/**"]\n[destinations.a]\nwebhook_url_env = "X"\n'
        '[[routes]]\ndestination = "a"\n',
        encoding="utf-8",
    )
    result = run(["check-config", "--config", str(config)], clean_env())
    assert result.returncode == 0 and "drops every event except units /PROD/**" in result.stdout
