"""Steps of the ERP simulation, run as ``python -m tests.api.erp_scenario STEP`` against a real platform.

``setup`` prepares a tenant with a developer-API node (import products, export orders), a
logistics node (shipping update) and orders downloaded from a shop channel; ``state`` reads back
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


def setup(orders: int) -> dict[str, object]:
    from bindery.catalog.actions import do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.models import LocalTenant
    from bindery.integration.actions import do_create_connector, do_create_node
    from bindery.sales.actions import do_upsert_order
    from bindery.security.actions import do_create_api_token
    from tests.sales.factories import order_payload

    do_create_tenant("acme", "Acme Ltd", actor="test")
    tenant = LocalTenant.objects.get(slug="acme")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    do_create_warehouse(tenant, "main", actor="test")
    erp = do_create_node(tenant, "erp", "bindery_api", actor="test")
    products = do_create_connector(tenant, "erp products", erp, "import_products", actor="test")
    export = do_create_connector(tenant, "erp orders", erp, "export_orders", config={"max_orders": 1000},
                                 actor="test")
    wms = do_create_node(tenant, "wms", "logistics", actor="test")
    shipping = do_create_connector(tenant, "wms shipping", wms, "shipping_update", config={"upload_now": False},
                                   actor="test")
    for n in range(orders):
        do_upsert_order(tenant, order_payload(str(50_000 + n)), actor="test")
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
            "runs": sorted(Run.objects.unscoped().values_list("status", flat=True))}


def main(argv: list[str]) -> int:
    _setup_django()
    out = setup(int(argv[1])) if argv[0] == "setup" else state()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
