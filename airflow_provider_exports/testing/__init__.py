"""Vendor emulators, a DAG runner and pytest fixtures, shipped so users can test their own DAGs
offline (docs/testing.md).

``EMULATORS`` maps connection types to emulator classes (from ``vendors.VENDORS``), by import
path so that importing this package stays cheap; :func:`emulator_class` resolves one.
"""

from __future__ import annotations

import importlib

from airflow_provider_exports.testing.emulator import Emulator, Export, Fault, Step, Target, steps
from airflow_provider_exports.testing.runner import (
    DagRunError,
    DagRunResult,
    Deferral,
    RunningDag,
    TaskError,
    TaskResult,
    run_dag,
    start_dag,
)
from airflow_provider_exports.vendors import VENDORS

EMULATORS: dict[str, str] = {vendor.conn_type: vendor.emulator for vendor in VENDORS}


def emulator_class(conn_type: str) -> type[Emulator]:
    """The emulator class for a connection type."""
    module, _, name = EMULATORS[conn_type].partition(":")
    cls: type[Emulator] = getattr(importlib.import_module(module), name)
    return cls


__all__ = [
    "EMULATORS",
    "DagRunError",
    "DagRunResult",
    "Deferral",
    "Emulator",
    "Export",
    "Fault",
    "RunningDag",
    "Step",
    "Target",
    "TaskError",
    "TaskResult",
    "emulator_class",
    "run_dag",
    "start_dag",
    "steps",
]
