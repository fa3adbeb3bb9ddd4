"""Test-wide setup: an isolated AIRFLOW_HOME with a migrated SQLite metadata DB.

Set before anything imports Airflow, so in-process imports (hooks, triggers) read this config.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(os.environ.get("EXPORTS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="exports-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
