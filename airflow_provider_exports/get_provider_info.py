"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``).

Connection forms are declared here (``conn-fields`` / ``ui-field-behaviour``), so the
Connections UI needs no hook import. Adding a vendor = its hook module + one entry below.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_exports import __version__

_CROSS_ORIGIN = {
    "label": "Send credentials to other hosts",
    "description": "Also send credentials to download links on another host than the API's "
    "(off: such links are fetched without credentials).",
    "schema": {"type": ["boolean", "null"], "default": False},
}


def _connection_types() -> list[dict[str, Any]]:
    return [
        {
            "connection-type": "oracle_commerce",
            "hook-class-name": "airflow_provider_exports.hooks.oracle_commerce.OracleCommerceHook",
            "hook-name": "Oracle Commerce Cloud",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login", "extra"],
                "relabeling": {"host": "Admin server URL", "password": "Application key"},
                "placeholders": {
                    "host": "https://admin-myshop.oraclecloud.com",
                    "password": "application key (a JWT) from Settings > Web APIs > Registered Applications",
                },
            },
            "conn-fields": {"allow_cross_origin_auth": _CROSS_ORIGIN},
        },
    ]


def get_provider_info() -> dict[str, Any]:
    """Provider info as Airflow's providers manager expects it."""
    return {
        "package-name": "airflow-provider-exports",
        "name": "Exports",
        "description": "Start, wait for (deferrable), download and fetch logs of export jobs of "
        "Oracle Commerce Cloud, Personium, Informatica IICS and Huawei Cloud.",
        "versions": [__version__],
        "connection-types": _connection_types(),
        "hooks": [
            {"integration-name": "Exports", "python-modules": ["airflow_provider_exports.hooks"]},
        ],
        "triggers": [
            {
                "integration-name": "Exports",
                "python-modules": ["airflow_provider_exports.triggers.export_status"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Exports",
                "python-modules": ["airflow_provider_exports.sensors.export_status"],
            }
        ],
        "operators": [
            {"integration-name": "Exports", "python-modules": ["airflow_provider_exports.operators"]}
        ],
    }
