import subprocess
import sys
from pathlib import Path

import pytest

from jp1notify.config import ConfigError, find_config, load_config, resolve_webhook

from conftest import MINIMAL, ROOT, make_config


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_config(text)
    return info.value.problems


def test_shipped_example_config_is_valid():
    config = load_config(ROOT / "config" / "jp1notify.toml")
    assert [r.name for r in config.routes][-1] == "everything else"
    assert config.levels["4123"] == "error"
    assert config.log_dir == (ROOT / "logs").resolve()


def test_unknown_destination_names_the_key_and_the_known_ones():
    text = (
        MINIMAL
        + '[destinations.notice]\nwebhook_url_env = "X"\n[[routes]]\ndestination = "alert"\n'
    )
    assert problems(text) == [
        "routes #2 destination: unknown destination 'alert' (known: alerts, notice)"
    ]


def test_unknown_key_suggests_the_right_one():
    (line,) = problems(
        MINIMAL.replace('destination = "alerts"', 'destination = "alerts"\ndestnation = "x"')
    )
    assert line.startswith("routes #1 destnation: unknown key (allowed: ")
    assert "did you mean 'destination'?" in line


def test_unknown_key_in_a_destination_lists_destination_keys():
    (line,) = problems(
        MINIMAL.replace(
            'webhook_url_env = "HOOK_ALERTS"', 'webhook_url_env = "H"\nwebhok_url = "x"'
        )
    )
    assert line.startswith("destinations.alerts.webhok_url: unknown key (allowed: ")
    allowed = line.partition("(allowed: ")[2].partition(")")[0].split(", ")
    assert allowed == sorted(allowed)  # every kind's keys, so that a new kind adds its own
    assert {"api_url", "channel", "kind", "language", "ping_url", "token"} <= set(allowed)
    assert line.endswith("did you mean 'webhook_url'?")


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            ('destination = "alerts"', 'destination = "alerts"\nlevels = ["fatal"]'),
            "routes #1 levels #1: 'fatal' is not allowed (allowed: error, warning, info, success)",
        ),
        (
            ('destination = "alerts"', 'destination = "alerts"\nmention = "@channel"'),
            "routes #1 mention: '@channel' is not a mention: write 'channel'",
        ),
        (
            ('destination = "alerts"', 'destination = "alerts"\nunits = ["PROD/**"]'),
            "routes #1 units #1: unit pattern 'PROD/**' must be a full path starting with '/', e.g. '/PROD/**'",
        ),
        (
            ('destination = "alerts"', 'destination = "alerts"\nscopes = ["prod"]'),
            "routes #1 scopes: unknown scope 'prod' (known: other)",
        ),
        (
            ('destination = "alerts"', 'destination = "alerts"\nevent_ids = ["41O4"]'),
            "routes #1 event_ids #1: '41O4' is not a JP1 event ID (hex, e.g. '4104' or '00004104')",
        ),
        (
            ('timezone = "Asia/Tokyo"', 'timezone = "Asia/Tokio"'),
            "message.timezone: unknown time zone 'Asia/Tokio' (e.g. Asia/Tokyo, UTC, +09:00)",
        ),
        (
            ('language = "en"', 'language = "fr"'),
            "message.language: 'fr' is not allowed (allowed: ja, en)",
        ),
        (
            ('webhook_url_env = "HOOK_ALERTS"', 'webhook_url_env = "A"\nwebhook_url_file = "b"'),
            "destinations.alerts: exactly one of webhook_url, webhook_url_env, webhook_url_file must be "
            "set (found webhook_url_env, webhook_url_file)",
        ),
        (
            ('[[routes]]\ndestination = "alerts"', ""),
            "routes: required key is missing (add at least one [[routes]] table)",
        ),
        (
            ('language = "en"', 'language = "en"\ncolors = { error = "red" }'),
            "message.colors.error: 'red' is not a colour (#RRGGBB, good, warning, danger)",
        ),
    ],
)
def test_one_readable_line_per_problem(patch, expected):
    assert expected in problems(MINIMAL.replace(*patch))


def test_top_level_key_placed_under_a_table_is_explained():
    (line,) = problems(MINIMAL + 'fallback_level = "info"\n')
    assert line.startswith("routes #1 fallback_level: 'fallback_level' is a top-level key")
    assert "move it above the first [table]" in line


def test_several_problems_are_all_reported():
    text = MINIMAL + '[[routes]]\ndestination = "nope"\nmention = "x"\nunits = ["bad"]\n'
    assert len(problems(text)) == 3


def test_level_override_keys_are_normalised_and_checked():
    config = make_config(MINIMAL + '[levels]\n"00004107" = "warning"\n"410a" = "error"\n')
    assert config.levels == {"4107": "warning", "410A": "error"}
    assert problems(MINIMAL + '[levels]\n"x1" = "error"\n') == [
        "levels.x1: 'x1' is not a JP1 event ID (hex, e.g. '4104' or '00004104')"
    ]


def test_toml_syntax_error_gives_line_and_column():
    (line,) = problems(MINIMAL + "[[routes]\n")
    assert line.startswith("TOML syntax error:") and "line" in line


def test_shift_jis_file_is_refused_with_advice(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_bytes((MINIMAL + "# 本番\n").encode("cp932"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_utf8_bom_from_notepad_is_accepted(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(path).language == "en"


def test_missing_file_says_how_to_point_at_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="--config PATH, set JP1NOTIFY_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_find_config_order(tmp_path: Path):
    assert find_config("a.toml", {"JP1NOTIFY_CONFIG": "/x/b.toml"}) == Path("a.toml").resolve()
    assert find_config(None, {"JP1NOTIFY_CONFIG": str(tmp_path / "b.toml")}) == tmp_path / "b.toml"
    assert find_config(None, {}) == ROOT / "config" / "jp1notify.toml"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path):
    config = make_config(MINIMAL + '[log]\ndir = "logs2"\n', tmp_path / "c.toml")
    assert config.log_dir == tmp_path / "logs2"


def test_webhook_sources(tmp_path: Path):
    hook = "https://hooks.slack.com/services/T1/B1/abc"
    (tmp_path / "hook.url").write_text(hook + "\n", encoding="utf-8")
    text = (
        '[destinations.e]\nwebhook_url_env = "H"\n[destinations.f]\nwebhook_url_file = "hook.url"\n'
        f'[destinations.u]\nwebhook_url = "{hook}"\n[[routes]]\ndestination = ["e", "f", "u"]\n'
    )
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "c.toml")
    assert hook not in repr(config)
    assert hook not in (tmp_path / "c.toml.cache").read_text(encoding="utf-8")
    assert resolve_webhook(config.destinations["e"], config, {"H": hook}) == hook
    assert resolve_webhook(config.destinations["f"], config, {}) == hook
    assert resolve_webhook(config.destinations["u"], config, {}) == hook
    with pytest.raises(
        ConfigError, match="destinations.e.webhook_url_env: environment variable H is not set"
    ):
        resolve_webhook(config.destinations["e"], config, {})
    with pytest.raises(ConfigError, match="must start with https://"):
        resolve_webhook(
            config.destinations["e"], config, {"H": "http://hooks.slack.com/services/x"}
        )


def test_validated_config_is_cached_so_pydantic_stays_unloaded(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    probe = (
        "import sys; from pathlib import Path; from jp1notify.config import load_config; "
        f"c = load_config(Path({str(path)!r})); print(c.language, 'pydantic' in sys.modules)"
    )
    first = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    second = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert first.stdout.split() == ["en", "True"]  # validated, then cached
    assert second.stdout.split() == ["en", "False"]  # from the cache
    path.write_text(MINIMAL.replace('"en"', '"ja"'), encoding="utf-8")
    third = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert third.stdout.split() == ["ja", "True"]  # a changed file is validated again


def test_broken_cache_is_ignored_and_an_invalid_file_is_never_served_from_it(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    load_config(path)
    (tmp_path / "c.toml.cache").write_text("{not json", encoding="utf-8")
    assert load_config(path).language == "en"
    path.write_text(MINIMAL.replace('"en"', '"fr"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="message.language"):
        load_config(path)
