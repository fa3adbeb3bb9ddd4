"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``).

Connection forms are declared here (``conn-fields`` / ``ui-field-behaviour``), so the
Connections UI needs no hook import. The connection types come from ``vendors.VENDORS``; each
one's form is declared below.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_exports import __version__
from airflow_provider_exports.vendors import VENDORS

_CROSS_ORIGIN = {
    "label": "Send credentials to other hosts",
    "description": "On: download links on another host than the API's also get the credentials. "
    "Off (default): such links are fetched without credentials.",
    "schema": {"type": ["boolean", "null"], "default": False},
}

#: Every connection type's network fields (transport/network.py reads them; docs/connections.md,
#: "Networks"). Empty means: what the environment says (HTTPS_PROXY, REQUESTS_CA_BUNDLE...).
_NETWORK: dict[str, Any] = {
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Off only for a test system: the traffic, credentials included, could be "
        "read and changed on the way. To trust a private or corporate CA, use CA bundle.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "The CA certificates to trust instead of the system's: a PEM file's path on "
        "every worker and triggerer, or the PEM text itself.",
        "schema": {"type": ["string", "null"]},
    },
    "proxy": {
        "label": "Proxy",
        "description": "http://[user:password@]proxy.example:3128 for every request of this "
        "connection (https:// for a TLS proxy). Empty: HTTPS_PROXY / HTTP_PROXY, if set.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "no_proxy": {
        "label": "No proxy for",
        "description": "Hosts reached directly, comma-separated: example.com (and its "
        "subdomains), 10.0.0.0/8, host:8443, or * for all.",
        "schema": {"type": ["string", "null"]},
    },
}

#: Huawei Cloud regions offered as suggestions in the Region field (any region ID can be typed).
_HUAWEI_REGIONS = [
    "cn-north-4",
    "cn-north-1",
    "cn-east-3",
    "cn-east-2",
    "cn-south-1",
    "cn-southwest-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "af-south-1",
    "la-south-2",
    "sa-brazil-1",
    "tr-west-1",
    "me-east-1",
]


def _forms() -> dict[str, dict[str, Any]]:
    """Each connection type's form: which standard fields show, their labels, extra fields."""
    forms: list[dict[str, Any]] = [
        {
            "connection-type": "oracle_commerce",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login", "extra"],
                "relabeling": {"host": "Admin server URL", "password": "Application key"},
                "placeholders": {
                    "host": "https://p1234567c1prd-admin.occa.ocs.oraclecloud.com",
                    "password": "eyJhbGciOi... (from Settings > Web APIs > Registered Applications)",
                },
            },
            "conn-fields": {"allow_cross_origin_auth": _CROSS_ORIGIN},
        },
        {
            "connection-type": "informatica_iics",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {
                    "host": "Login URL (of your POD's region)",
                    "login": "User name",
                    "password": "Password",
                },
                "placeholders": {
                    "host": "https://dm-us.informaticacloud.com",
                    "login": "jdoe@example.com",
                    "password": "the IICS user's password",
                },
            },
            "conn-fields": {"allow_cross_origin_auth": _CROSS_ORIGIN},
        },
        {
            "connection-type": "personium",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "extra"],
                "relabeling": {
                    "host": "Cell URL",
                    "login": "Account name (optional with a token)",
                    "password": "Account password",
                },
                "placeholders": {
                    "host": "https://personium.example/mycell/ (or https://mycell.personium.example/)",
                    "login": "me (leave empty when using an access or refresh token)",
                    "password": "the account's password",
                },
            },
            "conn-fields": {
                "access_token": {
                    "label": "Access token (instead of account and password)",
                    "description": "A cell's bearer access token (it starts with AA~).",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                "refresh_token": {
                    "label": "Refresh token",
                    "description": "Renews the access token when it expires (it starts with RA~).",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                "request_key": {
                    "label": "Request key (X-Personium-RequestKey)",
                    "description": "Optional event-log key, such as airflow-exports: at most 128 "
                    "characters of A-Z a-z 0-9 - _.",
                    "schema": {"type": ["string", "null"], "maxLength": 128, "pattern": "^[A-Za-z0-9_-]*$"},
                },
                "allow_cross_origin_auth": _CROSS_ORIGIN,
            },
        },
        {
            "connection-type": "huawei_dataarts",
            "ui-field-behaviour": _huawei_behaviour("dayu"),
            "conn-fields": _huawei_fields(workspace=True),
        },
        {
            "connection-type": "huawei_workspace",
            "ui-field-behaviour": _huawei_behaviour("workspace"),
            "conn-fields": _huawei_fields(workspace=False),
        },
    ]
    return {form.pop("connection-type"): form for form in forms}


def _connection_types() -> list[dict[str, Any]]:
    forms = _forms()
    return [
        {
            "connection-type": vendor.conn_type,
            "hook-class-name": vendor.hook_class,
            "hook-name": vendor.hook_name,
            **forms[vendor.conn_type],
            "conn-fields": {**forms[vendor.conn_type]["conn-fields"], **_NETWORK},
        }
        for vendor in VENDORS
    ]


def _huawei_behaviour(service_host: str) -> dict[str, Any]:
    return {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {
            "host": "Endpoint URL (optional)",
            "login": "Access key (AK) or IAM user name",
            "password": "Secret key (SK) or IAM password",
        },
        "placeholders": {
            "host": f"https://{service_host}.cn-north-4.myhuaweicloud.com (empty: from the region)",
            "login": "QTWAOYTTINDUT2QVKYUC (an AK), or the IAM user name",
            "password": "the 40-character SK, or the IAM user's password",
        },
    }


def _huawei_fields(*, workspace: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "auth_type": {
            "label": "Authentication",
            "description": "Access key: login and password are an AK and SK (signed requests). "
            "IAM user: they are an IAM user name and password (token).",
            "schema": {
                "type": "string",
                "enum": ["aksk", "iam"],
                "values_display": {"aksk": "Access key (AK/SK)", "iam": "IAM user and password"},
                "default": "aksk",
            },
        },
        "region": {
            "label": "Region",
            "description": "Region ID, such as cn-north-4. Needed unless Endpoint URL (and, for an "
            "IAM user, IAM endpoint) are set.",
            "schema": {"type": ["string", "null"], "examples": _HUAWEI_REGIONS},
        },
        "project_id": {
            "label": "Project ID",
            "description": "32 hex digits, such as 0a1b2c3d4e5f60718293a4b5c6d7e8f9: My Credentials > "
            "API Credentials, the project of the region.",
            "schema": {"type": "string"},
        },
        "domain": {
            "label": "Account name (IAM user only)",
            "description": "The account (domain) the IAM user belongs to, such as mycompany.",
            "schema": {"type": ["string", "null"]},
        },
        "iam_endpoint": {
            "label": "IAM endpoint (optional)",
            "description": "IAM user only. Empty: https://iam.<region>.myhuaweicloud.com",
            "schema": {"type": ["string", "null"]},
        },
    }
    if workspace:
        fields["workspace_id"] = {
            "label": "DataArts workspace ID",
            "description": "32 hex digits, such as 1a2b3c4d5e6f70819203a4b5c6d7e8f9: DataArts Studio "
            "> Workspaces, the workspace's ID.",
            "schema": {"type": "string"},
        }
    fields["allow_cross_origin_auth"] = _CROSS_ORIGIN
    return fields


#: One integration per connection type: the vendor's own documentation and this provider's page.
_INTEGRATIONS: dict[str, dict[str, Any]] = {
    "oracle_commerce": {
        "external-doc-url": "https://docs.oracle.com/en/cloud/saas/cx-commerce/cxocc/op-ccadmin-v1-exportprocess-token-get.html",
        "tags": ["service"],
    },
    "informatica_iics": {
        "external-doc-url": "https://onlinehelp.informatica.com/IICS/prod/CDI/en/tt-cloud-rest-api/Exporting_objects.html",
        "tags": ["service"],
    },
    "personium": {
        "external-doc-url": "https://personium.io/docs/en/apiref/501_Export_Cell",
        "tags": ["service"],
    },
    "huawei_dataarts": {
        "external-doc-url": "https://support.huaweicloud.com/intl/en-us/api-dataartsstudio/ExportDesignModels.html",
        "tags": ["service"],
    },
    "huawei_workspace": {
        "external-doc-url": "https://support.huaweicloud.com/intl/en-us/api-workspace/ListExportTasks.html",
        "tags": ["service"],
    },
}


def _integrations() -> list[dict[str, Any]]:
    return [
        {
            "integration-name": vendor.hook_name,
            "how-to-guide": [f"docs/{vendor.docs_page}", "docs/index.md"],
            **_INTEGRATIONS[vendor.conn_type],
        }
        for vendor in VENDORS
    ]


def get_provider_info() -> dict[str, Any]:
    """Provider info as Airflow's providers manager expects it."""
    return {
        "package-name": "airflow-provider-exports",
        "name": "Exports",
        "description": "Start, wait for (deferrable), download and fetch logs of export jobs of "
        "Oracle Commerce Cloud, Personium, Informatica IICS and Huawei Cloud.",
        "versions": [__version__],
        "integrations": _integrations(),
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
        "extra-links": ["airflow_provider_exports.links.ExportLink"],
    }
