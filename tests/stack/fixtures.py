"""pytest fixtures around :mod:`stack.airflow_stack`.

``tests/stack/conftest.py`` and ``tests/scale/conftest.py`` import them; another suite can do the
same in its own conftest (``from stack.fixtures import airflow_stack  # noqa: F401``): ``tests/``
is on ``sys.path`` because ``tests/conftest.py`` lives there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.airflow_stack import AirflowStack, StackOptions


@pytest.fixture
def airflow_stack() -> Iterator[Callable[..., AirflowStack]]:
    """Start real Airflow stacks: ``airflow_stack(dags_folder=..., database="sqlite",
    triggerers=1, env={...})`` (any :class:`StackOptions` field). Every stack started is
    stopped after the test, also when it fails."""
    started: list[AirflowStack] = []

    def _start(dags_folder: Path, **options: Any) -> AirflowStack:
        stack = AirflowStack(StackOptions(dags_folder=dags_folder, **options))
        started.append(stack)
        return stack.start()

    yield _start
    for stack in reversed(started):
        stack.stop()
