"""Price lists, prices (product x list, net and gross both stored) and price rules."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from bindery.catalog.models.base import BulkTenantRow, bulk_tenant_link
from bindery.catalog.models.fields import amount_field, currency_field, tenant_indexes
from bindery.catalog.models.products import Product
from bindery.control.tenancy import TenantOwnedModel


class PriceListRelationship(models.TextChoices):
    OWN = "own", "own prices"
    SUPPLIER = "supplier", "supplier's prices"
    COMPETITOR = "competitor", "competitor's prices"


class PriceList(TenantOwnedModel):
    """A named list in one currency; ``channel_keys`` maps a channel to the list's key there."""

    name = models.CharField(max_length=100)
    currency = currency_field()
    relationship = models.CharField(max_length=10, choices=PriceListRelationship.choices,
                                    default=PriceListRelationship.OWN)
    channel_keys = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="catalog_price_list_name_per_tenant"),
            models.CheckConstraint(condition=~Q(name=""), name="catalog_price_list_name_not_blank"),
        ]
        indexes = tenant_indexes("cat_price_list")

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class DiscountApplies(models.TextChoices):
    ALWAYS = "always", "always"
    DATE_RANGE = "date_range", "between discount_from and discount_to"


class Price(BulkTenantRow):
    """One price of a product in a list, from ``min_quantity`` up (a quantity tier).

    Net and gross are both stored, as sources send them: recomputing one from the other and the
    VAT rate would drift by rounding from what the ERP printed on its invoices.
    """

    tenant = bulk_tenant_link(db_index=False)  # (tenant, modified_at) and (tenant, id) lead with it
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices",
                                db_index=False, db_constraint=False)
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="prices", db_constraint=False)
    min_quantity = amount_field(default=1)
    max_quantity = amount_field(null=True, blank=True)
    net = amount_field()
    gross = amount_field()
    vat_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0, help_text="percent")
    discounted_net = amount_field(null=True, blank=True)
    discounted_gross = amount_field(null=True, blank=True)
    discount_applies = models.CharField(max_length=10, choices=DiscountApplies.choices, default=DiscountApplies.ALWAYS)
    discount_from = models.DateTimeField(null=True, blank=True)
    discount_to = models.DateTimeField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "price_list", "min_quantity"],
                                    name="catalog_price_per_product_list_tier"),
            models.CheckConstraint(condition=Q(net__gte=0) & Q(gross__gte=0) & Q(vat_rate__gte=0),
                                   name="catalog_price_gte_0"),
            models.CheckConstraint(
                condition=(Q(discounted_net__isnull=True) | Q(discounted_net__gte=0))
                & (Q(discounted_gross__isnull=True) | Q(discounted_gross__gte=0)),
                name="catalog_price_discount_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(min_quantity__gte=0)
                & (Q(max_quantity__isnull=True) | Q(max_quantity__gte=F("min_quantity"))),
                name="catalog_price_quantity_range",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="catalog_price_valid_range",
            ),
        ]
        indexes = tenant_indexes("cat_price")

    def __str__(self) -> str:
        return f"{self.net}/{self.gross}"


class PriceRuleBase(models.TextChoices):
    NET = "net", "net"
    GROSS = "gross", "gross"


class Rounding(models.TextChoices):
    NONE = "none", "no rounding (4 places)"
    CENT = "cent", "to 0.01"
    FIVE_CENTS = "five_cents", "to 0.05"
    TEN_CENTS = "ten_cents", "to 0.10"
    UNIT = "unit", "to 1"
    NINETY_NINE = "ninety_nine", "up to .99"


class PriceRule(TenantOwnedModel):
    """Derive a list: ``target = multiplier x source + constant (+ shipping)``, then round.

    One rule per target list, so a list's prices have exactly one origin.
    """

    target = models.OneToOneField(PriceList, on_delete=models.CASCADE, related_name="rule")
    source = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="derived_rules")
    base = models.CharField(max_length=5, choices=PriceRuleBase.choices, default=PriceRuleBase.NET)
    multiplier = amount_field(default=1)
    constant = amount_field(default=0)
    shipping = amount_field(default=0)
    rounding = models.CharField(max_length=12, choices=Rounding.choices, default=Rounding.CENT)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(target=F("source")), name="catalog_price_rule_not_self"),
            models.CheckConstraint(condition=Q(multiplier__gte=0) & Q(shipping__gte=0),
                                   name="catalog_price_rule_factors_gte_0"),
        ]
        indexes = tenant_indexes("cat_price_rule")
