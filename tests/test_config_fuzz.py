"""Every key of the config file given every kind of wrong value: the only outcome is a valid
config or a ConfigError whose lines are short operator sentences (never pydantic's phrasing)."""

from __future__ import annotations

import json

import pytest

from jp1notify.config import ConfigError
from jp1notify.schema import ConfigModel
from jp1notify.summary import summarize

from conftest import make_config

HOSTILE = {
    "true": "true",
    "zero": "0",
    "negative": "-1",
    "huge int": "1" + "0" * 40,
    "float": "2.5",
    "nan": "nan",
    "inf": "-inf",
    "empty text": '""',
    "text": '"x"',
    "NUL text": '"\\u0000"',
    "long text": json.dumps("y" * 5000),
    "empty list": "[]",
    "list of ints": "[1, 2]",
    "list of texts": '["a", "b"]',
    "list of lists": "[[], [1]]",
    "empty table": "{}",
    "table": "{ a = 1 }",
    "datetime": "1979-05-27T07:32:00Z",
    "date": "1979-05-27",
}
BASE = '[destinations.alerts]\nwebhook_url_env = "H"\n'
ROUTE = '[[routes]]\ndestination = "alerts"\n'


def placements() -> list[tuple[str, str]]:
    """(key, TOML text before the value) for every key of the format."""
    out = []
    for name, field in ConfigModel.model_fields.items():
        model = field.annotation
        inner = getattr(model, "model_fields", None)
        if name in ("routes", "ignore", "scopes"):
            from jp1notify.schema import IgnoreModel, RouteModel, ScopeModel

            entry = {"routes": RouteModel, "ignore": IgnoreModel, "scopes": ScopeModel}[name]
            for key, sub in entry.model_fields.items():
                alias = sub.alias or key
                out.append((f"{name}.{alias}", f"[[{name}]]\n{alias} = "))
        elif name == "destinations":
            from jp1notify.schema import DestinationModel

            for key in DestinationModel.model_fields:
                out.append((f"destinations.{key}", f"[destinations.x]\n{key} = "))
        elif name == "levels":
            out.append(("levels", '[levels]\n"4107" = '))
        elif inner:
            for key in inner:
                out.append((f"{name}.{key}", f"[{name}]\n{key} = "))
        else:
            out.append((name, f"{name} = "))
    return out


@pytest.mark.parametrize(("key", "prefix"), placements())
def test_every_key_with_every_wrong_value(tmp_path, key, prefix):
    refused = 0
    for label, value in HOSTILE.items():
        if "[" in prefix:
            text = BASE + ROUTE + prefix + value + "\n"
        else:  # a top-level key: above the first [table]
            text = prefix + value + "\n" + BASE + ROUTE
        try:
            config = make_config(text, tmp_path / "c.toml")
        except ConfigError as exc:
            refused += 1
            lines = exc.problems
        else:  # valid: check-config's own checks must cope with it too
            lines = summarize(config, {}).errors
        for line in lines:
            context = f"{key} = {label}: {line}"
            assert "Input should" not in line and "Value error" not in line, context
            assert "validation error" not in line and "pydantic" not in line, context
            assert len(line) < 400, context
    assert refused >= len(HOSTILE) // 2  # most of these values are wrong for any key
