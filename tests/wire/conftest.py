"""Every wire test starts with an empty credential cache (no login carried over from another
test, so each counts its own logins and token renewals)."""

from __future__ import annotations

import pytest

from airflow_provider_exports.transport.auth import CREDENTIALS


@pytest.fixture(autouse=True)
def _fresh_credentials() -> None:
    CREDENTIALS.clear()
