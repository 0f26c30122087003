"""Run functions and configuration schemas of the ``hub`` technology's connectors."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field, model_validator

from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.models import Price, PriceList, Product, StockLevel, Warehouse
from bindery.catalog.payloads import PriceData, ProductData, StockData
from bindery.catalog.upsert import Outcome
from bindery.integration.delta import changed_products, keyset_pages
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext


class _Batching(StrictSchema):
    batch_size: int = Field(default=200, ge=1, le=5000, description="products per page and write")
    throttle_ms: int = Field(default=0, ge=0, le=60_000,
                             description="pause between pages, to spare a busy database")


class StockCopyConfig(_Batching):
    source_warehouse: str = Field(min_length=1, max_length=100)
    target_warehouse: str = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _different(self) -> StockCopyConfig:
        if self.source_warehouse == self.target_warehouse:
            raise ValueError("source and target warehouse must differ")
        return self


class PriceRuleConfig(_Batching):
    source_price_list: str = Field(min_length=1, max_length=100)
    target_price_list: str = Field(min_length=1, max_length=100)
    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=1000, max_digits=12, decimal_places=6)
    constant: Decimal = Field(default=Decimal(0), ge=-1_000_000, le=1_000_000, max_digits=14, decimal_places=4)
    rounding: Decimal = Field(default=Decimal("0.01"), gt=0, le=1000, max_digits=10, decimal_places=4)

    @model_validator(mode="after")
    def _different(self) -> PriceRuleConfig:
        if self.source_price_list == self.target_price_list:
            raise ValueError("source and target price list must differ")
        return self


def _require(model: Any, tenant_id: Any, what: str, field: str, **lookup: Any) -> Any:
    found = model.objects.for_tenant(tenant_id).filter(**lookup).first()
    if found is None:
        raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG, f"{what} does not exist", field=field)
    return found


def _process(ctx: RunContext, batch_size: int, throttle_ms: int,
             plan: Callable[[list[Product]], list[tuple[Product, ProductData]]]) -> None:
    """Walk the changed products page by page, write the planned items, bind and count them."""
    queryset = changed_products(ctx.tenant.pk, since=ctx.since, until=ctx.started_at,
                                product_filter=ctx.product_filter)
    total = queryset.count()
    ctx.log(f"{total} products to consider.")
    ctx.checkpoint(done=0, total=total)
    done = 0
    for page in keyset_pages(queryset, page_size=batch_size):
        planned = plan(page)
        ctx.count(read=len(page), skipped=len(page) - len(planned))
        _write(ctx, planned)
        done += len(page)
        ctx.checkpoint(done=done)
        if throttle_ms:
            time.sleep(throttle_ms / 1000)
    ctx.log(f"{done} products considered.")


def _write(ctx: RunContext, planned: Sequence[tuple[Product, ProductData]]) -> None:
    if not planned:
        return
    if ctx.simulate:
        for product, _data in planned:
            ctx.log(f"Would update {product.sku}.")
        ctx.count(updated=len(planned))
        return
    results = do_bulk_upsert_products(ctx.tenant, [data for _, data in planned], actor=ctx.actor)
    bound: list[tuple[str, Any]] = []
    for (product, _data), result in zip(planned, results, strict=True):
        if result.outcome == Outcome.ERROR:
            ctx.fail_item(product.sku, str(result.code), result.message, result.field)
            continue
        bound.append((product.sku, product.pk))
        if result.outcome == Outcome.UNCHANGED:
            ctx.count(skipped=1)
        else:
            ctx.count(updated=1)
    ctx.bind_many("product", bound)


def run_stock_copy(ctx: RunContext) -> None:
    config = StockCopyConfig.model_validate(ctx.config)
    source = _require(Warehouse, ctx.tenant.pk, f"source warehouse {config.source_warehouse!r}",
                      "config.source_warehouse", key=config.source_warehouse)
    _require(Warehouse, ctx.tenant.pk, f"target warehouse {config.target_warehouse!r}",
             "config.target_warehouse", key=config.target_warehouse)

    def plan(page: list[Product]) -> list[tuple[Product, ProductData]]:
        levels = dict(StockLevel.objects.for_tenant(ctx.tenant.pk).filter(
            warehouse=source, product__in=page).values_list("product_id", "quantity"))
        return [(p, ProductData(sku=p.sku, stock=[StockData(config.target_warehouse, levels[p.pk])]))
                for p in page if p.pk in levels]

    _process(ctx, config.batch_size, config.throttle_ms, plan)


def run_price_rule(ctx: RunContext) -> None:
    config = PriceRuleConfig.model_validate(ctx.config)
    source = _require(PriceList, ctx.tenant.pk, f"source price list {config.source_price_list!r}",
                      "config.source_price_list", name=config.source_price_list)
    _require(PriceList, ctx.tenant.pk, f"target price list {config.target_price_list!r}",
             "config.target_price_list", name=config.target_price_list)

    def derive(net: Decimal) -> Decimal:
        value = net * config.multiplier + config.constant
        steps = (value / config.rounding).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return max(Decimal(0), steps * config.rounding)

    def plan(page: list[Product]) -> list[tuple[Product, ProductData]]:
        prices = {pid: (net, vat) for pid, net, vat in Price.objects.for_tenant(ctx.tenant.pk).filter(
            price_list=source, product__in=page, min_quantity=1).values_list("product_id", "net", "vat_rate")}
        return [(p, ProductData(sku=p.sku, prices=[PriceData(config.target_price_list, net=derive(prices[p.pk][0]),
                                                             vat_rate=prices[p.pk][1])]))
                for p in page if p.pk in prices]

    _process(ctx, config.batch_size, config.throttle_ms, plan)
