"""Typed payloads for catalog writes, and the ``check_*`` functions that turn them into clean values.

Payloads come from connectors, the API and tests. ``None`` always means "not given, leave as
is", so a source can send only the groups it owns (a quantity-only run sends just stock).
Within a given group:

- ``prices`` and ``stock`` are merged by key (price list + tier, warehouse): sources often send
  one list or one warehouse at a time, and entries not mentioned are left alone;
- ``categories``, ``attributes``, ``images`` and ``tags`` describe a set and replace it: that
  is the only way a source can remove one.

Amounts accept ``Decimal``, ``int``, ``float`` or numeric strings and are rounded half-up to the
4 stored places (beyond any currency's minor unit); non-numbers, NaN, infinities and values
over 14 integer digits are refused with ``INVALID_DECIMAL`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Model

from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.models import (
    AttributeKind,
    BarcodeType,
    Category,
    DimensionUnit,
    DiscountApplies,
    Product,
    ProductImage,
    WeightUnit,
)
from bindery.catalog.models.categories import PATH_SEPARATOR
from bindery.catalog.models.fields import DECIMAL_PLACES, MAX_DIGITS, is_currency

Amount = Decimal | int | float | str

QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
LIMIT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PriceData:
    """A price in a list (by name), from ``min_quantity`` up; give net or gross or both."""

    price_list: str
    net: Amount | None = None
    gross: Amount | None = None
    vat_rate: Amount = 0
    min_quantity: Amount = 1
    max_quantity: Amount | None = None
    discounted_net: Amount | None = None
    discounted_gross: Amount | None = None
    discount_applies: str = DiscountApplies.ALWAYS
    discount_from: dt.datetime | None = None
    discount_to: dt.datetime | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None


@dataclass(frozen=True)
class StockData:
    """Quantity in a warehouse (by key); may be negative (oversold)."""

    warehouse: str
    quantity: Amount


@dataclass(frozen=True)
class AttributeValueData:
    attribute: str
    value: str
    kind: str = AttributeKind.DESCRIPTIVE


@dataclass(frozen=True)
class ImageData:
    url: str
    thumbnail_url: str = ""
    position: int | None = None
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class ProductData:
    """A product to create or update by SKU; ``variants`` become its children.

    A top-level item keeps an existing product's parent (an ERP may send variants flat, e.g. for
    stock); categories are path keys (``"Clothes|Shirts"``) in the item's ``language``.
    """

    sku: str
    name: str | None = None
    language: str | None = None
    barcode: str | None = None
    barcode_type: str | None = None
    manufacturer: str | None = None
    mpn: str | None = None
    supplier: str | None = None
    supplier_code: str | None = None
    description_html: str | None = None
    short_description: str | None = None
    notes: str | None = None
    weight: Amount | None = None
    weight_unit: str | None = None
    length: Amount | None = None
    width: Amount | None = None
    height: Amount | None = None
    dimension_unit: str | None = None
    quantity_available: Amount | None = None
    quantity_arriving: Amount | None = None
    featured: bool | None = None
    deleted: bool | None = None
    origin_node_id: uuid.UUID | None = None
    tags: Sequence[str] | None = None
    prices: Sequence[PriceData] | None = None
    stock: Sequence[StockData] | None = None
    categories: Sequence[str] | None = None
    attributes: Sequence[AttributeValueData] | None = None
    images: Sequence[ImageData] | None = None
    variants: Sequence[ProductData] = ()


# Clean values, produced by the checks below and trusted by the write path.


@dataclass
class CleanPrice:
    price_list: str
    min_quantity: Decimal
    values: dict[str, Any]  # Price field name -> value, min_quantity excluded
    field: str


@dataclass
class CleanImage:
    url: str
    thumbnail_url: str
    position: int
    tags: list[str]


@dataclass
class CleanProduct:
    sku: str
    fields: dict[str, Any]  # only the scalar fields the payload gave
    prices: list[CleanPrice] | None
    stock: dict[str, tuple[Decimal, str]] | None  # warehouse key -> (quantity, field)
    categories: list[str] | None  # normalised path keys
    attributes: list[tuple[str, str, str]] | None  # (attribute, value, kind)
    images: list[CleanImage] | None
    variants: list[CleanProduct] = field(default_factory=list)
    prefix: str = ""

    def all_skus(self) -> list[str]:
        return [self.sku, *(v.sku for v in self.variants)]


_TEXT_FIELDS = ("name", "language", "barcode", "manufacturer", "mpn", "supplier", "supplier_code",
                "description_html", "short_description", "notes")
_CHOICE_FIELDS = {"barcode_type": BarcodeType, "weight_unit": WeightUnit, "dimension_unit": DimensionUnit}
_MEASURE_FIELDS = ("weight", "length", "width", "height", "quantity_arriving")
_BOOL_FIELDS = ("featured", "deleted")
_url_validator = URLValidator(schemes=["http", "https"])


# Both lookups below run for every field of every item of a bulk upsert; the answers never change.
@functools.cache
def _max_length(model: type[Model], name: str) -> int | None:
    max_length: int | None = getattr(model._meta.get_field(name), "max_length", None)
    return max_length


def check_text(value: Any, field: str, *, max_length: int | None, required: bool = False) -> str:
    if not isinstance(value, str):
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be text", field=field)
    if "\x00" in value:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must not contain NUL characters", field=field)
    if required and not value.strip():
        raise CatalogError(CatalogErrorCode.REQUIRED, "must not be blank", field=field)
    if max_length is not None and len(value) > max_length:
        raise CatalogError(CatalogErrorCode.TOO_LONG, f"at most {max_length} characters (got {len(value)})",
                           field=field)
    return value


def check_amount(value: Any, field: str, *, negative_ok: bool) -> Decimal:
    """Return ``value`` as a Decimal with 4 places, or raise a coded error naming ``field``."""
    kind = type(value)
    # Exact types first: this runs several times per item of a bulk upsert.
    if kind is Decimal:
        number = value
    elif kind is int:
        number = Decimal(value)
    else:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
            raise CatalogError(CatalogErrorCode.INVALID_DECIMAL, "must be a number", field=field)
        try:
            number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise CatalogError(CatalogErrorCode.INVALID_DECIMAL, f"{str(value)[:40]!r} is not a number",
                               field=field) from None
    if not number.is_finite():
        raise CatalogError(CatalogErrorCode.INVALID_DECIMAL, "must be a finite number", field=field)
    if abs(number) >= LIMIT:
        raise CatalogError(CatalogErrorCode.INVALID_DECIMAL, f"must be less than {LIMIT:,} in absolute value",
                           field=field)
    number = number.quantize(QUANTUM, rounding=ROUND_HALF_UP)
    if number < 0 and not negative_ok:
        raise CatalogError(CatalogErrorCode.NEGATIVE_VALUE, "must not be negative", field=field)
    return number


@functools.cache
def _choice_values(choices: Any) -> frozenset[Any]:
    return frozenset(choices.values)


def check_choice(value: Any, field: str, choices: Any) -> str:
    try:
        known = value in _choice_values(choices)
    except TypeError:  # unhashable input (a list or an object from JSON) is simply not a choice
        known = False
    if not known:
        allowed = ", ".join(repr(v) for v in choices.values)
        raise CatalogError(CatalogErrorCode.INVALID_CHOICE, f"must be one of {allowed}", field=field)
    return str(value)


def check_datetime(value: Any, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a timezone-aware datetime", field=field)
    return value.astimezone(dt.UTC)


def check_currency(code: Any, field: str = "currency") -> str:
    if not isinstance(code, str) or not is_currency(code):
        raise CatalogError(CatalogErrorCode.UNKNOWN_CURRENCY, f"{str(code)[:10]!r} is not an ISO 4217 currency code",
                           field=field)
    return code


def check_tags(tags: Any, field: str) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a list of texts", field=field)
    clean: list[str] = []
    for i, tag in enumerate(tags):
        text = check_text(tag, f"{field}[{i}]", max_length=100, required=True)
        if text not in clean:
            clean.append(text)
    return clean


def check_path_key(path_key: Any, field: str) -> str:
    """Normalise ``" A | B "`` to ``"A|B"``; every name must be non-blank and fit the name column."""
    text = check_text(path_key, field, max_length=_max_length(Category, "path_key"), required=True)
    names = [name.strip() for name in text.split(PATH_SEPARATOR)]
    name_max = _max_length(Category, "name") or 0
    for name in names:
        if not name:
            raise CatalogError(CatalogErrorCode.INVALID_VALUE, "a category path has a blank name", field=field)
        if len(name) > name_max:
            raise CatalogError(CatalogErrorCode.TOO_LONG, f"a category name is over {name_max} characters",
                               field=field)
    return PATH_SEPARATOR.join(names)


def _net_gross(net: Decimal | None, gross: Decimal | None, vat_rate: Decimal) -> tuple[Decimal, Decimal]:
    factor = 1 + vat_rate / HUNDRED
    if net is None:
        assert gross is not None
        net = (gross / factor).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    if gross is None:
        gross = (net * factor).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    return net, gross


def check_price(price: PriceData, field: str) -> CleanPrice:
    name = check_text(price.price_list, f"{field}.price_list", max_length=100, required=True)
    vat_rate = check_amount(price.vat_rate, f"{field}.vat_rate", negative_ok=False)
    if vat_rate > HUNDRED:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "a VAT rate is a percentage up to 100",
                           field=f"{field}.vat_rate")
    if price.net is None and price.gross is None:
        raise CatalogError(CatalogErrorCode.REQUIRED, "give net or gross", field=f"{field}.net")
    amounts: dict[str, Decimal | None] = {}
    for key in ("net", "gross", "discounted_net", "discounted_gross", "max_quantity"):
        given = getattr(price, key)
        amounts[key] = None if given is None else check_amount(given, f"{field}.{key}", negative_ok=False)
    net, gross = _net_gross(amounts["net"], amounts["gross"], vat_rate)
    discounted_net = discounted_gross = None
    if amounts["discounted_net"] is not None or amounts["discounted_gross"] is not None:
        discounted_net, discounted_gross = _net_gross(amounts["discounted_net"], amounts["discounted_gross"], vat_rate)
    min_quantity = check_amount(price.min_quantity, f"{field}.min_quantity", negative_ok=False)
    max_quantity = amounts["max_quantity"]
    if max_quantity is not None and max_quantity < min_quantity:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must not be below min_quantity",
                           field=f"{field}.max_quantity")
    applies = check_choice(price.discount_applies, f"{field}.discount_applies", DiscountApplies)
    discount_from = None if price.discount_from is None else check_datetime(price.discount_from,
                                                                             f"{field}.discount_from")
    discount_to = None if price.discount_to is None else check_datetime(price.discount_to, f"{field}.discount_to")
    if applies == DiscountApplies.DATE_RANGE and discount_from is None and discount_to is None:
        raise CatalogError(CatalogErrorCode.REQUIRED, "a date-range discount needs discount_from or discount_to",
                           field=f"{field}.discount_from")
    valid_from = None if price.valid_from is None else check_datetime(price.valid_from, f"{field}.valid_from")
    valid_to = None if price.valid_to is None else check_datetime(price.valid_to, f"{field}.valid_to")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be after valid_from", field=f"{field}.valid_to")
    values = {"net": net, "gross": gross, "vat_rate": vat_rate, "max_quantity": max_quantity,
              "discounted_net": discounted_net, "discounted_gross": discounted_gross, "discount_applies": applies,
              "discount_from": discount_from, "discount_to": discount_to, "valid_from": valid_from,
              "valid_to": valid_to}
    return CleanPrice(price_list=name, min_quantity=min_quantity, values=values, field=field)


def check_image(image: ImageData, index: int, field: str) -> CleanImage:
    url_max = _max_length(ProductImage, "url")
    urls = []
    for key in ("url", "thumbnail_url"):
        value = check_text(getattr(image, key), f"{field}.{key}", max_length=url_max, required=key == "url")
        if value:
            try:
                _url_validator(value)
            except ValidationError:
                raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be an http(s) URL",
                                   field=f"{field}.{key}") from None
        urls.append(value)
    position = index if image.position is None else image.position
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 2**31:
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a whole number from 0", field=f"{field}.position")
    tags = check_tags(image.tags, f"{field}.tags")
    return CleanImage(url=urls[0], thumbnail_url=urls[1], position=position, tags=tags)


def _check_fields(data: ProductData, prefix: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(data, name)
        if value is not None:
            fields[name] = check_text(value, prefix + name, max_length=_max_length(Product, name))
    for name, choices in _CHOICE_FIELDS.items():
        value = getattr(data, name)
        if value is not None:
            fields[name] = check_choice(value, prefix + name, choices)
    for name in _MEASURE_FIELDS:
        value = getattr(data, name)
        if value is not None:
            fields[name] = check_amount(value, prefix + name, negative_ok=False)
    if data.quantity_available is not None:
        # Negative availability is an oversell the ERP reports; see Product's docstring.
        fields["quantity_available"] = check_amount(data.quantity_available, prefix + "quantity_available",
                                                    negative_ok=True)
    for name in _BOOL_FIELDS:
        value = getattr(data, name)
        if value is not None:
            if not isinstance(value, bool):
                raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be true or false", field=prefix + name)
            fields[name] = value
    if data.origin_node_id is not None:
        if not isinstance(data.origin_node_id, uuid.UUID):
            raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a UUID", field=prefix + "origin_node_id")
        fields["origin_node_id"] = data.origin_node_id
    if data.tags is not None:
        fields["tags"] = check_tags(data.tags, prefix + "tags")
    return fields


def _check_list(value: Any, field: str, kind: type | None = None) -> Sequence[Any]:
    """A group must be a list (a text is not a list of its characters) of ``kind`` payloads."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a list", field=field)
    if kind is not None:
        for i, element in enumerate(value):
            if not isinstance(element, kind):
                raise CatalogError(CatalogErrorCode.INVALID_VALUE, f"must be a {kind.__name__}",
                                   field=f"{field}[{i}]")
    return value


def _check_groups(data: ProductData, prefix: str, clean: CleanProduct) -> None:
    if data.prices is not None:
        clean.prices = []
        seen_prices: set[tuple[str, Decimal]] = set()
        for i, price in enumerate(_check_list(data.prices, prefix + "prices", PriceData)):
            cp = check_price(price, f"{prefix}prices[{i}]")
            if (cp.price_list, cp.min_quantity) in seen_prices:
                raise CatalogError(CatalogErrorCode.DUPLICATE_KEY, "this price list and min_quantity appear twice",
                                   field=f"{prefix}prices[{i}]")
            seen_prices.add((cp.price_list, cp.min_quantity))
            clean.prices.append(cp)
    if data.stock is not None:
        clean.stock = {}
        for i, stock in enumerate(_check_list(data.stock, prefix + "stock", StockData)):
            key = check_text(stock.warehouse, f"{prefix}stock[{i}].warehouse", max_length=100, required=True)
            if key in clean.stock:
                raise CatalogError(CatalogErrorCode.DUPLICATE_KEY, "this warehouse appears twice",
                                   field=f"{prefix}stock[{i}].warehouse")
            quantity = check_amount(stock.quantity, f"{prefix}stock[{i}].quantity", negative_ok=True)
            clean.stock[key] = (quantity, f"{prefix}stock[{i}]")
    if data.categories is not None:
        clean.categories = []
        for i, path_key in enumerate(_check_list(data.categories, prefix + "categories")):
            key = check_path_key(path_key, f"{prefix}categories[{i}]")
            if key not in clean.categories:
                clean.categories.append(key)
    if data.attributes is not None:
        clean.attributes = []
        seen_values: set[tuple[str, str]] = set()
        for i, attr in enumerate(_check_list(data.attributes, prefix + "attributes", AttributeValueData)):
            here = f"{prefix}attributes[{i}]"
            triple = (check_text(attr.attribute, f"{here}.attribute", max_length=255, required=True).strip(),
                      check_text(attr.value, f"{here}.value", max_length=255, required=True),
                      check_choice(attr.kind, f"{here}.kind", AttributeKind))
            if triple[:2] in seen_values:
                raise CatalogError(CatalogErrorCode.DUPLICATE_KEY, "this attribute value appears twice", field=here)
            seen_values.add(triple[:2])
            clean.attributes.append(triple)
    if data.images is not None:
        clean.images = _check_images(data.images, prefix)


def _check_images(images: Any, prefix: str) -> list[CleanImage]:
    clean: list[CleanImage] = []
    for i, image in enumerate(_check_list(images, prefix + "images", ImageData)):
        ci = check_image(image, i, f"{prefix}images[{i}]")
        if any(c.url == ci.url for c in clean):
            raise CatalogError(CatalogErrorCode.DUPLICATE_KEY, "this image URL appears twice",
                               field=f"{prefix}images[{i}].url")
        clean.append(ci)
    return clean


def check_product(data: ProductData, *, prefix: str = "", is_variant: bool = False) -> CleanProduct:
    """Validate a payload (variants included) and return clean values; raise a coded error naming the field.

    Field names are paths into the payload, e.g. ``variants[2].prices[0].net``.
    """
    if not isinstance(data, ProductData):
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must be a ProductData", field=prefix.rstrip(".") or None)
    sku = check_text(data.sku, prefix + "sku", max_length=_max_length(Product, "sku"), required=True)
    if sku != sku.strip():
        raise CatalogError(CatalogErrorCode.INVALID_VALUE, "must not start or end with spaces", field=prefix + "sku")
    clean = CleanProduct(sku=sku, fields=_check_fields(data, prefix), prices=None, stock=None, categories=None,
                         attributes=None, images=None, prefix=prefix)
    _check_groups(data, prefix, clean)
    if data.variants:
        if is_variant:
            raise CatalogError(CatalogErrorCode.NESTED_VARIANT, "a variant cannot have variants of its own",
                               field=prefix + "variants")
        seen = {sku}
        for i, variant in enumerate(_check_list(data.variants, prefix + "variants")):
            cv = check_product(variant, prefix=f"{prefix}variants[{i}].", is_variant=True)
            if cv.sku in seen:
                raise CatalogError(CatalogErrorCode.DUPLICATE_SKU, f"SKU {cv.sku!r} appears twice in this item",
                                   field=f"{prefix}variants[{i}].sku")
            seen.add(cv.sku)
            clean.variants.append(cv)
    return clean


# The batch check: the same answers as ``check_product``, a fraction of the Python per item.
#
# ``check_product`` is exact but general: every value goes through a helper that builds its field
# name first, accepts several types, and the helpers nest five calls deep. For a bulk upsert of
# thousands of well-formed items that is most of the Python time (decision 0009). ``check_products``
# first tries ``_fast_product`` on each item: one flat pass over the common shapes (exact types,
# no dates) that builds the same ``CleanProduct`` and vouches only for
# items it fully understands. Anything else -- a wrong type, a value out of range, a float or string
# amount, a date, a duplicate, an unexpected exception -- makes it give up, and the item goes
# through ``check_product``, which accepts it or produces the exact error naming the field. So the
# fast path can only be as permissive as ``check_product``, never more (tests/catalog/
# test_batch_check.py compares both on generated and hostile payloads).


@functools.cache
def _limits() -> dict[str, Any]:
    return {
        "sku": _max_length(Product, "sku"),
        "text": tuple((name, _max_length(Product, name)) for name in _TEXT_FIELDS),
        "choice": tuple((name, {v: str(v) for v in choices.values}) for name, choices in _CHOICE_FIELDS.items()),
        "path_key": _max_length(Category, "path_key"),
        "category_name": _max_length(Category, "name") or 0,
        "applies": {v: str(v) for v in DiscountApplies.values},
        "kind": {v: str(v) for v in AttributeKind.values},
    }


def _fast_amount(value: Any) -> Decimal | None:
    """``check_amount`` for values of exact types; None means "let the exact check decide"."""
    kind = type(value)
    if kind is Decimal:
        number = value
    elif kind is int:
        number = Decimal(value)
    elif kind is str or kind is float:
        number = Decimal(str(value).strip())  # InvalidOperation: the exact check names the field
    else:
        return None
    if not number.is_finite() or abs(number) >= LIMIT:
        return None
    quantized: Decimal = number.quantize(QUANTUM, rounding=ROUND_HALF_UP)
    return quantized


def _fast_text(value: Any, max_length: int | None) -> bool:
    return type(value) is str and "\x00" not in value and (max_length is None or len(value) <= max_length)


def _fast_key(value: Any, max_length: int) -> bool:
    """A required text (warehouse key, price list, attribute): non-blank, no NUL, short enough."""
    return type(value) is str and "\x00" not in value and len(value) <= max_length and bool(value.strip())


def _fast_prices(prices: Any, prefix: str) -> list[CleanPrice] | None:
    if type(prices) is not list and type(prices) is not tuple:
        return None
    applies_map = _limits()["applies"]
    clean: list[CleanPrice] = []
    seen: set[tuple[str, Decimal]] = set()
    for i, price in enumerate(prices):
        if type(price) is not PriceData:
            return None
        name = price.price_list
        if not _fast_key(name, 100):
            return None
        if (price.discount_from is not None or price.discount_to is not None or price.valid_from is not None
                or price.valid_to is not None):
            return None  # dates are rare in bulk: the exact check handles them
        vat_rate = _fast_amount(price.vat_rate)
        if vat_rate is None or vat_rate < 0 or vat_rate > HUNDRED:
            return None
        amounts: list[Decimal | None] = []
        for given in (price.net, price.gross, price.discounted_net, price.discounted_gross, price.max_quantity):
            if given is None:
                amounts.append(None)
                continue
            amount = _fast_amount(given)
            if amount is None or amount < 0:
                return None
            amounts.append(amount)
        net, gross, discounted_net, discounted_gross, max_quantity = amounts
        if net is None and gross is None:
            return None
        min_quantity = _fast_amount(price.min_quantity)
        if min_quantity is None or min_quantity < 0 or (max_quantity is not None and max_quantity < min_quantity):
            return None
        applies = applies_map.get(price.discount_applies)
        if applies is None or applies == DiscountApplies.DATE_RANGE:
            return None
        if (name, min_quantity) in seen:
            return None
        seen.add((name, min_quantity))
        net, gross = _net_gross(net, gross, vat_rate)
        if discounted_net is not None or discounted_gross is not None:
            discounted_net, discounted_gross = _net_gross(discounted_net, discounted_gross, vat_rate)
        clean.append(CleanPrice(price_list=name, min_quantity=min_quantity, field=f"{prefix}prices[{i}]", values={
            "net": net, "gross": gross, "vat_rate": vat_rate, "max_quantity": max_quantity,
            "discounted_net": discounted_net, "discounted_gross": discounted_gross, "discount_applies": applies,
            "discount_from": None, "discount_to": None, "valid_from": None, "valid_to": None}))
    return clean


def _fast_groups(data: ProductData, prefix: str, clean: CleanProduct) -> bool:
    """Fill the groups of ``clean`` as ``_check_groups`` would; False means "not vouched for"."""
    limits = _limits()
    if data.prices is not None:
        prices = _fast_prices(data.prices, prefix)
        if prices is None:
            return False
        clean.prices = prices
    stock = data.stock
    if stock is not None:
        if type(stock) is not list and type(stock) is not tuple:
            return False
        clean.stock = {}
        for i, level in enumerate(stock):
            if type(level) is not StockData or not _fast_key(level.warehouse, 100) or level.warehouse in clean.stock:
                return False
            quantity = _fast_amount(level.quantity)
            if quantity is None:
                return False
            clean.stock[level.warehouse] = (quantity, f"{prefix}stock[{i}]")
    categories = data.categories
    if categories is not None:
        if type(categories) is not list and type(categories) is not tuple:
            return False
        path_max, name_max = limits["path_key"], limits["category_name"]
        clean.categories = []
        for path_key in categories:
            if not _fast_key(path_key, path_max):
                return False
            names = [name.strip() for name in path_key.split(PATH_SEPARATOR)]
            for name in names:
                if not name or len(name) > name_max:
                    return False
            key = PATH_SEPARATOR.join(names)
            if key not in clean.categories:
                clean.categories.append(key)
    attributes = data.attributes
    if attributes is not None:
        if type(attributes) is not list and type(attributes) is not tuple:
            return False
        kinds = limits["kind"]
        clean.attributes = []
        seen: set[tuple[str, str]] = set()
        for attr in attributes:
            if type(attr) is not AttributeValueData or not _fast_key(attr.attribute, 255) or not _fast_key(
                    attr.value, 255):
                return False
            kind = kinds.get(attr.kind)
            pair = (attr.attribute.strip(), attr.value)
            if kind is None or pair in seen:
                return False
            seen.add(pair)
            clean.attributes.append((pair[0], pair[1], kind))
    if data.images is not None:
        clean.images = _check_images(data.images, prefix)  # raises CatalogError: the exact check decides
    return True


def _fast_product(data: ProductData, prefix: str, is_variant: bool) -> CleanProduct | None:
    limits = _limits()
    sku = data.sku
    if type(sku) is not str or not sku or "\x00" in sku or len(sku) > limits["sku"] or sku != sku.strip():
        return None
    fields: dict[str, Any] = {}
    for name, max_length in limits["text"]:
        value = getattr(data, name)
        if value is not None:
            if not _fast_text(value, max_length):
                return None
            fields[name] = value
    for name, allowed in limits["choice"]:
        value = getattr(data, name)
        if value is not None:
            choice = allowed.get(value)
            if choice is None:
                return None
            fields[name] = choice
    for name in _MEASURE_FIELDS:
        value = getattr(data, name)
        if value is not None:
            amount = _fast_amount(value)
            if amount is None or amount < 0:
                return None
            fields[name] = amount
    if data.quantity_available is not None:
        amount = _fast_amount(data.quantity_available)
        if amount is None:
            return None
        fields["quantity_available"] = amount
    for name in _BOOL_FIELDS:
        value = getattr(data, name)
        if value is not None:
            if type(value) is not bool:
                return None
            fields[name] = value
    if data.origin_node_id is not None:
        if type(data.origin_node_id) is not uuid.UUID:
            return None
        fields["origin_node_id"] = data.origin_node_id
    if data.tags is not None:
        fields["tags"] = check_tags(data.tags, prefix + "tags")  # raises CatalogError: the exact check decides
    clean = CleanProduct(sku=sku, fields=fields, prices=None, stock=None, categories=None, attributes=None,
                         images=None, prefix=prefix)
    if not _fast_groups(data, prefix, clean):
        return None
    variants = data.variants
    if variants:
        if is_variant or (type(variants) is not list and type(variants) is not tuple):
            return None
        seen = {sku}
        for i, variant in enumerate(variants):
            if type(variant) is not ProductData:
                return None
            cv = _fast_product(variant, f"{prefix}variants[{i}].", True)
            if cv is None or cv.sku in seen:
                return None
            seen.add(cv.sku)
            clean.variants.append(cv)
    return clean


# What the fast path may run into on a hostile item before giving up: all of them send the item to
# the exact check, which turns them into a coded error naming the field.
_GIVE_UP = (CatalogError, TypeError, ValueError, ArithmeticError, AttributeError, RecursionError)


def check_products(items: Sequence[Any]) -> list[CleanProduct | CatalogError]:
    """``check_product`` for a whole batch: per item, the clean values or the error it would raise."""
    results: list[CleanProduct | CatalogError] = []
    for data in items:
        clean: CleanProduct | CatalogError | None = None
        if type(data) is ProductData:
            try:
                clean = _fast_product(data, "", False)
            except _GIVE_UP:
                clean = None
        if clean is None:
            try:
                clean = check_product(data)
            except CatalogError as error:
                clean = error
        results.append(clean)
    return results
