"""Airflow settings the operators and the sensor read."""

from __future__ import annotations

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - an Airflow whose task SDK has no configuration module
    from airflow.configuration import conf


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (False when unset), as official providers read it."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
