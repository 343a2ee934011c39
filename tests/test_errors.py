"""One exception tree: every exception class of jp1notify is defined in errors.py, derives from
Jp1notifyError, and is drawn in the module docstring; the old import places still work."""

from __future__ import annotations

import ast
import builtins
import importlib
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import jp1notify
from jp1notify import errors
from jp1notify.errors import Jp1notifyError

from conftest import ROOT


def modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(jp1notify.__path__) if m.name != "__main__"]
    return [importlib.import_module(f"jp1notify.{name}") for name in names]


def exception_classes() -> set[type[BaseException]]:
    found = set()
    for module in modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("jp1notify")
            ):
                found.add(value)
    return found


def drawn_in_tree() -> set[str]:
    """The class names drawn in errors.py's docstring tree."""
    doc = errors.__doc__ or ""
    lines = [line.strip(" │├└─") for line in doc.splitlines() if line.startswith("    ")]
    return {line.split()[0] for line in lines if line.strip()}


def test_every_exception_class_is_in_the_tree_and_derives_from_the_base():
    classes = exception_classes()
    assert len(classes) >= 10  # the walk did find them
    for cls in classes:
        assert issubclass(cls, Jp1notifyError), cls
        assert cls.__module__ == "jp1notify.errors", f"{cls} is defined outside errors.py"
        assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} has no docstring"
    assert {cls.__name__ for cls in classes} == drawn_in_tree()


def test_no_module_but_errors_defines_an_exception_class_even_inside_a_function():
    """The import walk sees module-level classes only; this reads every class statement."""
    for module in modules():
        if module is errors:
            continue
        tree = ast.parse(open(module.__file__, encoding="utf-8").read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for base in node.bases:
                name = ast.unparse(base).split(".")[-1]
                value = getattr(module, name, getattr(builtins, name, None))
                is_exception = isinstance(value, type) and issubclass(value, BaseException)
                assert not is_exception, f"{module.__name__}.{node.name} is an exception class"


def test_the_tree_is_drawn_as_the_classes_derive():
    doc = (errors.__doc__ or "").splitlines()
    assert "    Jp1notifyError" in doc
    webhook = next(line for line in doc if "WebhookError" in line)
    config = next(line for line in doc if "ConfigError" in line)
    assert webhook.index("WebhookError") > config.index("ConfigError")  # drawn under it
    assert issubclass(errors.WebhookError, errors.ConfigError)
    assert issubclass(errors.PatternError, ValueError)
    assert issubclass(errors.HistoryError, ValueError)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("config.ConfigError", "errors.ConfigError"),
        ("config.WebhookError", "errors.WebhookError"),
        ("event.EventError", "errors.EventError"),
        ("envfile.EnvFileError", "errors.EnvFileError"),
        ("patterns.PatternError", "errors.PatternError"),
        ("store.StoreError", "errors.StoreError"),
        ("store.Problem", "errors.StoreProblem"),
        ("history.HistoryError", "errors.HistoryError"),
        ("notify.RecordedButFailed", "errors.RecordedButFailed"),
        ("outbox.LostLease", "errors.LostLease"),
        ("config.cut", "text.cut"),
        ("config.shown", "text.shown"),
        ("config.entry_label", "text.entry_label"),
        ("config.default_name", "text.default_name"),
    ],
)
def test_the_old_names_are_still_importable(old, new):
    def resolve(dotted: str) -> object:
        module, name = dotted.split(".")
        return getattr(importlib.import_module(f"jp1notify.{module}"), name)

    assert resolve(old) is resolve(new)


def test_errors_and_text_import_nothing_heavy():
    code = (
        "import sys, jp1notify.errors, jp1notify.text; "
        "print(sorted(m for m in ('pydantic', 'httpx', 'sqlite3', 'jp1notify.config') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_schema_no_longer_imports_config_at_module_level():
    code = "import sys, jp1notify.schema; print('jp1notify.config' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_a_store_error_keeps_its_problem():
    exc = errors.StoreError("the store x is locked", errors.StoreProblem.LOCKED)
    assert str(exc) == "the store x is locked" and not exc.corrupt
    assert errors.StoreError("damaged", errors.StoreProblem.CORRUPT).corrupt
    assert errors.StoreError("x").problem is errors.StoreProblem.UNUSABLE
