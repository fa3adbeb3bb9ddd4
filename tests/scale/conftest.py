"""One real Airflow on PostgreSQL with two triggerers, and the OCC emulator it polls, shared by
the scale tests of a module (starting it costs about 20 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stack.airflow_stack import AirflowStack
from stack.fixtures import airflow_stack

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from scale.scenario import HEALTH_CHECK_THRESHOLD, scale_options

__all__ = ["HEALTH_CHECK_THRESHOLD", "airflow_stack"]

#: Waits per scale DAG, and their poll interval (seconds).
N = 200
POKE_INTERVAL = 2.0


@pytest.fixture(scope="module")
def scale_emulator() -> Iterator[OracleCommerceEmulator]:
    emulator = OracleCommerceEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def scale_stack(scale_emulator: OracleCommerceEmulator) -> Iterator[AirflowStack]:
    """PostgreSQL, api-server, scheduler (LocalExecutor), dag-processor, two triggerers."""
    options = scale_options(scale_emulator.connection(), N, POKE_INTERVAL)
    stack = AirflowStack(options)
    stack.start()
    yield stack
    stack.stop()
