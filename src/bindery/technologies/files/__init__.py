"""The ``files`` technology: product import and order/product export over local folders, HTTP(S), FTP(S), SFTP.

Library entry points: :func:`bindery.technologies.files.product_import.import_products`,
:func:`bindery.technologies.files.exports.export_orders` and ``export_products``; the engine's
connector types wrap them in :mod:`bindery.technologies.files.connectors`. See docs/files.md.
"""

from bindery.integration.registry import Capability, ConnectorType, Direction, Technology
from bindery.technologies.files.connectors import (
    ExportConnectorConfig,
    FilesNodeCredentials,
    FilesNodeSettings,
    ProductImportConnectorConfig,
    run_order_export,
    run_product_export,
    run_product_import,
)

SIMULATE = frozenset({Capability.SIMULATE})
BOTH = frozenset({Capability.DIFFERENTIAL, Capability.SIMULATE})

PRODUCT_EXPORT = ConnectorType(
    key="product_export", name="Export products to a file", direction=Direction.PRODUCT_PUBLISH,
    config_schema=ExportConnectorConfig, run=run_product_export, capabilities=BOTH,
    description="Write products (prices per list, stock per warehouse) as CSV, XML or JSON; upload atomically.")
ORDER_EXPORT = ConnectorType(
    key="order_export", name="Export orders to a file", direction=Direction.ORDER_EXPORT,
    config_schema=ExportConnectorConfig, run=run_order_export, capabilities=BOTH,
    description="Write orders as Documents/Document (XML), CSV or JSON for ERPs that read folders.")

TECHNOLOGY = Technology(
    key="files",
    name="Files (local folder, HTTP(S), FTP/FTPS, SFTP)",
    settings_schema=FilesNodeSettings,
    credentials_schema=FilesNodeCredentials,
    description="Import products from CSV, fixed width, XLSX, XML or JSON files; export orders and products.",
    connector_types=(
        ConnectorType(key="product_import", name="Import products from files", direction=Direction.PRODUCT_IMPORT,
                      config_schema=ProductImportConnectorConfig, run=run_product_import, capabilities=SIMULATE,
                      description="Pick up each matching file once (processing/, then processed/ or failed/), "
                                  "map its columns and upsert the products."),
        ORDER_EXPORT,
        PRODUCT_EXPORT,
    ),
)
