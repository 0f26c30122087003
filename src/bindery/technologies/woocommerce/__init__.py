"""The ``woocommerce`` technology: a WooCommerce shop over its REST API v3 (docs/woocommerce.md).

Connectors: product publish (create/update by SKU, variations, categories, images, batches of at most 100, a
quantity-only mode), order download (``modified_after`` cursor with overlap, ``X-WP-Total`` /
``X-WP-TotalPages`` paging, stock decremented once per order row) and order upload (status and
tracking numbers of shipments, once per shipment).
"""

from bindery.integration.registry import Capability, ConnectorType, Direction, Technology
from bindery.technologies.woocommerce.client import WooCredentials, WooSettings
from bindery.technologies.woocommerce.orders import (
    OrderDownloadConfig,
    OrderUploadConfig,
    run_order_download,
    run_order_upload,
)
from bindery.technologies.woocommerce.publish import ProductPublishConfig, run_product_publish

BOTH = frozenset({Capability.DIFFERENTIAL, Capability.SIMULATE})

TECHNOLOGY = Technology(
    key="woocommerce",
    name="WooCommerce (REST API v3)",
    settings_schema=WooSettings,
    credentials_schema=WooCredentials,
    description="A WooCommerce shop: publish products, download orders, send shipment tracking back.",
    connector_types=(
        ConnectorType(key="product_publish", name="Publish products to WooCommerce",
                      direction=Direction.PRODUCT_PUBLISH, config_schema=ProductPublishConfig,
                      run=run_product_publish, capabilities=BOTH,
                      description="Create or update products and variations by SKU in batches of 100, with "
                                  "the category tree and images; quantity_only mode sends stock only."),
        ConnectorType(key="order_download", name="Download orders from WooCommerce",
                      direction=Direction.ORDER_DOWNLOAD, config_schema=OrderDownloadConfig,
                      run=run_order_download, capabilities=BOTH,
                      description="Orders modified since the last run; customers de-duplicated by e-mail; "
                                  "stock decremented once per order row."),
        ConnectorType(key="order_upload", name="Send shipments to WooCommerce",
                      direction=Direction.ORDER_UPLOAD, config_schema=OrderUploadConfig,
                      run=run_order_upload, capabilities=frozenset({Capability.SIMULATE}),
                      description="Order status and tracking number of each shipment, once per shipment."),
    ),
)
