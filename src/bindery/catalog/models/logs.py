"""Stock and price change logs: one row per changed value, written in the same transaction.

They keep the SKU, warehouse key and price-list name as text so history survives deletions.
Their links carry no database constraint: a log row is history, not a dependent of the product,
and checking three foreign keys per logged change was a large share of a bulk upsert's commit
(see docs/decisions/0003-catalog-bulk-writes.md). Django still nulls them when the target goes.
"""

from __future__ import annotations

from django.db import models

from bindery.catalog.models.base import BulkTenantRow, bulk_tenant_link
from bindery.catalog.models.fields import amount_field, currency_field
from bindery.catalog.models.prices import PriceList
from bindery.catalog.models.products import Product
from bindery.catalog.models.stock import Warehouse


class StockChangeLog(BulkTenantRow):
    """``old_quantity`` is None when the value was first set; no warehouse = the product's availability."""

    tenant = bulk_tenant_link(db_index=False)  # (tenant, created_at) leads with it
    sku = models.CharField(max_length=100)
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL, related_name="+",
                                db_constraint=False)
    warehouse = models.ForeignKey(Warehouse, null=True, on_delete=models.SET_NULL, related_name="+",
                                  db_constraint=False)
    warehouse_key = models.CharField(max_length=100, blank=True)
    old_quantity = amount_field(null=True)
    new_quantity = amount_field()
    cause = models.CharField(max_length=100)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "sku", "created_at"], name="catalog_stocklog_sku_time"),
            models.Index(fields=["tenant", "created_at"], name="catalog_stocklog_time"),
        ]


class PriceChangeLog(BulkTenantRow):
    """``old_*`` are None when the price was first set."""

    tenant = bulk_tenant_link(db_index=False)  # (tenant, created_at) leads with it
    sku = models.CharField(max_length=100)
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL, related_name="+",
                                db_constraint=False)
    price_list = models.ForeignKey(PriceList, null=True, on_delete=models.SET_NULL, related_name="+",
                                   db_constraint=False)
    price_list_name = models.CharField(max_length=100)
    currency = currency_field()
    min_quantity = amount_field(default=1)
    old_net = amount_field(null=True)
    old_gross = amount_field(null=True)
    new_net = amount_field()
    new_gross = amount_field()
    cause = models.CharField(max_length=100)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "sku", "created_at"], name="catalog_pricelog_sku_time"),
            models.Index(fields=["tenant", "created_at"], name="catalog_pricelog_time"),
        ]
