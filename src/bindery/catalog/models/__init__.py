"""Catalog models: products and variants, categories, attributes, prices, stock and their change logs.

Split by concern; import from here (``from bindery.catalog.models import Product``).
"""

from bindery.catalog.models.categories import (
    Attribute,
    AttributeKind,
    AttributeValue,
    Category,
    ProductAttributeValue,
    ProductCategory,
)
from bindery.catalog.models.logs import PriceChangeLog, StockChangeLog
from bindery.catalog.models.prices import (
    DiscountApplies,
    Price,
    PriceList,
    PriceListRelationship,
    PriceRule,
    PriceRuleBase,
    Rounding,
)
from bindery.catalog.models.products import (
    BarcodeType,
    DimensionUnit,
    Product,
    ProductAlternative,
    ProductImage,
    WeightUnit,
)
from bindery.catalog.models.stock import (
    QuantityRule,
    QuantityRuleMode,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseKind,
)

__all__ = [
    "Attribute",
    "AttributeKind",
    "AttributeValue",
    "BarcodeType",
    "Category",
    "DimensionUnit",
    "DiscountApplies",
    "Price",
    "PriceChangeLog",
    "PriceList",
    "PriceListRelationship",
    "PriceRule",
    "PriceRuleBase",
    "Product",
    "ProductAlternative",
    "ProductAttributeValue",
    "ProductCategory",
    "ProductImage",
    "QuantityRule",
    "QuantityRuleMode",
    "Rounding",
    "StockChangeLog",
    "StockLevel",
    "StockMovement",
    "Warehouse",
    "WarehouseKind",
    "WeightUnit",
]
