"""Steps of the ERP simulation, run as ``python -m tests.api.erp_scenario STEP`` against a real platform.

``setup`` prepares a tenant with a developer-API node (import products, export orders), a
logistics node (shipping update) and a WooCommerce node whose orders it downloads from the
fake shop; ``state`` reads back
what the ERP's calls left in the hub. Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()


def setup(store_url: str, key: str, secret: str) -> dict[str, object]:
    from bindery.catalog.actions import do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant
    from bindery.integration.actions import do_create_connector, do_create_node, do_enqueue_run
    from bindery.integration.runner import execute_run
    from bindery.security.actions import do_create_api_token

    do_create_tenant("acme", "Acme Ltd", actor="test")
    tenant = LocalTenant.objects.get(slug="acme")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    do_create_warehouse(tenant, "main", actor="test")
    erp = do_create_node(tenant, "erp", "bindery_api", actor="test")
    products = do_create_connector(tenant, "erp products", erp, "import_products", actor="test")
    export = do_create_connector(tenant, "erp orders", erp, "export_orders", config={"max_orders": 1000},
                                 actor="test")
    wms = do_create_node(tenant, "wms", "logistics", actor="test")
    shipping = do_create_connector(tenant, "wms shipping", wms, "shipping_update", actor="test")
    # The shop channel: its orders come into the hub here; shipments go back through its upload connector.
    shop = do_create_node(tenant, "shop", "woocommerce", settings={
        "store_url": store_url, "allow_private": True, "rate_per_second": 100, "max_retry_after": 1},
        credentials={"consumer_key": key, "consumer_secret": secret}, actor="test")
    download = do_create_connector(tenant, "shop orders", shop, "order_download", actor="test")
    do_create_connector(tenant, "shop tracking", shop, "order_upload", actor="test")
    run = execute_run(do_enqueue_run(connector=download, actor="test").pk, heartbeat=False)
    if run is None or run.status != "succeeded":
        raise SystemExit(f"order download failed: {run and run.error}")
    return {
        "products_url": f"/api/connectors/{products.pk}/products",
        "orders_url": f"/api/connectors/{export.pk}/orders",
        "shipping_url": f"/api/connectors/{shipping.pk}/shipments",
        "erp_token": do_create_api_token(tenant, "erp", ["catalog:write", "sales:read"], node=erp, actor="test")[1],
        "wms_token": do_create_api_token(tenant, "wms", ["sales:write"], node=wms, actor="test")[1],
    }


def state() -> dict[str, object]:
    from bindery.catalog.models import Product
    from bindery.integration.models import ExportReference, Run
    from bindery.sales.models import Shipment

    return {"products": Product.objects.unscoped().count(),
            "with_stock": Product.objects.unscoped().filter(quantity_available__gt=0).count(),
            "shipments": Shipment.objects.unscoped().count(),
            "references": ExportReference.objects.unscoped().count(),
            "call_runs": sorted(Run.objects.unscoped().filter(trigger="call").values_list("status", flat=True)),
            "upload_runs": sorted(Run.objects.unscoped().filter(connector__connector_type="order_upload")
                                  .values_list("status", flat=True))}


def main(argv: list[str]) -> int:
    _setup_django()
    out = setup(*argv[1:4]) if argv[0] == "setup" else state()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
