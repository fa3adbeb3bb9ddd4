"""Every code block in README.md and docs/ that a user would paste is checked against the code, so
the docs cannot drift from it (issue 19):

- Python blocks parse, and every keyword argument given to one of the provider's classes is one
  that class (or the Airflow base class it extends) accepts; ``hook_params={"retry": {...}}`` keys
  are ``RetryPolicy`` fields.
- Every connection id in a block (``conn_id="..."``, a ``CONN_ID = "..."`` the block passes on,
  ``--conn-id``) is the id the vendors' hooks and example DAGs use by default.
- Every ``export AIRFLOW_CONN_<ID>=...`` defines one of those ids, with a value Airflow parses into
  a connection of that vendor's type.
- Every Airflow setting the docs name, as ``AIRFLOW__SECTION__KEY`` or ``[section] key``, exists
  in Airflow's configuration (providers' sections included).
- ``pip install airflow-provider-exports[extra]`` names an extra the package has; ``make``
  targets exist in the Makefile; scripts and test paths exist.

The README's DAG is run as written by test_start_pattern.py, and docs/connections.md's examples
are parsed and fed to the hooks by tests/ui/test_docs_connections.py; this file does not repeat
those checks.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, fields
from importlib.metadata import metadata
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports import __version__
from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.operators import (
    DownloadExportOperator,
    FetchExportLogOperator,
    StartExportOperator,
)
from airflow_provider_exports.sensors.export_status import ExportStatusSensor
from airflow_provider_exports.transport.retry import RetryPolicy
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger
from airflow_provider_exports.vendors import VENDORS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The provider's classes a snippet may call, by the name it calls them with.
CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        StartExportOperator,
        ExportStatusSensor,
        DownloadExportOperator,
        FetchExportLogOperator,
        ExportStatusTrigger,
    )
}
DEFAULT_CONN_IDS = {vendor.default_conn_id: vendor.conn_type for vendor in VENDORS}
#: Placeholders the docs use for "any setting" (not a setting themselves).
PLACEHOLDER_SETTINGS = {("section", "key")}


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language and its text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(paths: list[Path] = DOCS) -> Iterator[Block]:
    for path in paths:
        text = path.read_text()
        for match in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            yield Block(path, line, match.group(1), match.group(2))


def _python_blocks() -> list[Block]:
    return [b for b in _blocks() if b.lang == "python"]


def _shell_blocks() -> list[Block]:
    return [b for b in _blocks() if b.lang in ("bash", "sh", "shell", "console", "dockerfile")]


# ---- Python blocks ---------------------------------------------------------------------------


def _accepted(cls: type[Any]) -> set[str]:
    """Keyword arguments ``cls(...)`` accepts: its own and those of every base up to Airflow's."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return names - {"self"}


def _string_constants(tree: ast.AST) -> dict[str, str]:
    """``NAME = "text"`` assignments of the block (where a snippet names its connection id)."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in CLASSES or (
                name in ("partial", "expand")
                and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in CLASSES
            ):
                yield node


def _class_of(call: ast.Call) -> type[Any]:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("partial", "expand"):
        assert isinstance(func.value, ast.Name)
        return CLASSES[func.value.id]
    name = func.attr if isinstance(func, ast.Attribute) else func.id  # type: ignore[attr-defined]
    return CLASSES[name]


def python_problems(text: str) -> list[str]:
    """What in one Python block does not match the code (empty: all of it does)."""
    tree = ast.parse(text)
    constants = _string_constants(tree)
    problems: list[str] = []
    for call in _calls(tree):
        cls = _class_of(call)
        accepted = _accepted(cls)
        for keyword in call.keywords:
            if keyword.arg is None:
                continue  # **kwargs
            if keyword.arg not in accepted:
                problems.append(f"{cls.__name__} takes no argument {keyword.arg!r}")
            if keyword.arg == "conn_id":
                conn_id = _literal(keyword.value, constants)
                if conn_id is not None and conn_id not in DEFAULT_CONN_IDS:
                    problems.append(
                        f"{cls.__name__}(conn_id={conn_id!r}): not an id the hooks and example DAGs use "
                        f"({', '.join(sorted(DEFAULT_CONN_IDS))})"
                    )
            if keyword.arg == "hook_params" and isinstance(keyword.value, ast.Dict):
                problems += _retry_problems(keyword.value)
    return problems


def _literal(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _retry_problems(params: ast.Dict) -> list[str]:
    known = {f.name for f in fields(RetryPolicy)}
    problems = []
    for key, value in zip(params.keys, params.values, strict=True):
        if isinstance(key, ast.Constant) and key.value == "retry" and isinstance(value, ast.Dict):
            for option in value.keys:
                if isinstance(option, ast.Constant) and option.value not in known:
                    problems.append(f"hook_params retry has no option {option.value!r} ({sorted(known)})")
    return problems


@pytest.mark.parametrize("block", _python_blocks(), ids=lambda b: b.where)
def test_python_block_matches_the_code(block: Block) -> None:
    assert python_problems(block.text) == [], block.where


def test_python_blocks_call_the_provider() -> None:
    """The check above has something to check: the docs' snippets call the operators."""
    calls = [call for block in _python_blocks() for call in _calls(ast.parse(block.text))]
    assert {_class_of(call) for call in calls} >= {StartExportOperator, ExportStatusSensor}
    assert len(calls) >= 10


# ---- Shell blocks ----------------------------------------------------------------------------


def _commands(text: str) -> list[list[str]]:
    """The block's commands as words (continuations joined, comments dropped, ``;``/``|`` split)."""
    joined = re.sub(r"\\\n", " ", text)
    commands: list[list[str]] = []
    for line in joined.splitlines():
        if line.lstrip().upper().startswith(("FROM ", "RUN ")):
            line = line.strip().split(" ", 1)[1] if " " in line.strip() else ""
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # a line of a multi-line quoted value; see _exports
        current: list[str] = []
        for word in words:
            if word in (";", "|", "&&"):
                commands.append(current)
                current = []
            else:
                current.append(word.rstrip(";"))
        commands.append(current)
    return [c for c in commands if c]


def _exports(text: str) -> list[tuple[str, str]]:
    """``export NAME=VALUE`` assignments, values spanning lines included."""
    words = shlex.split(re.sub(r"\\\n", " ", text), comments=True)
    found = []
    for i, word in enumerate(words):
        if word == "export":
            for assignment in words[i + 1 :]:
                if "=" not in assignment:
                    break
                name, _, value = assignment.partition("=")
                found.append((name, value))
    return found


def shell_problems(text: str) -> list[str]:
    """What in one shell block does not match the code (empty: all of it does)."""
    problems: list[str] = []
    for name, value in _exports(text):
        if name.startswith("AIRFLOW_CONN_"):
            problems += _env_connection_problems(name, value)
    for command in _commands(text):
        problems += _command_problems(command)
    return problems


def _env_connection_problems(name: str, value: str) -> list[str]:
    conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
    if conn_id not in DEFAULT_CONN_IDS:
        return [f"{name} defines {conn_id!r}, not an id the hooks and example DAGs use"]
    conn = Connection.from_json(value, conn_id=conn_id) if value.lstrip().startswith("{") else None
    if conn is None:
        conn = Connection.from_uri(value, conn_id=conn_id)
    if conn.conn_type != DEFAULT_CONN_IDS[conn_id]:
        return [
            f"{name} is a {conn.conn_type!r} connection, "
            f"but {conn_id!r} is the {DEFAULT_CONN_IDS[conn_id]!r} id"
        ]
    hook = hook_class_for(conn.conn_type)
    if hook.default_conn_name != conn_id:
        return [f"{hook.__name__}.default_conn_name is {hook.default_conn_name!r}, not {conn_id!r}"]
    return []


def _extras() -> set[str]:
    """The extras of the installed package (as pip sees them, from pyproject.toml)."""
    return set(metadata("airflow-provider-exports").get_all("Provides-Extra") or [])


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def _command_problems(words: list[str]) -> list[str]:
    problems: list[str] = []
    program = words[0]
    if program in ("pip", "pip3") or words[:3] == ["python", "-m", "pip"]:
        for word in words:
            match = re.fullmatch(r"airflow-provider-exports(?:\[([\w,-]+)\])?(?:==([\w.]+))?", word)
            if not match:
                continue
            for extra in (match.group(1) or "").split(","):
                if extra and extra not in _extras():
                    problems.append(f"pip install names extra {extra!r}; the package has {sorted(_extras())}")
            if match.group(2) and match.group(2) != __version__:
                problems.append(f"pip install pins {match.group(2)}, the package is {__version__}")
    elif program == "make":
        problems += [f"make {t}: no such target" for t in words[1:] if t not in _make_targets()]
    elif program.endswith("python") or program == "python3":
        rest = words[1:]
        if rest[:2] == ["-m", "pytest"]:
            problems += [
                f"pytest path {p} does not exist"
                for p in rest[2:]
                if p.startswith("tests") and not (ROOT / p.split("::")[0]).exists()
            ]
        elif rest and rest[0].endswith(".py") and not (ROOT / rest[0]).exists():
            problems.append(f"{rest[0]} does not exist")
        elif rest[:2] == ["-m", "airflow_provider_exports.testing"] and "--conn-id" in rest:
            conn_id = rest[rest.index("--conn-id") + 1]
            if conn_id not in DEFAULT_CONN_IDS:
                problems.append(f"--conn-id {conn_id}: not an id the hooks and example DAGs use")
    return problems


@pytest.mark.parametrize("block", _shell_blocks(), ids=lambda b: b.where)
def test_shell_block_matches_the_code(block: Block) -> None:
    assert shell_problems(block.text) == [], block.where


def test_shell_blocks_install_the_extras() -> None:
    """The check above has something to check: the install commands, the image's included."""
    installs = [
        word
        for block in _shell_blocks()
        for command in _commands(block.text)
        if command[0] in ("pip", "pip3")
        for word in command
        if word.startswith("airflow-provider-exports")
    ]
    assert f"airflow-provider-exports[openlineage]=={__version__}" in installs
    assert "airflow-provider-exports[openlineage]" in installs


def test_shell_blocks_define_every_default_connection() -> None:
    """The check above has something to check: the docs export each vendor's default id."""
    defined = {
        name.removeprefix("AIRFLOW_CONN_").lower()
        for block in _shell_blocks()
        for name, _ in _exports(block.text)
        if name.startswith("AIRFLOW_CONN_")
    }
    assert defined == set(DEFAULT_CONN_IDS)


@pytest.mark.parametrize("block", [b for b in _blocks() if b.lang == "json"], ids=lambda b: b.where)
def test_json_block_parses_and_names_a_vendor(block: Block) -> None:
    """JSON a user pastes (connections, payloads) is JSON, and a connection names a vendor's type."""
    data = json.loads(block.text)
    if isinstance(data, dict) and "conn_type" in data:
        assert data["conn_type"] in DEFAULT_CONN_IDS.values(), block.where


# ---- Airflow settings anywhere in the docs ---------------------------------------------------


def _settings(text: str) -> Iterator[tuple[str, str]]:
    for match in re.finditer(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", text):
        yield match.group(1).lower(), match.group(2).lower()
    for match in re.finditer(r"\[([a-z_]+)\][ \t]+([a-z_]+)", text):
        yield match.group(1), match.group(2)


def setting_problems(text: str) -> list[str]:
    """Airflow settings named in ``text`` that Airflow's configuration does not have."""
    from airflow.configuration import conf

    known = conf.configuration_description
    return [
        f"[{section}] {key} is not an Airflow setting"
        for section, key in _settings(text)
        if (section, key) not in PLACEHOLDER_SETTINGS
        and (section not in known or key not in known[section]["options"])
    ]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_airflow_settings_exist(path: Path) -> None:
    assert setting_problems(path.read_text()) == []


def test_settings_are_found() -> None:
    """The check above has something to check."""
    found = {s for path in DOCS for s in _settings(path.read_text())}
    assert {("operators", "default_deferrable"), ("openlineage", "transport")} <= found
