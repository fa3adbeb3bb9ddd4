"""docs/connections.md, "Networks": the fields it lists are the forms' fields, its example
connection and environment lines mean what it says, and each error it explains reads as the
table says (the messages are built by the code that raises them)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.get_provider_info import get_provider_info
from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.transport.network import (
    NETWORK_EXTRAS,
    CertificateSeen,
    Network,
    NetworkProblem,
    Proxy,
    Route,
    Trust,
    network_error,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "connections.md"


def section() -> str:
    text = DOC.read_text()
    start = text.index("## Networks\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_table_lists_every_network_field_of_every_form() -> None:
    body = section()
    for entry in get_provider_info()["connection-types"]:
        for name in NETWORK_EXTRAS:
            field = entry["conn-fields"][name]
            assert f"| {field['label']} | extra `{name}`" in body, (entry["connection-type"], name)


def test_the_example_connection_reads_as_described() -> None:
    (block,) = re.findall(r"^```json\n(.*?)^```", section(), flags=re.MULTILINE | re.DOTALL)
    conn = Connection.from_json(block, conn_id="doc")
    hook = hook_class_for(conn.conn_type)("doc", connection=conn)
    network = hook.network(conn)
    assert network.verify is True
    assert network.proxy is not None and network.proxy.url == "http://proxy.corp.example:3128"
    assert (network.proxy.username, network.proxy.password) == ("etl-robot", "proxy-password")
    assert network.proxy.source == "the proxy of connection 'doc' (Oracle Commerce Cloud)"
    assert network.no_proxy == ("localhost", ".corp.example")
    assert network.trust({}).ca_pem is not None  # the PEM text, not a path
    assert network.route("https://api.corp.example/x", {}).proxy is None
    assert network.route("https://p1234567c1prd-admin.occa.ocs.oraclecloud.com/x", {}).proxy is not None


def test_the_environment_lines_route_as_described() -> None:
    (block,) = re.findall(r"^```bash\n(.*?)^```", section(), flags=re.MULTILINE | re.DOTALL)
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in block.splitlines())
    assert set(env) == {"HTTPS_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE"}
    options = Network()
    route = options.route("https://vendor.example/x", env)
    assert route.proxy is not None and route.proxy.url == "http://proxy.corp.example:3128"
    assert options.route("https://db.corp.example/x", env).proxy is None
    assert options.trust(env).ca_file == env["REQUESTS_CA_BUNDLE"]


def test_the_sensitive_names_setting_exists() -> None:
    from airflow.configuration import conf

    assert "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=proxy" in section()
    assert conf.has_option("core", "sensitive_var_conn_names")


SEEN = CertificateSeen(
    "CN=api.vendor.example", "CN=Corp Proxy CA", ("api.vendor.example",), "2027-01-01", False
)


@pytest.mark.parametrize(
    ("kind", "seen"),
    [
        ("certificate", SEEN),
        ("hostname", SEEN),
        ("protocol", None),
        ("proxy_auth", None),
        ("unknown_host", None),
    ],
)
def test_each_error_reads_as_the_table_says(kind: str, seen: CertificateSeen | None) -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*)$", section(), flags=re.MULTILINE))
    proxy = Proxy("http://proxy.corp.example:3128", "u", "p")
    problem = NetworkProblem(kind, "detail", "api.vendor.example", 443, Route(proxy))  # type: ignore[arg-type]
    text = str(network_error("Vendor", "GET /x", problem, Trust(), seen))
    matching = [phrase for phrase in rows if phrase in text]
    assert len(matching) == 1, (kind, text)
    assert "Fix:" in text and "p@" not in text
