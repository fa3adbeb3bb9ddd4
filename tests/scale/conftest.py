"""One real Airflow on PostgreSQL with two triggerers, and the OCC emulator it polls, shared by
the scale tests of a module (starting it costs about 20 s)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack.airflow_stack import AirflowStack, StackOptions
from stack.fixtures import airflow_stack

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

__all__ = ["airflow_stack"]

DAGS = Path(__file__).with_name("dags")
#: Waits per scale DAG, and their poll interval (seconds).
N = 200
POKE_INTERVAL = 2.0
#: A triggerer that missed heartbeats for this long counts as dead (default 30 s).
HEALTH_CHECK_THRESHOLD = 10


@pytest.fixture(scope="module")
def scale_emulator() -> Iterator[OracleCommerceEmulator]:
    emulator = OracleCommerceEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def scale_stack(scale_emulator: OracleCommerceEmulator) -> Iterator[AirflowStack]:
    """PostgreSQL, api-server, scheduler (LocalExecutor), dag-processor, two triggerers."""
    options = StackOptions(
        dags_folder=DAGS,
        database="postgres",
        triggerers=2,
        parallelism=16,
        triggerer_heartbeat_sec=2,
        triggerer_health_check_threshold=HEALTH_CHECK_THRESHOLD,
        env={
            "AIRFLOW_CONN_OCC_SCALE": json.dumps(scale_emulator.connection()),
            "SCALE_N": str(N),
            "SCALE_POKE_INTERVAL": str(POKE_INTERVAL),
        },
    )
    stack = AirflowStack(options)
    stack.start()
    yield stack
    stack.stop()
