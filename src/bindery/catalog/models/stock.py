"""Warehouses, stock per product and warehouse, and rules deriving published quantities."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from bindery.catalog.models.base import BulkTenantRow, bulk_tenant_link
from bindery.catalog.models.fields import amount_field, tenant_indexes
from bindery.catalog.models.products import Product
from bindery.control.tenancy import TenantOwnedModel


class WarehouseKind(models.TextChoices):
    OWN = "own", "own"
    SUPPLIER = "supplier", "supplier's"
    COMPETITOR = "competitor", "competitor's"


class Warehouse(TenantOwnedModel):
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=100, help_text="how sources and channels name this warehouse")
    kind = models.CharField(max_length=10, choices=WarehouseKind.choices, default=WarehouseKind.OWN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="catalog_warehouse_key_per_tenant"),
            models.CheckConstraint(condition=~Q(key=""), name="catalog_warehouse_key_not_blank"),
        ]
        indexes = tenant_indexes("cat_warehouse")

    def __str__(self) -> str:
        return self.key


class StockLevel(BulkTenantRow):
    """Quantity of a product in a warehouse; may be negative (oversold), see :class:`Product`."""

    tenant = bulk_tenant_link(db_index=False)  # (tenant, modified_at) and (tenant, id) lead with it
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_levels",
                                db_index=False, db_constraint=False)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="stock_levels",
                                  db_constraint=False)
    quantity = amount_field(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="catalog_stock_per_product_warehouse"),
        ]
        indexes = tenant_indexes("cat_stock")


class StockMovement(BulkTenantRow):
    """A relative stock change applied once: ``reference`` (e.g. an order row on a channel) is unique.

    Downloads repeat (overlapping cursors, retried runs, an order modified on the shop); the
    unique reference makes the decrement of one order row happen exactly once whatever repeats.
    """

    reference = models.CharField(max_length=200)
    sku = models.CharField(max_length=100)
    warehouse_key = models.CharField(max_length=100, blank=True)
    quantity = amount_field(help_text="signed change: negative for a sale")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "reference"], name="catalog_stock_movement_once"),
        ]


class QuantityRuleMode(models.TextChoices):
    AS_IS = "as_is", "as is"
    CAPPED = "capped", "at most value"
    FIXED = "fixed", "always value"
    PERCENTAGE = "percentage", "value percent of the quantity"
    WAREHOUSE = "warehouse", "the quantity in one warehouse"


class QuantityRule(TenantOwnedModel):
    """How a published quantity is derived from the hub's stock."""

    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=QuantityRuleMode.choices, default=QuantityRuleMode.AS_IS)
    value = amount_field(null=True, blank=True)
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="catalog_quantity_rule_name_per_tenant"),
            models.CheckConstraint(
                condition=(Q(mode=QuantityRuleMode.WAREHOUSE) & Q(warehouse__isnull=False))
                | (~Q(mode=QuantityRuleMode.WAREHOUSE) & Q(warehouse__isnull=True)),
                name="catalog_quantity_rule_warehouse_iff_mode",
            ),
            models.CheckConstraint(
                condition=(Q(mode__in=[QuantityRuleMode.AS_IS, QuantityRuleMode.WAREHOUSE]) & Q(value__isnull=True))
                # value__isnull=False matters: a NULL comparison would make the check pass.
                | (Q(mode__in=[QuantityRuleMode.CAPPED, QuantityRuleMode.FIXED]) & Q(value__isnull=False)
                   & Q(value__gte=0))
                | (Q(mode=QuantityRuleMode.PERCENTAGE) & Q(value__isnull=False) & Q(value__gte=0)
                   & Q(value__lte=100)),
                name="catalog_quantity_rule_value_fits_mode",
            ),
        ]
        indexes = tenant_indexes("cat_qty_rule")

    def __str__(self) -> str:
        return self.name
