"""Fixtures for tests that run real Airflow components (see ``fixtures.py``)."""

from __future__ import annotations

from stack.fixtures import airflow_stack

__all__ = ["airflow_stack"]
