"""Category tree, attributes and their values, and a product's links to both."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from bindery.catalog.models.base import BulkTenantRow
from bindery.catalog.models.fields import tenant_indexes
from bindery.catalog.models.products import Product
from bindery.control.tenancy import TenantOwnedModel

PATH_SEPARATOR = "|"


class Category(TenantOwnedModel):
    """A node of the category tree, identified by its path key (names from the root joined by ``|``).

    A rename therefore makes a new category: shops keep the old one, which is never deleted there.
    """

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    name = models.CharField(max_length=255)
    language = models.CharField(max_length=10, blank=True)
    path_key = models.CharField(max_length=1000)
    selection_tags = models.JSONField(default=list, blank=True)
    description_html = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "language", "path_key"], name="catalog_category_path_per_tenant"),
            models.CheckConstraint(condition=~Q(name="") & ~Q(name__contains=PATH_SEPARATOR),
                                   name="catalog_category_name_valid"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="catalog_category_not_own_parent"),
        ]
        indexes = tenant_indexes("cat_category")

    def __str__(self) -> str:
        return self.path_key


class ProductCategory(BulkTenantRow):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="category_links",
                                db_index=False, db_constraint=False)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="product_links",
                                 db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "category"], name="catalog_product_category_once")]


class AttributeKind(models.TextChoices):
    VARIANT = "variant", "defines variants"
    DESCRIPTIVE = "descriptive", "descriptive"


class Attribute(TenantOwnedModel):
    """A named property (size, colour, material); ``channel_keys`` maps a channel to its own key.

    ``channel_keys`` holds e.g. ``{"erp": "TG", "shop": "pa_size", "order": "size", "export": "Size"}``.
    """

    kind = models.CharField(max_length=12, choices=AttributeKind.choices, default=AttributeKind.DESCRIPTIVE)
    name = models.CharField(max_length=255)
    language = models.CharField(max_length=10, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    channel_keys = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="catalog_attribute_name_per_tenant"),
            models.CheckConstraint(condition=~Q(name=""), name="catalog_attribute_name_not_blank"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="catalog_attribute_not_own_parent"),
        ]
        indexes = tenant_indexes("cat_attribute")

    def __str__(self) -> str:
        return self.name


class AttributeValue(TenantOwnedModel):
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["attribute", "value"], name="catalog_attribute_value_once")]

    def __str__(self) -> str:
        return self.value


class ProductAttributeValue(BulkTenantRow):
    """A product carries a value; a descriptive attribute may have several values on one product."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attribute_links",
                                db_index=False, db_constraint=False)
    value = models.ForeignKey(AttributeValue, on_delete=models.CASCADE, related_name="product_links",
                              db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "value"], name="catalog_product_value_once")]
