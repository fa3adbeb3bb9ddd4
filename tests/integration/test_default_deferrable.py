"""``[operators] default_deferrable`` on real Airflow (dag.test, SQLite) against the OCC emulator:
the start operator's wait and the sensor defer when the setting is on and no argument is given,
do not when it is off, and an explicit ``deferrable=`` wins either way (dags/default_deferrable.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

pytestmark = pytest.mark.integration
DAG_FILE = str(Path(__file__).with_name("dags") / "default_deferrable.py")
WAITS = ("start_default", "start_explicit", "wait_default", "wait_explicit")


@pytest.mark.parametrize("setting", [True, False], ids=["setting_on", "setting_off"])
def test_default_deferrable_decides_unless_the_argument_is_given(
    occ_emulator: OracleCommerceEmulator, run_dag: Any, setting: bool
) -> None:
    name, value = occ_emulator.connection_env("oracle_commerce_default")
    explicit = not setting  # the argument contradicts the setting, so only the argument can explain it
    env = {
        name: value,
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(setting),
        "EXPLICIT_DEFERRABLE": str(explicit),
    }
    result = run_dag("default_deferrable", env, dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    deferred = {task: "deferred" in result.transitions.get(task, []) for task in WAITS}
    assert deferred == {
        "start_default": setting,
        "start_explicit": explicit,
        "wait_default": setting,
        "wait_explicit": explicit,
    }, result.transitions
    # In each run one task of each pair deferred, so the exports were still running at the first
    # poll: a task that did not defer waited on the worker. Every wait ended in success.
    for task in ("wait_default", "wait_explicit"):
        assert result.return_value(task)["vendor_state"] == "succeeded"
    assert len(occ_emulator.exports) == 4
    assert all(e.step.state == "succeeded" for e in occ_emulator.exports.values())
