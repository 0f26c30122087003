"""The ``legacy_erp`` technology: Bindery's protocol for ERPs that cannot hold a token.

Every call carries a login and password (HTTP Basic over TLS) **and** must come from an address
on the node's allow-list: both are required, and a node without any allowed network refuses
everything (deny by default). The password is stored only as an Argon2id hash, itself sealed
with the node's other credentials.

The endpoints are the connector URLs every node uses (``/api/connectors/<id>/products`` to
publish products into the hub, ``/api/connectors/<id>/orders`` to download orders), with the
same XML formats as the developer API: one parser and one writer, tested once, serve both.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import make_password
from django.views.decorators.debug import sensitive_variables
from pydantic import Field, SecretStr

from bindery.integration.registry import ConnectorType, Direction, StrictSchema, Technology
from bindery.technologies.bindery_api.connectors import ExportOrdersConfig, ImportProductsConfig, run_passive


class LegacyCredentials(StrictSchema):
    login: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: SecretStr = Field(min_length=12, max_length=200)


@sensitive_variables("credentials", "password")
def hash_password(credentials: dict[str, Any]) -> dict[str, Any]:
    """Keep the login; replace the password by its Argon2id hash (what is sealed and checked)."""
    password = credentials.pop("password")
    return {**credentials, "password_hash": make_password(password, hasher="argon2")}


TECHNOLOGY = Technology(
    key="legacy_erp",
    name="Legacy ERP (login, password and allowed addresses)",
    credentials_schema=LegacyCredentials,
    prepare_credentials=hash_password,
    description="For ERPs that cannot hold a token: HTTP Basic credentials plus a source-IP allow-list "
                "(add allow rules to the node), both required on every call.",
    connector_types=(
        ConnectorType(key="product_publish", name="ERP publishes products", direction=Direction.PRODUCT_IMPORT,
                      config_schema=ImportProductsConfig, run=run_passive, endpoint="POST products",
                      description="The ERP posts its catalogue as bindCommerceProducts XML."),
        ConnectorType(key="order_download", name="ERP downloads orders", direction=Direction.ORDER_EXPORT,
                      config_schema=ExportOrdersConfig, run=run_passive, endpoint="GET orders",
                      description="The ERP reads the hub's orders as Documents XML (or CSV, JSON)."),
    ),
)
