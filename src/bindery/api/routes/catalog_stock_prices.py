"""Stock and price bulk updates: flat rows ``{sku, warehouse, quantity}`` / ``{sku, price_list, ...}``.

Rows are checked one by one first (so a bad row is refused with its own field), then grouped by
SKU into stock-only or price-only payloads for the one upsert engine: an ERP sends several
warehouses or lists per SKU, which a payload per row could not carry. A row naming a SKU that
does not exist yet creates a bare product with that SKU, as the product upsert would.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from django.http import HttpRequest
from ninja import Router

from bindery.api.auth import require_scope
from bindery.api.routes.catalog_common import bulk_body
from bindery.api.schemas.catalog import CatalogBulkOut, PriceBulkIn, PriceItemIn, StockBulkIn, StockItemIn
from bindery.api.schemas.common import ERRORS_WRITE
from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.errors import CatalogError, CatalogErrorCode
from bindery.catalog.models import PriceList, Warehouse
from bindery.catalog.payloads import PriceData, ProductData, StockData, check_amount, check_price
from bindery.catalog.upsert import UpsertResult
from bindery.control.models import LocalTenant
from bindery.security.waf.exclusions import waf_bulk

router = Router(tags=["catalog: stock and prices"])

Row = TypeVar("Row", StockItemIn, PriceItemIn)


def _relative(field: str | None, group_prefix: str) -> str | None:
    """``stock[2].quantity`` -> ``quantity``: a group error is reported on the row's own fields."""
    if field and field.startswith(group_prefix):
        rest = field.split("]", 1)[1].lstrip(".")
        return rest or None
    return field


def _apply_grouped(tenant: LocalTenant, rows: Sequence[Row], errors: dict[int, CatalogError],
                   key: Callable[[Row], Hashable], to_product: Callable[[str, list[Row]], ProductData],
                   group_prefix: str, actor: Any) -> list[UpsertResult]:
    """Refuse rows whose key repeats, group the rest by SKU, upsert, and give each row its group's result."""
    counts = Counter(key(row) for i, row in enumerate(rows) if i not in errors)
    for index, row in enumerate(rows):
        if index not in errors and counts[key(row)] > 1:
            errors[index] = CatalogError(CatalogErrorCode.DUPLICATE_KEY, "this row's key appears more than once "
                                         "in the payload", field="sku")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if index not in errors:
            groups[row.sku].append(index)
    skus = list(groups)
    payloads = [to_product(sku, [rows[i] for i in groups[sku]]) for sku in skus]
    results: dict[int, UpsertResult] = {
        index: UpsertResult.failed(index, rows[index].sku, error) for index, error in errors.items()
    }
    for group_result in do_bulk_upsert_products(tenant, payloads, actor=actor):
        for index in groups[skus[group_result.index]]:
            results[index] = UpsertResult(
                index=index, sku=rows[index].sku, outcome=group_result.outcome, product_id=group_result.product_id,
                code=group_result.code, message=group_result.message,
                field=_relative(group_result.field, group_prefix))
    return [results[i] for i in range(len(rows))]


@router.post("/stock/bulk", response={200: CatalogBulkOut, **ERRORS_WRITE}, exclude_none=True,
             summary="Set stock quantities per SKU and warehouse")
@waf_bulk()
def bulk_set_stock(request: HttpRequest, payload: StockBulkIn) -> dict[str, Any]:
    """Set up to 5,000 quantities; one result per row, in order (200 even if some rows failed).

    A row's ``outcome`` is its product's: ``updated`` if any quantity of that SKU changed. A SKU
    and warehouse given twice refuses both rows; an unknown warehouse refuses its row.
    """
    token = require_scope(request, "catalog:write")
    tenant: LocalTenant = request.tenant  # type: ignore[attr-defined]  # set by bindery.api.auth
    rows = payload.items
    known = set(Warehouse.objects.for_tenant(tenant).filter(key__in={r.warehouse for r in rows})
                .values_list("key", flat=True))
    errors: dict[int, CatalogError] = {}
    for index, row in enumerate(rows):
        try:
            check_amount(row.quantity, "quantity", negative_ok=True)
            if row.warehouse not in known:
                raise CatalogError(CatalogErrorCode.UNKNOWN_WAREHOUSE, f"no warehouse with key {row.warehouse!r}",
                                   field="warehouse")
        except CatalogError as error:
            errors[index] = error

    def to_product(sku: str, group: list[StockItemIn]) -> ProductData:
        return ProductData(sku=sku, stock=[StockData(warehouse=r.warehouse, quantity=r.quantity) for r in group])

    results = _apply_grouped(tenant, rows, errors, key=lambda r: (r.sku, r.warehouse), to_product=to_product,
                             group_prefix="stock[", actor=token)
    return bulk_body(results)


def _price_data(row: PriceItemIn) -> PriceData:
    return PriceData(**row.model_dump(exclude={"sku"}))


@router.post("/prices/bulk", response={200: CatalogBulkOut, **ERRORS_WRITE}, exclude_none=True,
             summary="Set prices per SKU, price list and quantity tier")
@waf_bulk()
def bulk_set_prices(request: HttpRequest, payload: PriceBulkIn) -> dict[str, Any]:
    """Set up to 5,000 prices; one result per row, in order (200 even if some rows failed).

    Give ``net`` or ``gross`` or both; the other is derived from ``vat_rate``. A row's
    ``outcome`` is its product's. A SKU, list and ``min_quantity`` given twice refuses both rows.
    """
    token = require_scope(request, "catalog:write")
    tenant: LocalTenant = request.tenant  # type: ignore[attr-defined]  # set by bindery.api.auth
    rows = payload.items
    known = set(PriceList.objects.for_tenant(tenant).filter(name__in={r.price_list for r in rows})
                .values_list("name", flat=True))
    errors: dict[int, CatalogError] = {}
    tiers: dict[int, Decimal] = {}
    for index, row in enumerate(rows):
        try:
            clean = check_price(_price_data(row), "price")
            tiers[index] = clean.min_quantity
            if row.price_list not in known:
                raise CatalogError(CatalogErrorCode.UNKNOWN_PRICE_LIST, f"no price list named {row.price_list!r}",
                                   field="price.price_list")
        except CatalogError as error:
            errors[index] = CatalogError(error.code, error.message, field=_relative_price(error.field))

    def to_product(sku: str, group: list[PriceItemIn]) -> ProductData:
        return ProductData(sku=sku, prices=[_price_data(r) for r in group])

    index_of = {id(row): i for i, row in enumerate(rows)}
    results = _apply_grouped(tenant, rows, errors,
                             key=lambda r: (r.sku, r.price_list, tiers.get(index_of[id(r)])),
                             to_product=to_product, group_prefix="prices[", actor=token)
    return bulk_body(results)


def _relative_price(field: str | None) -> str | None:
    return field.removeprefix("price.") if field else field

