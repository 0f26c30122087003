"""Connector types of the developer-API nodes: their configuration schemas and run functions.

These connectors are *passive*: the other system calls their URL (``/api/connectors/<id>/...``,
see :mod:`bindery.api.connectors`), and each call is recorded as a run of the connector. Only
"export products" also runs on a schedule, pushing its file to the connector's output
(web-server) node.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext
from bindery.technologies.bindery_api.import_products import Group, ImportMode
from bindery.technologies.files.connectors import ExportConnectorConfig, run_product_export
from bindery.technologies.files.exports import ExportFormat


class OrderFormat(StrEnum):
    XML = "xml"
    CSV = "csv"
    JSON = "json"


class ExportOrdersConfig(StrictSchema):
    format: OrderFormat = Field(default=OrderFormat.XML, description="xml (bindCommerce's), csv or json")
    delimiter: str = Field(default=";", min_length=1, max_length=1, description="CSV only")
    export_once: bool = Field(default=True, description="an order is returned by one call only; "
                                                        "deleting its export reference returns it again")
    max_orders: int = Field(default=100, ge=1, le=1000, description="orders per call; the rest come next call")


class ImportProductsConfig(StrictSchema):
    mode: ImportMode = ImportMode.CREATE_UPDATE
    groups: list[Group] = Field(default_factory=lambda: list(Group), max_length=len(Group),
                                description="which information of the sent products is applied")
    delete_not_sent: list[Literal["products", "barcode", "images"]] = Field(
        default_factory=list, max_length=3,
        description="products: mark deleted the products of this node that the call did not send; "
                    "barcode / images: clear them on sent products that omit them")
    parent_quantity_sum: bool = Field(default=True, description="a parent's quantity is the sum of its variants'")
    parent_price_min: bool = Field(default=True, description="a parent's price is the lowest of its variants'")


class ImportDocumentsConfig(StrictSchema):
    """Documents are stored as sent; nothing to choose yet."""


class ExportProductsConfig(ExportConnectorConfig):
    format: ExportFormat = ExportFormat.XML


class ShippingUpdateConfig(StrictSchema):
    upload_now: bool = Field(default=True, description="start the order-upload connectors of the orders' "
                                                       "channels right after the call, instead of at their next run")


def run_passive(ctx: RunContext) -> None:
    """A passive connector has nothing to run: the other system calls its URL."""
    raise IntegrationError(IntegrationErrorCode.UNSUPPORTED_OPTION,
                           f"connector {ctx.connector.name!r} is called at its URL "
                           f"(/api/connectors/{ctx.connector.pk}/...); it cannot be run from here")


def run_products_push(ctx: RunContext) -> None:
    """Scheduled "export products": write the file and push it to the output web-server node."""
    if ctx.connector.output_node_id is None:
        raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG,
                               "set an output web-server node to push the products file, "
                               "or let the other system download it from the connector's URL",
                               field="output_node")
    run_product_export(ctx)
