"""Vendor emulators and pytest fixtures, shipped so users can test their own DAGs offline.

``EMULATORS`` maps connection types to emulator classes (the CLI and fixtures use it).
"""

from __future__ import annotations

from airflow_provider_exports.testing.emulator import Emulator, Export, Fault, Step, steps
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

EMULATORS: dict[str, type[Emulator]] = {
    "oracle_commerce": OracleCommerceEmulator,
}

__all__ = ["EMULATORS", "Emulator", "Export", "Fault", "OracleCommerceEmulator", "Step", "steps"]
