"""Fixtures of the integration engine's tests: a hub node, warehouses, products, a test technology."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import Field, SecretStr

from bindery.catalog.actions import do_bulk_upsert_products, do_create_warehouse
from bindery.catalog.payloads import ProductData, StockData
from bindery.control.models import LocalTenant
from bindery.integration import registry
from bindery.integration.actions import do_create_connector, do_create_node
from bindery.integration.models import Connector, Node
from bindery.integration.registry import Capability, ConnectorType, Direction, StrictSchema, Technology
from bindery.integration.runner import RunContext
from bindery.security import envelope


class VaultSettings(StrictSchema):
    base_url: str = Field(pattern=r"^https://")


class VaultCredentials(StrictSchema):
    api_key: SecretStr = Field(min_length=8)
    api_secret: SecretStr = Field(min_length=8)


class EchoConfig(StrictSchema):
    items: int = Field(default=3, ge=0, le=1000)
    fail_with: str | None = None


def run_echo(ctx: RunContext) -> None:
    """Uses the credentials (as a real client would) and fails with their value if asked to."""
    config = EchoConfig.model_validate(ctx.config)
    creds = ctx.credentials()
    ctx.log(f"Calling with key ending {str(creds['api_key'])[-2:]}.")
    for index in range(config.items):
        ctx.count(read=1)
        ctx.checkpoint(done=index + 1, total=config.items)
    if config.fail_with == "secret":
        raise RuntimeError(f"remote refused api_secret={creds['api_secret']}")


ECHO = Technology(
    key="vault_test", name="Test technology with credentials", settings_schema=VaultSettings,
    credentials_schema=VaultCredentials,
    connector_types=(ConnectorType(key="echo", name="Echo", direction=Direction.ORDER_DOWNLOAD,
                                   config_schema=EchoConfig, run=run_echo,
                                   capabilities=frozenset({Capability.SIMULATE})),),
)
SECRET = "s3cr3t-Value-Never-Logged-42"


@pytest.fixture
def vault_technology() -> Iterator[Technology]:
    registry.register(ECHO)
    yield ECHO
    registry.unregister(ECHO.key)


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    envelope.reset_keyring()
    yield
    envelope.reset_keyring()


@pytest.fixture
def vault_node(tenant: LocalTenant, vault_technology: Technology) -> Node:
    return do_create_node(tenant, "vault", "vault_test", settings={"base_url": "https://vault.example"},
                          credentials={"api_key": "key-1234567890", "api_secret": SECRET}, actor="test")


@pytest.fixture
def hub_node(tenant: LocalTenant) -> Node:
    return do_create_node(tenant, "hub", "hub", actor="test")


@pytest.fixture
def warehouses(tenant: LocalTenant) -> None:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_warehouse(tenant, "shop", actor="test")


def make_products(tenant: LocalTenant, count: int, *, quantity: Decimal | int = 5, prefix: str = "SKU-") -> None:
    do_bulk_upsert_products(tenant, [ProductData(sku=f"{prefix}{i:04d}", name=f"Product {i}",
                                                 stock=[StockData("main", quantity)]) for i in range(count)],
                            actor="test")


@pytest.fixture
def stock_copy(tenant: LocalTenant, hub_node: Node, warehouses: None) -> Connector:
    return do_create_connector(tenant, "main to shop", hub_node, "stock_copy",
                               config={"source_warehouse": "main", "target_warehouse": "shop", "batch_size": 7},
                               differential=True, actor="test")
