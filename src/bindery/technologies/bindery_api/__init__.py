"""The ``bindery_api`` technology: bindCommerce-compatible developer APIs, bound to connectors.

An API node holds the tokens (``bindery tokens create --node``); each of its connectors is one
URL under ``/api/connectors/<id>/`` speaking the wire formats of shared design WIRE.md
(``export_orders``, ``import_products``, ``import_documents``; the formats live in the modules
beside this one). See docs/api/.
"""

from bindery.integration.registry import Capability, ConnectorType, Direction, Technology
from bindery.technologies.bindery_api.connectors import (
    ExportOrdersConfig,
    ExportProductsConfig,
    ImportDocumentsConfig,
    ImportProductsConfig,
    run_passive,
    run_products_push,
)

EXPORT_ORDERS = ConnectorType(
    key="export_orders", name="API: export orders", direction=Direction.ORDER_EXPORT,
    config_schema=ExportOrdersConfig, run=run_passive, endpoint="GET orders",
    description="The ERP reads orders (XML, CSV or JSON), each once when export-once is on.")
IMPORT_PRODUCTS = ConnectorType(
    key="import_products", name="API: import products", direction=Direction.PRODUCT_IMPORT,
    config_schema=ImportProductsConfig, run=run_passive, endpoint="POST products",
    description="The ERP sends its catalogue as bindCommerceProducts XML.")

TECHNOLOGY = Technology(
    key="bindery_api",
    name="Developer API (bindCommerce compatible)",
    description="Endpoints other systems call with this node's token: export orders, import products "
                "and documents, export products.",
    connector_types=(
        EXPORT_ORDERS,
        IMPORT_PRODUCTS,
        ConnectorType(key="import_documents", name="API: import documents", direction=Direction.ORDER_DOWNLOAD,
                      config_schema=ImportDocumentsConfig, run=run_passive, endpoint="POST documents",
                      description="The ERP sends orders or invoices as Documents XML; the answer is JSON."),
        ConnectorType(key="export_products", name="API: export products", direction=Direction.PRODUCT_PUBLISH,
                      config_schema=ExportProductsConfig, run=run_products_push, endpoint="GET products",
                      capabilities=frozenset({Capability.DIFFERENTIAL, Capability.SIMULATE}),
                      description="Download the selected sections as XML, CSV or JSON, or push the file "
                                  "to an output web-server node on a schedule."),
    ),
)
