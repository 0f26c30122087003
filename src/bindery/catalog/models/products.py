"""Products (a variant is a product with a parent), their images and alternative texts."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from bindery.catalog.models.base import BulkTenantRow, bulk_tenant_link
from bindery.catalog.models.fields import amount_field, tenant_indexes
from bindery.control.tenancy import TenantOwnedModel


class BarcodeType(models.TextChoices):
    NONE = "", "None"
    EAN13 = "ean13", "EAN-13"
    EAN8 = "ean8", "EAN-8"
    UPC = "upc", "UPC-A"
    ISBN = "isbn", "ISBN"
    GTIN14 = "gtin14", "GTIN-14"
    OTHER = "other", "Other"


class WeightUnit(models.TextChoices):
    G = "g", "grams"
    KG = "kg", "kilograms"
    LB = "lb", "pounds"
    OZ = "oz", "ounces"


class DimensionUnit(models.TextChoices):
    MM = "mm", "millimetres"
    CM = "cm", "centimetres"
    M = "m", "metres"
    IN = "in", "inches"


class Product(BulkTenantRow):
    """A product or, when ``parent`` is set, one variant of it; identified by SKU within a tenant.

    Stock may be negative: ERPs record overselling and backorders as negative availability, and
    clamping here would hide an oversell from the next reconciliation. Publishing derives a
    non-negative quantity through quantity rules. ``quantity_arriving`` (incoming purchase
    orders), weights and dimensions cannot be negative, which the database enforces.

    ``tags`` is a JSON list of strings rather than a Tag table: tags arrive from sources as a
    whole list and are only ever replaced as a whole, carry no data of their own, and a list
    keeps bulk upserts to one column instead of a join table per product.

    ``modified_at`` is bumped by every action that changes the product or its prices, stock,
    attribute values, images or category links: differential runs select on it.
    """

    tenant = bulk_tenant_link(db_index=False)  # (tenant, sku), (tenant, modified_at), (tenant, id) lead with it
    sku = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=10, blank=True, help_text="BCP 47 tag; blank = the tenant's default")
    barcode = models.CharField(max_length=64, blank=True)
    barcode_type = models.CharField(max_length=10, choices=BarcodeType.choices, blank=True)
    manufacturer = models.CharField(max_length=255, blank=True)
    mpn = models.CharField("MPN", max_length=100, blank=True)
    supplier = models.CharField(max_length=255, blank=True)
    supplier_code = models.CharField(max_length=100, blank=True)
    description_html = models.TextField(blank=True)
    short_description = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    weight = amount_field(null=True, blank=True)
    weight_unit = models.CharField(max_length=2, choices=WeightUnit.choices, default=WeightUnit.KG)
    length = amount_field(null=True, blank=True)
    width = amount_field(null=True, blank=True)
    height = amount_field(null=True, blank=True)
    dimension_unit = models.CharField(max_length=2, choices=DimensionUnit.choices, default=DimensionUnit.CM)
    quantity_available = amount_field(default=0)
    quantity_arriving = amount_field(default=0)
    featured = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False, help_text="logically deleted: kept for history and bindings")
    origin_node_id = models.UUIDField(null=True, blank=True, help_text="the node this product came from")
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="catalog_product_sku_per_tenant"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="catalog_product_not_own_parent"),
            models.CheckConstraint(condition=Q(quantity_arriving__gte=0), name="catalog_product_arriving_gte_0"),
            models.CheckConstraint(
                condition=(Q(weight__isnull=True) | Q(weight__gte=0)) & (Q(length__isnull=True) | Q(length__gte=0))
                & (Q(width__isnull=True) | Q(width__gte=0)) & (Q(height__isnull=True) | Q(height__gte=0)),
                name="catalog_product_measures_gte_0",
            ),
        ]
        indexes = tenant_indexes("cat_product")

    def __str__(self) -> str:
        return self.sku


class ProductImage(BulkTenantRow):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images",
                                db_index=False, db_constraint=False)
    url = models.URLField(max_length=2000)
    thumbnail_url = models.URLField(max_length=2000, blank=True)
    position = models.PositiveIntegerField(default=0)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["product", "url"], name="catalog_image_url_per_product")]

    def __str__(self) -> str:
        return self.url


class ProductAlternative(TenantOwnedModel):
    """A product's title and description for one language or one channel (blank = any)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="alternatives",
                                db_index=False)
    language = models.CharField(max_length=10, blank=True)
    channel_key = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=255, blank=True)
    description_html = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "language", "channel_key"],
                                    name="catalog_alternative_per_language_channel"),
            models.CheckConstraint(condition=~(Q(language="") & Q(channel_key="")),
                                   name="catalog_alternative_has_language_or_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.language or '*'}/{self.channel_key or '*'}"
