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
import uuid
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


class NotSent(StrEnum):
    """What "delete data not transmitted" may remove."""

    PRODUCTS = "products"  # products of this node that the call did not send are marked deleted
    BARCODE = "barcode"  # a sent product without Barcode loses its barcode
    IMAGES = "images"  # a sent product without Pictures loses its images


@dataclass(frozen=True)
class ImportOptions:
    mode: ImportMode = ImportMode.CREATE_UPDATE
    groups: frozenset[Group] = field(default_factory=lambda: frozenset(Group))
    limits: XmlLimits = field(default_factory=XmlLimits)
    delete_not_sent: frozenset[NotSent] = frozenset()
    parent_quantity_sum: bool = True
    parent_price_min: bool = True
    origin_node_id: uuid.UUID | None = None  # the node the products come from (what "of this node" means)


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


@dataclass(frozen=True)
class _VariantOf:
    product: ProductData
    parent_sku: str


def parse_products(body: bytes, options: ImportOptions) -> list[ProductData | _VariantOf | ItemError]:
    """Parse the body; whole-body problems raise ``XmlInputError``, item problems are returned.

    Variants (Bindery's own ``ParentCode`` element; bindCommerce documents none) come back as
    their own items too; :func:`assemble_variants` nests them under their parents.
    """
    try:
        body.decode("utf-8")
        encoding = None
    except UnicodeDecodeError:
        encoding = "iso-8859-1"  # pre-urllib3-2 clients post Latin-1 (WIRE.md section 3)
    root = parse_xml(body, root=ROOT, limits=options.limits, encoding=encoding)
    products = root.find("Products")
    if products is None:
        raise XmlInputError("missing <Products> under <bindCommerceProducts>")
    items: list[ProductData | _VariantOf | ItemError] = []
    for element in products.findall("Product"):
        try:
            item = product_from_element(element, options.groups)
        except ItemError as error:
            items.append(error)
            continue
        parent = (_twice(element, "ParentCode") or "").strip()
        items.append(_VariantOf(item, parent) if parent else item)
    return items


def _not_sent(item: ProductData, options: ImportOptions) -> ProductData:
    changes: dict[str, Any] = {}
    if options.origin_node_id is not None:
        changes["origin_node_id"] = options.origin_node_id
    if NotSent.BARCODE in options.delete_not_sent and item.barcode is None:
        changes["barcode"] = ""
    if NotSent.IMAGES in options.delete_not_sent and Group.IMAGES in options.groups and item.images is None:
        changes["images"] = []
    return replace(item, **changes) if changes else item


def _min_prices(variants: list[ProductData]) -> list[PriceData] | None:
    """Per price list, the variant price with the lowest gross (else net) amount."""
    best: dict[str, PriceData] = {}
    for variant in variants:
        for price in variant.prices or ():
            amount = price.gross if price.gross is not None else price.net
            if amount is None:
                continue
            current = best.get(price.price_list)
            current_amount = None if current is None else (current.gross if current.gross is not None else current.net)
            if current_amount is None or Decimal(str(amount)) < Decimal(str(current_amount)):
                best[price.price_list] = price
    return [replace(p, min_quantity=1, max_quantity=None) for p in best.values()] or None


def assemble_variants(parsed: list[Any], options: ImportOptions) -> tuple[list[tuple[int, ProductData]],
                                                                           dict[int, ItemResult], dict[int, int]]:
    """Nest variants under the parent sent in the same call and derive the parent's stock and price.

    Returns the top-level items to store (with their index), the results already known (errors),
    and for each variant's index the index of its parent (variants share the parent's outcome).
    """
    results: dict[int, ItemResult] = {}
    tops: dict[str, int] = {}
    for index, item in enumerate(parsed):
        if isinstance(item, ProductData):
            if item.sku in tops:
                results[index] = ItemResult(index, item.sku, "error", "Code is sent twice in this call", "Code")
            else:
                tops[item.sku] = index
    variants: dict[int, list[tuple[int, ProductData]]] = {}
    variant_parent: dict[int, int] = {}
    for index, item in enumerate(parsed):
        if isinstance(item, ItemError):
            results[index] = ItemResult(index, "", "error", str(item), item.field)
        elif isinstance(item, _VariantOf):
            parent_index = tops.get(item.parent_sku)
            if parent_index is None or parent_index in results:
                results[index] = ItemResult(index, item.product.sku, "error",
                                            f"ParentCode {item.parent_sku!r} is not a product of this call",
                                            "ParentCode")
                continue
            variants.setdefault(parent_index, []).append((index, _not_sent(item.product, options)))
            variant_parent[index] = parent_index
    to_store: list[tuple[int, ProductData]] = []
    for index in tops.values():
        if index in results:
            continue
        item = _not_sent(parsed[index], options)
        children = [v for _, v in variants.get(index, [])]
        if children:
            changes: dict[str, Any] = {"variants": children}
            quantities = [v.quantity_available for v in children if v.quantity_available is not None]
            if options.parent_quantity_sum and Group.STOCK in options.groups and quantities:
                changes["quantity_available"] = sum((Decimal(str(q)) for q in quantities), Decimal(0))
            if options.parent_price_min and Group.PRICES in options.groups:
                lowest = _min_prices(children)
                if lowest is not None:
                    changes["prices"] = lowest
            item = replace(item, **changes)
        to_store.append((index, item))
    return to_store, results, variant_parent


def import_products(tenant: LocalTenant, body: bytes, options: ImportOptions, *, actor: Any
                    ) -> tuple[int, dict[str, Any]]:
    """Parse and store; return (HTTP status, JSON answer with one result per Product)."""
    try:
        parsed = parse_products(body, options)
    except XmlInputError as error:
        return 400, {"status": "error", "message": str(error), "code": 400, "results": []}
    candidates, results, variant_parent = assemble_variants(parsed, options)
    skus = [item.sku for _, item in candidates]
    existing = set(Product.objects.for_tenant(tenant).filter(sku__in=skus).values_list("sku", flat=True))
    to_store: list[tuple[int, ProductData]] = []
    for index, item in candidates:
        if options.mode is ImportMode.CREATE and item.sku in existing:
            results[index] = ItemResult(index, item.sku, "skipped", "exists; mode is create")
        elif options.mode is ImportMode.UPDATE and item.sku not in existing:
            results[index] = ItemResult(index, item.sku, "skipped", "unknown SKU; mode is update")
        else:
            to_store.append((index, item))
    stored: list[UpsertResult] = do_bulk_upsert_products(tenant, [item for _, item in to_store], actor=actor)
    for (index, _), result in zip(to_store, stored, strict=True):
        results[index] = ItemResult(index, result.sku, str(result.outcome), result.message, result.field)
    for index, parent_index in variant_parent.items():
        parent = results[parent_index]
        variant = parsed[index]
        assert isinstance(variant, _VariantOf)
        note = f"variant of {parent.sku}" + (f": {parent.message}" if parent.message else "")
        results[index] = ItemResult(index, variant.product.sku, parent.outcome, note, parent.field)
    deleted = 0
    if NotSent.PRODUCTS in options.delete_not_sent and options.origin_node_id is not None:
        deleted = delete_products_not_sent(tenant, options.origin_node_id, parsed, actor=actor)
    ordered = [results[index] for index in sorted(results)]
    failed = sum(result.outcome == Outcome.ERROR for result in ordered)
    message = f"{len(ordered) - failed} of {len(ordered)} products processed"
    if deleted:
        message += f"; {deleted} products not sent marked deleted"
    return (200 if failed == 0 else 207), {
        "status": "success" if failed == 0 else "error",
        "message": message,
        "code": 200 if failed == 0 else 207,
        "results": [result.as_dict() for result in ordered],
        "deleted": deleted,
    }


def delete_products_not_sent(tenant: LocalTenant, node_id: uuid.UUID, parsed: list[Any], *, actor: Any) -> int:
    """Mark deleted the products that came from this node earlier and were not in this call.

    Only when every item of the call was readable: a call with broken items must not delete
    the products those items were meant to be.
    """
    if any(isinstance(item, ItemError) for item in parsed):
        return 0
    sent = {item.sku if isinstance(item, ProductData) else item.product.sku for item in parsed}
    stale = (Product.objects.for_tenant(tenant).filter(origin_node_id=node_id, deleted=False)
             .exclude(sku__in=sent).values_list("sku", flat=True))
    gone = [ProductData(sku=sku, deleted=True) for sku in stale.iterator()]
    if gone:
        do_bulk_upsert_products(tenant, gone, actor=actor)
    return len(gone)


def groups_from_names(names: Iterable[str]) -> frozenset[Group]:
    return frozenset(Group(name) for name in names)
