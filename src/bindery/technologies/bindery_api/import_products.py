"""Import products wire format (WIRE.md section 3): ``bindCommerceProducts/Products/Product`` in.

Parsing goes through ``xmlsafe.parse_xml``. Konga quirks handled:
- the double-escaped fields (Code, Barcode, Title, DescriptionHtml, ShortDescription,
  Manufacturer, MPN, Supplier, dimension values) are HTML-unescaped once after the XML parse;
- a body that is not valid UTF-8 is re-read as Latin-1 (the older client stacks send that);
- an omitted element means "not sent" (``None`` in ``ProductData``), never "empty".
``Vat`` arrives as a fraction (0.22) and is stored as a percentage. ``Qty`` goes to
``quantity_available``. The configuration chooses the mode (create / create+update / update)
and which groups are considered; the rest are left as ``None`` so existing values stay.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.models import Product
from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData
from bindery.catalog.upsert import Outcome, UpsertResult
from bindery.control.models import LocalTenant
from bindery.technologies.bindery_api.xmlsafe import XmlInputError, XmlLimits, parse_xml

ROOT = "bindCommerceProducts"


class ImportMode(StrEnum):
    CREATE = "create"
    CREATE_UPDATE = "create_update"
    UPDATE = "update"


class Group(StrEnum):
    TITLES = "titles"
    DESCRIPTIONS = "descriptions"
    PRICES = "prices"
    STOCK = "stock"
    ATTRIBUTES = "attributes"
    CATEGORIES = "categories"
    IMAGES = "images"


@dataclass(frozen=True)
class ImportOptions:
    mode: ImportMode = ImportMode.CREATE_UPDATE
    groups: frozenset[Group] = field(default_factory=lambda: frozenset(Group))
    limits: XmlLimits = field(default_factory=XmlLimits)


@dataclass(frozen=True)
class ItemResult:
    index: int
    sku: str
    outcome: str
    message: str = ""
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "sku": self.sku, "outcome": self.outcome, "message": self.message,
                "field": self.field}


class ItemError(ValueError):
    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message)
        self.field = field_name


def _twice(element: ET.Element, path: str) -> str | None:
    """A double-escaped leaf: None when omitted, else the text HTML-unescaped once."""
    found = element.find(path)
    if found is None:
        return None
    return html.unescape(found.text or "")


def _once(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return None if found is None else (found.text or "")


def _decimal(text: str | None, field_name: str) -> Decimal | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ItemError(f"{field_name} is not a number: {text[:40]!r}", field_name) from None
    if not value.is_finite():
        raise ItemError(f"{field_name} is not a finite number", field_name)
    return value


def product_from_element(element: ET.Element, groups: frozenset[Group]) -> ProductData:
    sku = (_twice(element, "Code") or "").strip()
    if not sku:
        raise ItemError("Code is required", "Code")
    values: dict[str, Any] = {"sku": sku, "language": (_once(element, "Language") or "").strip().lower() or None}
    values["barcode"] = _twice(element, "Barcode")
    values["manufacturer"] = _twice(element, "Manufacturer")
    values["mpn"] = _twice(element, "MPN")
    values["supplier"] = _twice(element, "Supplier")
    if Group.TITLES in groups:
        values["name"] = _twice(element, "Title")
    if Group.DESCRIPTIONS in groups:
        values["description_html"] = _twice(element, "DescriptionHtml")
        values["short_description"] = _twice(element, "ShortDescription")
    dimensions = element.find("Dimensions")
    if dimensions is not None:
        for tag, name in (("Weight", "weight"), ("Length", "length"), ("Width", "width"), ("Height", "height")):
            values[name] = _decimal(_twice(dimensions, tag), f"Dimensions/{tag}")
    if Group.STOCK in groups:
        values["quantity_available"] = _decimal(_once(element, "Qty"), "Qty")
    if Group.PRICES in groups and element.find("Prices") is not None:
        prices = []
        for price in element.findall("Prices/Price"):
            vat = _decimal(_once(price, "Vat"), "Prices/Price/Vat") or Decimal(0)
            prices.append(PriceData(
                price_list=(_once(price, "ListCode") or "").strip(),
                net=_decimal(_once(price, "NetPrice"), "Prices/Price/NetPrice"),
                gross=_decimal(_once(price, "GrossPrice"), "Prices/Price/GrossPrice"),
                vat_rate=vat * 100 if vat < 1 else vat,
            ))
        values["prices"] = prices
    if Group.CATEGORIES in groups and element.find("Categories") is not None:
        values["categories"] = [(c.text or "").strip() for c in element.findall("Categories/Category")
                                if (c.text or "").strip()]
    if Group.ATTRIBUTES in groups and element.find("Attributes") is not None:
        values["attributes"] = [AttributeValueData(attribute=(_once(a, "Name") or "").strip(),
                                                   value=(_once(a, "Value") or "").strip())
                                for a in element.findall("Attributes/Attribute")]
    if Group.IMAGES in groups and element.find("Pictures") is not None:
        values["images"] = [ImageData(url=(_once(p, "URL") or "").strip(), position=position)
                            for position, p in enumerate(element.findall("Pictures/Picture"))]
    return ProductData(**values)


def parse_products(body: bytes, options: ImportOptions) -> list[ProductData | ItemError]:
    """Parse the body; whole-body problems raise ``XmlInputError``, item problems are returned."""
    try:
        body.decode("utf-8")
        encoding = None
    except UnicodeDecodeError:
        encoding = "iso-8859-1"  # pre-urllib3-2 clients post Latin-1 (WIRE.md section 3)
    root = parse_xml(body, root=ROOT, limits=options.limits, encoding=encoding)
    products = root.find("Products")
    if products is None:
        raise XmlInputError("missing <Products> under <bindCommerceProducts>")
    items: list[ProductData | ItemError] = []
    for element in products.findall("Product"):
        try:
            items.append(product_from_element(element, options.groups))
        except ItemError as error:
            items.append(error)
    return items


def import_products(tenant: LocalTenant, body: bytes, options: ImportOptions, *, actor: Any
                    ) -> tuple[int, dict[str, Any]]:
    """Parse and store; return (HTTP status, JSON answer with one result per Product)."""
    try:
        parsed = parse_products(body, options)
    except XmlInputError as error:
        return 400, {"status": "error", "message": str(error), "code": 400, "results": []}
    skus = [item.sku for item in parsed if isinstance(item, ProductData)]
    existing = set(Product.objects.for_tenant(tenant).filter(sku__in=skus).values_list("sku", flat=True))
    results: dict[int, ItemResult] = {}
    to_store: list[tuple[int, ProductData]] = []
    for index, item in enumerate(parsed):
        if isinstance(item, ItemError):
            results[index] = ItemResult(index, "", "error", str(item), item.field)
        elif options.mode is ImportMode.CREATE and item.sku in existing:
            results[index] = ItemResult(index, item.sku, "skipped", "exists; mode is create")
        elif options.mode is ImportMode.UPDATE and item.sku not in existing:
            results[index] = ItemResult(index, item.sku, "skipped", "unknown SKU; mode is update")
        else:
            to_store.append((index, replace(item)))
    stored: list[UpsertResult] = do_bulk_upsert_products(tenant, [item for _, item in to_store], actor=actor)
    for (index, _), result in zip(to_store, stored, strict=True):
        results[index] = ItemResult(index, result.sku, str(result.outcome), result.message, result.field)
    ordered = [results[index] for index in sorted(results)]
    failed = sum(result.outcome == Outcome.ERROR for result in ordered)
    return (200 if failed == 0 else 207), {
        "status": "success" if failed == 0 else "error",
        "message": f"{len(ordered) - failed} of {len(ordered)} products processed",
        "code": 200 if failed == 0 else 207,
        "results": [result.as_dict() for result in ordered],
    }


def groups_from_names(names: Iterable[str]) -> frozenset[Group]:
    return frozenset(Group(name) for name in names)
