"""An export DAG through a corporate network, on real Airflow: the vendor serves TLS with a
certificate from a private CA (trusted through the connection's ``ca_bundle``) and every request
goes through an authenticating forward proxy (Debian's tinyproxy). The whole pipeline (start,
deferred wait, download, log) works, the proxy's log shows the tunnels, and the proxy's password
appears nowhere: not in the task logs, XCom or anything the run printed (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from network_support import TINYPROXY, TestCA, TinyProxy

from integration.expect import assert_exported

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(TINYPROXY).exists(), reason="needs Debian's tinyproxy (.ci/run installs it)"),
]
PROXY_PASSWORD = "Corp-Pr0xy-Pa55word"


def test_the_example_dag_through_a_private_ca_and_an_authenticating_proxy(
    tmp_path: Path, make_emulator: Any, run_dag: Any
) -> None:
    ca = TestCA(tmp_path)
    emulator = make_emulator(
        "oracle_commerce", ssl_context=ca.issue("occ.test", ips=("127.0.0.1",)).server_context()
    )
    proxy = TinyProxy(tmp_path / "proxy", user="etl-robot", password=PROXY_PASSWORD).start()
    try:
        conn = emulator.connection()
        conn["extra"] = {
            **conn.get("extra", {}),
            "ca_bundle": ca.pem,  # the PEM text, as a secrets backend holds it
            "proxy": proxy.url_with("etl-robot", PROXY_PASSWORD),
        }
        env = {
            "AIRFLOW_CONN_ORACLE_COMMERCE_DEFAULT": json.dumps(conn),
            "EXPORTS_POKE_INTERVAL": "0.2",
            # Nothing from the machine: the connection alone must be enough.
            "REQUESTS_CA_BUNDLE": "",
            "CURL_CA_BUNDLE": "",
            "HTTPS_PROXY": "",
            "https_proxy": "",
        }
        result = run_dag("oracle_commerce_export", env)
        assert_exported(result, emulator, vendor_state="succeeded")
        port = int(emulator.url.rsplit(":", 1)[1])
        # Workers and the triggerer (in line under dag.test) alike went through the proxy.
        assert proxy.connects_to(port) >= 4, proxy.log_text()[-3000:]
        assert PROXY_PASSWORD not in result.output
        assert PROXY_PASSWORD not in json.dumps(result.xcom)
    finally:
        proxy.stop()
