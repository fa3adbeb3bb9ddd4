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
        {
            "connection-type": "informatica_iics",
            "hook-class-name": "airflow_provider_exports.hooks.informatica.InformaticaHook",
            "hook-name": "Informatica Intelligent Cloud Services (IICS)",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {"host": "Login URL", "login": "Username", "password": "Password"},
                "placeholders": {
                    "host": "https://dm-us.informaticacloud.com",
                    "login": "user@example.com",
                },
            },
            "conn-fields": {"allow_cross_origin_auth": _CROSS_ORIGIN},
        },
        {
            "connection-type": "personium",
            "hook-class-name": "airflow_provider_exports.hooks.personium.PersoniumHook",
            "hook-name": "Personium",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {"host": "Cell URL", "login": "Username", "password": "Password"},
                "placeholders": {
                    "host": "https://cell1.unit1.example/",
                    "login": "account name (leave empty when using a token)",
                },
            },
            "conn-fields": {
                "access_token": {
                    "label": "Access token",
                    "description": "A bearer token instead of username and password.",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                "refresh_token": {
                    "label": "Refresh token",
                    "description": "Used to renew the access token when it expires.",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                "request_key": {
                    "label": "X-Personium-RequestKey",
                    "description": "Optional event-log key: at most 128 characters of A-Z a-z 0-9 - _.",
                    "schema": {"type": ["string", "null"], "maxLength": 128, "pattern": "^[A-Za-z0-9_-]*$"},
                },
                "allow_cross_origin_auth": _CROSS_ORIGIN,
            },
        },
        {
            "connection-type": "huawei_dataarts",
            "hook-class-name": "airflow_provider_exports.hooks.huawei_dataarts.HuaweiDataArtsHook",
            "hook-name": "Huawei Cloud DataArts Studio",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {
                    "host": "Endpoint URL (optional)",
                    "login": "IAM user name or access key (AK)",
                    "password": "IAM password or secret key (SK)",
                },
                "placeholders": {
                    "host": "https://dayu.cn-north-4.myhuaweicloud.com (default: from region)",
                    "login": "IAM user name, or AK such as QTWAOYTTINDUT2QVKYUC",
                },
            },
            "conn-fields": _huawei_fields(workspace=True),
        },
        {
            "connection-type": "huawei_workspace",
            "hook-class-name": "airflow_provider_exports.hooks.huawei_workspace.HuaweiWorkspaceHook",
            "hook-name": "Huawei Cloud Workspace",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {
                    "host": "Endpoint URL (optional)",
                    "login": "IAM user name or access key (AK)",
                    "password": "IAM password or secret key (SK)",
                },
                "placeholders": {
                    "host": "https://workspace.cn-north-4.myhuaweicloud.com (default: from region)",
                    "login": "IAM user name, or AK such as QTWAOYTTINDUT2QVKYUC",
                },
            },
            "conn-fields": _huawei_fields(workspace=False),
        },
    ]


def _huawei_fields(*, workspace: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "auth_type": {
            "label": "Authentication",
            "description": "'aksk': login/password are an access key and secret key (signed requests); "
            "'iam': they are an IAM user name and password (token).",
            "schema": {"type": "string", "enum": ["aksk", "iam"], "default": "aksk"},
        },
        "region": {
            "label": "Region",
            "description": "Huawei Cloud region, such as cn-north-4.",
            "schema": {"type": "string", "default": ""},
        },
        "project_id": {
            "label": "Project ID",
            "description": "The project (region) ID from My Credentials > API Credentials.",
            "schema": {"type": "string", "default": ""},
        },
        "domain": {
            "label": "Account (domain) name",
            "description": "IAM authentication only: the account the IAM user belongs to.",
            "schema": {"type": ["string", "null"]},
        },
        "iam_endpoint": {
            "label": "IAM endpoint (optional)",
            "description": "Default: https://iam.<region>.myhuaweicloud.com",
            "schema": {"type": ["string", "null"]},
        },
    }
    if workspace:
        fields["workspace_id"] = {
            "label": "DataArts workspace ID",
            "description": "Sent as the 'workspace' header on every call.",
            "schema": {"type": "string", "default": ""},
        }
    fields["allow_cross_origin_auth"] = _CROSS_ORIGIN
    return fields


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
