"""Catalog request and response schemas.

Inputs forbid unknown fields (a typo is a 422 naming the field instead of being ignored) and
limit text to the model columns. Amounts are accepted as JSON numbers or strings and answered
as strings with the 4 stored decimals, so no value goes through a binary float on the way out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from ninja import Schema
from pydantic import ConfigDict, Field

from bindery.catalog.models import AttributeKind, DiscountApplies, PriceListRelationship, WarehouseKind
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData

MAX_BULK_ITEMS = 5000

Amount = Annotated[Decimal, Field(allow_inf_nan=False, description="a decimal number, as a JSON number or string")]
Sku = Annotated[str, Field(min_length=1, max_length=100)]
Tag = Annotated[str, Field(max_length=100)]
PathKey = Annotated[str, Field(min_length=1, max_length=1000, description='names from the root joined by "|"')]
Text = str  # TextField columns: bounded by the request size limit only


def amount_out(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- inputs -------------------------------------------------------------------------------


class PriceIn(InputSchema):
    price_list: Annotated[str, Field(min_length=1, max_length=100)]
    net: Amount | None = None
    gross: Amount | None = None
    vat_rate: Amount = Decimal(0)
    min_quantity: Amount = Decimal(1)
    max_quantity: Amount | None = None
    discounted_net: Amount | None = None
    discounted_gross: Amount | None = None
    discount_applies: DiscountApplies = DiscountApplies.ALWAYS
    discount_from: dt.datetime | None = None
    discount_to: dt.datetime | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None

    def to_data(self) -> PriceData:
        return PriceData(**self.model_dump())


class StockIn(InputSchema):
    warehouse: Annotated[str, Field(min_length=1, max_length=100)]
    quantity: Amount = Field(description="may be negative (oversold)")

    def to_data(self) -> StockData:
        return StockData(warehouse=self.warehouse, quantity=self.quantity)


class AttributeIn(InputSchema):
    attribute: Annotated[str, Field(min_length=1, max_length=255)]
    value: Annotated[str, Field(min_length=1, max_length=255)]
    kind: AttributeKind = AttributeKind.DESCRIPTIVE


class ImageIn(InputSchema):
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    thumbnail_url: Annotated[str, Field(max_length=2000)] = ""
    position: Annotated[int, Field(ge=0, lt=2**31)] | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] = []


class ProductFieldsIn(InputSchema):
    """Every field is optional except the SKU: absent means "leave as is"."""

    name: Annotated[str, Field(max_length=255)] | None = None
    language: Annotated[str, Field(max_length=10)] | None = None
    barcode: Annotated[str, Field(max_length=64)] | None = None
    barcode_type: Annotated[str, Field(max_length=10)] | None = None
    manufacturer: Annotated[str, Field(max_length=255)] | None = None
    mpn: Annotated[str, Field(max_length=100)] | None = None
    supplier: Annotated[str, Field(max_length=255)] | None = None
    supplier_code: Annotated[str, Field(max_length=100)] | None = None
    description_html: Text | None = None
    short_description: Text | None = None
    notes: Text | None = None
    weight: Amount | None = None
    weight_unit: Annotated[str, Field(max_length=2)] | None = None
    length: Amount | None = None
    width: Amount | None = None
    height: Amount | None = None
    dimension_unit: Annotated[str, Field(max_length=2)] | None = None
    quantity_available: Amount | None = None
    quantity_arriving: Amount | None = None
    featured: bool | None = None
    deleted: bool | None = Field(None, description="false restores a deleted product")
    origin_node_id: uuid.UUID | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    prices: Annotated[list[PriceIn], Field(max_length=1000)] | None = None
    stock: Annotated[list[StockIn], Field(max_length=1000)] | None = None
    categories: Annotated[list[PathKey], Field(max_length=100)] | None = None
    attributes: Annotated[list[AttributeIn], Field(max_length=200)] | None = None
    images: Annotated[list[ImageIn], Field(max_length=100)] | None = None

    def to_data(self, sku: str, variants: list[ProductData] | None = None) -> ProductData:
        scalars = self.model_dump(exclude={"sku", "variants", "prices", "stock", "attributes", "images"})
        return ProductData(
            sku=sku, **scalars,
            prices=None if self.prices is None else [p.to_data() for p in self.prices],
            stock=None if self.stock is None else [s.to_data() for s in self.stock],
            attributes=None if self.attributes is None else [AttributeValueData(**a.model_dump())
                                                             for a in self.attributes],
            images=None if self.images is None else [ImageData(**i.model_dump()) for i in self.images],
            variants=variants or (),
        )


class VariantIn(ProductFieldsIn):
    sku: Sku


class ProductIn(ProductFieldsIn):
    """A product to create or update by SKU; ``variants`` are created or updated as its children."""

    sku: Sku
    variants: Annotated[list[VariantIn], Field(max_length=1000)] = []

    def product_data(self) -> ProductData:
        return self.to_data(self.sku, [v.to_data(v.sku) for v in self.variants])


class ProductUpdateIn(ProductFieldsIn):
    """An update of the product named in the path; ``sku``, if given, must be its SKU."""

    sku: Sku | None = None
    variants: Annotated[list[VariantIn], Field(max_length=1000)] = []


class ProductBulkIn(InputSchema):
    items: Annotated[list[ProductIn], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class StockItemIn(InputSchema):
    sku: Sku
    warehouse: Annotated[str, Field(min_length=1, max_length=100)]
    quantity: Amount = Field(description="may be negative (oversold)")


class StockBulkIn(InputSchema):
    items: Annotated[list[StockItemIn], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class PriceItemIn(PriceIn):
    sku: Sku


class PriceBulkIn(InputSchema):
    items: Annotated[list[PriceItemIn], Field(min_length=1, max_length=MAX_BULK_ITEMS)]


class CategoryIn(InputSchema):
    path_key: PathKey
    language: Annotated[str, Field(max_length=10)] = ""
    description_html: Text = ""
    selection_tags: Annotated[list[Tag], Field(max_length=100)] = []


class WarehouseIn(InputSchema):
    key: Annotated[str, Field(min_length=1, max_length=100)]
    name: Annotated[str, Field(max_length=100)] = ""
    kind: WarehouseKind = WarehouseKind.OWN


class PriceListIn(InputSchema):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    currency: Annotated[str, Field(min_length=1, max_length=3, description="ISO 4217, upper case")]
    relationship: PriceListRelationship = PriceListRelationship.OWN
    channel_keys: Annotated[dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=255)]],
                            Field(max_length=100)] = {}


# --- outputs ------------------------------------------------------------------------------


class PriceOut(Schema):
    price_list: str
    currency: str
    min_quantity: str
    max_quantity: str | None
    net: str
    gross: str
    vat_rate: str
    discounted_net: str | None
    discounted_gross: str | None
    discount_applies: str
    discount_from: dt.datetime | None
    discount_to: dt.datetime | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    modified_at: dt.datetime


class StockOut(Schema):
    warehouse: str
    quantity: str
    modified_at: dt.datetime


class AttributeOut(Schema):
    attribute: str
    value: str
    kind: str


class ImageOut(Schema):
    url: str
    thumbnail_url: str
    position: int
    tags: list[str]


class ProductOut(Schema):
    id: uuid.UUID
    sku: str
    parent_id: uuid.UUID | None
    name: str
    language: str
    barcode: str
    barcode_type: str
    manufacturer: str
    mpn: str
    supplier: str
    supplier_code: str
    weight: str | None
    weight_unit: str
    length: str | None
    width: str | None
    height: str | None
    dimension_unit: str
    quantity_available: str
    quantity_arriving: str
    featured: bool
    deleted: bool
    origin_node_id: uuid.UUID | None
    tags: list[str]
    created_at: dt.datetime
    modified_at: dt.datetime


class VariantDetailOut(ProductOut):
    description_html: str
    short_description: str
    notes: str
    prices: list[PriceOut]
    stock: list[StockOut]
    categories: list[str]
    attributes: list[AttributeOut]
    images: list[ImageOut]


class ProductDetailOut(VariantDetailOut):
    variants: list[VariantDetailOut]


class ProductPageOut(Schema):
    items: list[ProductOut]
    next_cursor: str | None


class UpsertOut(Schema):
    outcome: str = Field(description="created, updated or unchanged")
    product: ProductDetailOut


class CatalogItemResultOut(Schema):
    index: int
    sku: str
    outcome: str = Field(description="created, updated, unchanged or error")
    product_id: uuid.UUID | None = None
    code: str | None = None
    message: str | None = None
    field: str | None = None


class CatalogBulkOut(Schema):
    counts: dict[str, int]
    results: list[CatalogItemResultOut]


class CategoryOut(Schema):
    id: uuid.UUID
    path_key: str
    name: str
    language: str
    parent_id: uuid.UUID | None
    description_html: str
    selection_tags: list[str]
    created_at: dt.datetime
    modified_at: dt.datetime


class CategoryPageOut(Schema):
    items: list[CategoryOut]
    next_cursor: str | None


class WarehouseOut(Schema):
    id: uuid.UUID
    key: str
    name: str
    kind: str
    created_at: dt.datetime
    modified_at: dt.datetime


class WarehousePageOut(Schema):
    items: list[WarehouseOut]
    next_cursor: str | None


class PriceListOut(Schema):
    id: uuid.UUID
    name: str
    currency: str
    relationship: str
    channel_keys: dict[str, str]
    created_at: dt.datetime
    modified_at: dt.datetime


class PriceListPageOut(Schema):
    items: list[PriceListOut]
    next_cursor: str | None
