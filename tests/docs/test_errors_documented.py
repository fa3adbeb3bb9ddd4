"""Public exceptions live in ``airflow_provider_exports.errors`` and docs/index.md lists each one
with what raises it (issue 17): a traceback's module is one the docs name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from airflow_provider_exports import errors, waiting
from airflow_provider_exports.errors import ExportError

ROOT = Path(__file__).resolve().parents[2]


def _public_exceptions() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, ExportError) and not name.startswith("_")
    }


def test_every_exception_the_provider_raises_is_defined_in_errors() -> None:
    for name, cls in _public_exceptions().items():
        assert cls.__module__ == "airflow_provider_exports.errors", name
    # The name tracebacks showed before stays importable, as the same class.
    assert waiting.ExportFinallyFailed is errors.ExportFinallyFailed
    assert issubclass(errors.ExportFinallyFailed, errors.ExportFailedError)


def test_the_docs_list_every_public_exception() -> None:
    text = (ROOT / "docs" / "index.md").read_text()
    table = text[text.index("## Errors you can catch") :]
    table = table[: table.index("\n## ", 1)]
    documented = set(re.findall(r"^\| `(\w+)`", table, re.M))
    assert documented == set(_public_exceptions()) - {"ExportError"}
    assert "airflow_provider_exports.errors" in table
