"""docs/connections.md explains Airflow's "shall not contain '_'" warning (issue 17, defect 8);
tests/integration/test_connection_scheme_warning.py pins where the warning comes from."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_explain_the_scheme_warning() -> None:
    text = (ROOT / "docs" / "connections.md").read_text()
    assert "shall not contain '_' according to RFC3986" in text and "apache/airflow#72855" in text
