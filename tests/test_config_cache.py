"""The validated-config cache (jp1notify.toml.cache): no secret in it, never more readable than
the config, and whatever it holds, at worst a cache miss."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jp1notify import __version__
from jp1notify.config import CACHE_FORMAT, cache_path, load_config

from conftest import MINIMAL, clean_env, run

PASSWORD = "s3cr3t-Pa55"
PROXY = f"http://jp1user:{PASSWORD}@127.0.0.1:3128"
LITERAL = "https://hooks.slack.com/services/T0CACHE/B0CACHE/literalsecret"


def write_config(tmp_path: Path, text: str = MINIMAL, mode: int = 0o600) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def load_in_subprocess(path: Path, expression: str) -> list[str]:
    """Load the config in a fresh interpreter: `expression` and whether pydantic was imported."""
    probe = (
        "import sys; from pathlib import Path; from jp1notify.config import load_config; "
        f"c = load_config(Path({str(path)!r})); print({expression}); "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_proxy_password_is_never_cached_and_still_used_from_the_cache(tmp_path: Path):
    config = MINIMAL + f'[http]\nproxy = "{PROXY}"\n'
    config += f'[destinations.lit]\nwebhook_url = "{LITERAL}"\n'
    path = write_config(tmp_path, config)
    assert load_in_subprocess(path, "c.http.proxy") == [PROXY, "True"]  # validated
    assert load_in_subprocess(path, "c.http.proxy") == [PROXY, "False"]  # from the cache
    cached = cache_path(path).read_text(encoding="utf-8")
    assert PASSWORD not in cached and "literalsecret" not in cached


def test_a_proxy_without_credentials_is_cached_as_it_is(tmp_path: Path):
    path = write_config(tmp_path, MINIMAL + '[http]\nproxy = "http://127.0.0.1:3128"\n')
    load_config(path)
    assert "http://127.0.0.1:3128" in cache_path(path).read_text(encoding="utf-8")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o644])
def test_cache_is_never_more_readable_than_the_config(tmp_path: Path, mode: int):
    path = write_config(tmp_path, mode=mode)
    old_umask = os.umask(0)  # the most permissive umask: the mode must come from the config
    try:
        load_config(path)
    finally:
        os.umask(old_umask)
    cache_mode = stat.S_IMODE(cache_path(path).stat().st_mode)
    assert cache_mode & 0o077 == mode & 0o077  # group and others: exactly the config's
    assert cache_mode & 0o400 == mode & 0o400
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_a_wider_old_cache_is_replaced_by_a_narrow_one(tmp_path: Path):
    path = write_config(tmp_path, mode=0o600)
    cache_path(path).write_text("old", encoding="utf-8")
    cache_path(path).chmod(0o666)
    load_config(path)
    assert stat.S_IMODE(cache_path(path).stat().st_mode) == 0o600


def digest(path: Path, version: str = __version__, layout: int = CACHE_FORMAT) -> str:
    data = path.read_bytes()
    return hashlib.sha256(f"{version}\0{layout}\0".encode() + data).hexdigest()


def sealed(path: Path, body: str) -> str:
    """A cache that claims to be this version's, for these exact config bytes."""
    seal = hashlib.sha256(f"{digest(path)}\n{body}".encode()).hexdigest()
    return f"{seal}\n{body}"


def valid_cached_body(path: Path) -> dict:
    load_config(path)
    return json.loads(cache_path(path).read_text(encoding="utf-8").partition("\n")[2])


GARBAGE = {
    "not json": "{not json",
    "empty": "",
    "binary": None,  # bytes, below
    "deep json": "[" * 100_000,
    "old layout (version 1)": "OLD",
    "sealed list": "SEALED:[]",
    "sealed string": 'SEALED:"x"',
    "sealed empty object": "SEALED:{}",
    "sealed, http missing": "SEALED:DROP:http",
    "sealed, routes missing": "SEALED:DROP:routes",
    "sealed, wrong types": "SEALED:TYPES",
    "sealed, unknown time zone": "SEALED:ZONE",
}


@pytest.mark.parametrize("kind", GARBAGE)
def test_any_cache_content_is_at_worst_a_miss(tmp_path: Path, kind: str):
    path = write_config(tmp_path, MINIMAL.replace('"Asia/Tokyo"', '"UTC"'))
    content = GARBAGE[kind]
    target = cache_path(path)
    if content is None:
        target.write_bytes(b"\xff\xfe\x00garbage\x81")
    elif content == "OLD":
        old_digest = hashlib.sha256(__version__.encode() + b"\0" + path.read_bytes()).hexdigest()
        target.write_text(json.dumps({"sha256": old_digest, "config": {}}), encoding="utf-8")
    elif content.startswith("SEALED:"):
        target.write_text(sealed(path, forged(path, content[7:])), encoding="utf-8")
    else:
        target.write_text(content, encoding="utf-8")
    config = load_config(path)
    assert config.timezone_name == "UTC" and config.routes[0].destinations == ("alerts",)
    assert load_config(path).timezone_name == "UTC"  # and the cache was rewritten


def forged(path: Path, how: str) -> str:
    if how.startswith("DROP:"):
        body = valid_cached_body(path)
        del body[how[5:]]
        return json.dumps(body)
    if how == "TYPES":
        body = valid_cached_body(path)
        body["message"]["extra_fields"] = 5
        body["routes"] = [{"name": 5}]
        return json.dumps(body)
    if how == "ZONE":
        body = valid_cached_body(path)
        body["message"]["timezone"] = "Mars/Olympus"
        return json.dumps(body)
    return how


def test_a_folder_where_the_cache_goes_only_costs_speed(tmp_path: Path):
    path = write_config(tmp_path)
    cache_path(path).mkdir()
    assert load_config(path).language == "en"
    assert load_config(path).language == "en"
    result = run(["check-config", "--config", str(path)], clean_env(HOOK_ALERTS=LITERAL))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_with_a_garbage_cache_exits_0(tmp_path: Path):
    path = write_config(tmp_path)
    cache_path(path).write_text('{"sha256": 5, "config": [1, 2]}', encoding="utf-8")
    result = run(["check-config", "--config", str(path)], clean_env(HOOK_ALERTS=LITERAL))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config " in result.stdout and ": OK" in result.stdout
