"""Product publish hub → WooCommerce: create or update by SKU in batches of at most 100.

Identity: a product's remote id is its binding on the node (``product`` for products,
``variation`` for variants). An unbound product is looked up by SKU first (``?sku=a,b,c``) and
bound if the shop has it, so a run that died after WooCommerce created products, or a shop
that already sold these SKUs, never gets duplicates; only what the shop does not have is
created. Differential runs send the products changed since the watermark (a changed variant
sends its parent and siblings too, which WooCommerce needs to keep the variable product whole).

Categories and images (``full`` mode, each switchable): the hub's category tree is synced first
(:mod:`.categories`) and each product carries its categories' shop ids; images are sent by URL
when the product's list changed since it was last sent (:mod:`.images`).

Modes: ``full`` sends names, descriptions, prices, stock, attributes and variations;
``quantity_only`` sends only ``stock_quantity`` of products already on the shop (the offline
sales case of the canonical scenario), and creates nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from bindery.catalog.models import (
    Price,
    PriceList,
    Product,
    ProductAttributeValue,
    ProductCategory,
    ProductImage,
    StockLevel,
    Warehouse,
)
from bindery.integration.actions import do_set_fingerprints
from bindery.integration.delta import changed_products, id_chunks
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.http import HttpClient
from bindery.integration.models import Binding
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext
from bindery.technologies.woocommerce.categories import sync_categories
from bindery.technologies.woocommerce.client import BATCH_MAX, PER_PAGE_MAX, open_client
from bindery.technologies.woocommerce.images import IMAGES, fingerprint, image_list


class PublishMode(StrEnum):
    FULL = "full"
    QUANTITY_ONLY = "quantity_only"


class ProductPublishConfig(StrictSchema):
    mode: PublishMode = PublishMode.FULL
    price_list: str | None = Field(default=None, max_length=100, description="price list for regular_price")
    price_gross: bool = Field(default=True, description="send gross prices (the shop's prices include tax)")
    warehouse: str | None = Field(default=None, max_length=100,
                                  description="stock from this warehouse; empty = the product's availability")
    batch_size: int = Field(default=BATCH_MAX, ge=1, le=BATCH_MAX, description="items per batch request (max 100)")
    status: Literal["publish", "draft", "pending", "private"] = "publish"
    categories: bool = Field(default=True, description="publish the category tree and each product's categories")
    category_language: str = Field(default="", max_length=10,
                                   description="language of the category tree to publish (blank = no language)")
    images: bool = Field(default=True, description="send product images by URL when a product's list changed")

    @field_validator("categories", "images", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        # Only true/false: a switch given as "no" or 0 by mistake must not silently mean on or off.
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("category_language")
    @classmethod
    def _language(cls, value: str, info: ValidationInfo) -> str:
        if value and info.data.get("categories") is False:
            raise ValueError("categories are off: leave category_language blank or turn categories on")
        return value


PRODUCT, VARIATION = "product", "variation"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(Decimal('0.01'))}"


def _stock(value: Decimal | None) -> int:
    return max(0, int((value or Decimal(0)).to_integral_value(rounding=ROUND_FLOOR)))


class _Page:
    """What one page of root products needs: variants, prices, stock, attributes, bindings."""

    def __init__(self, ctx: RunContext, config: ProductPublishConfig, roots: list[Product],
                 price_list: PriceList | None, warehouse: Warehouse | None,
                 shop_categories: dict[uuid.UUID, int]) -> None:
        tenant = ctx.tenant.pk
        self.roots = roots
        self.variants: dict[uuid.UUID, list[Product]] = defaultdict(list)
        for variant in Product.objects.for_tenant(tenant).filter(parent__in=roots, deleted=False).order_by("sku"):
            self.variants[variant.parent_id].append(variant)
        everything = [*roots, *(v for vs in self.variants.values() for v in vs)]
        self.prices: dict[uuid.UUID, Decimal] = {}
        if price_list is not None:
            field = "gross" if config.price_gross else "net"
            self.prices = dict(Price.objects.for_tenant(tenant).filter(
                price_list=price_list, product__in=everything, min_quantity=1).values_list("product_id", field))
        if warehouse is not None:
            self.stock = dict(StockLevel.objects.for_tenant(tenant).filter(
                warehouse=warehouse, product__in=everything).values_list("product_id", "quantity"))
        else:
            self.stock = {p.pk: p.quantity_available for p in everything}
        self.attributes: dict[uuid.UUID, list[tuple[str, str]]] = defaultdict(list)
        for product_id, name, value in ProductAttributeValue.objects.for_tenant(tenant).filter(
                product__in=[v for vs in self.variants.values() for v in vs]).order_by(
                "value__attribute__name", "value__value").values_list("product_id", "value__attribute__name",
                                                                      "value__value"):
            self.attributes[product_id].append((name, value))
        self.remote: dict[uuid.UUID, str] = {}
        self.sent_images: dict[uuid.UUID, str] = {}
        for hub_id, external_id, fingerprints in Binding.objects.for_tenant(tenant).filter(
                node=ctx.node, entity_kind__in=[PRODUCT, VARIATION], hub_id__in=[p.pk for p in everything],
        ).values_list("hub_id", "external_id", "fingerprints"):
            self.remote[hub_id] = external_id
            if IMAGES in (fingerprints or {}):
                self.sent_images[hub_id] = fingerprints[IMAGES]
        full = config.mode == PublishMode.FULL
        self.categories: dict[uuid.UUID, list[int]] = defaultdict(list)
        if full and config.categories:
            for product_id, category_id in ProductCategory.objects.for_tenant(tenant).filter(
                    product__in=roots, category__language=config.category_language,
            ).order_by("category__path_key").values_list("product_id", "category_id"):
                if category_id in shop_categories:  # one that could not be published is left out
                    self.categories[product_id].append(shop_categories[category_id])
        # Images to send (and their fingerprint, recorded once the shop took them): only changed lists.
        self.images: dict[uuid.UUID, tuple[list[dict[str, Any]], str]] = {}
        if full and config.images:
            urls: dict[uuid.UUID, list[str]] = defaultdict(list)
            for product_id, url in ProductImage.objects.for_tenant(tenant).filter(product__in=roots).order_by(
                    "product_id", "position", "url").values_list("product_id", "url"):
                urls[product_id].append(url)
            for product in roots:
                images = image_list(ctx, product.sku, product.name or product.sku, urls.get(product.pk, []))
                sent = self.sent_images.get(product.pk)
                # Nothing in the hub and nothing sent before: leave the shop's own images alone.
                if (images or sent is not None) and fingerprint(images) != sent:
                    self.images[product.pk] = (images, fingerprint(images))


def run_product_publish(ctx: RunContext) -> None:
    config = ProductPublishConfig.model_validate(ctx.config)
    tenant = ctx.tenant.pk
    price_list = warehouse = None
    if config.price_list:
        price_list = PriceList.objects.for_tenant(tenant).filter(name=config.price_list).first()
        if price_list is None:
            raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG,
                                   f"price list {config.price_list!r} does not exist", field="config.price_list")
    if config.warehouse:
        warehouse = Warehouse.objects.for_tenant(tenant).filter(key=config.warehouse).first()
        if warehouse is None:
            raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG,
                                   f"warehouse {config.warehouse!r} does not exist", field="config.warehouse")
    changed = changed_products(tenant, since=ctx.since, until=ctx.started_at,
                               product_filter=ctx.product_filter.model_copy(update={"include_variants": True}))
    roots = Product.objects.for_tenant(tenant).filter(parent__isnull=True).filter(
        pk__in=changed.filter(parent__isnull=True).values("pk")
    ) | Product.objects.for_tenant(tenant).filter(pk__in=changed.filter(parent__isnull=False).values("parent_id"))
    roots = roots.filter(deleted=False)
    total = roots.count()
    ctx.log(f"{total} products to publish ({config.mode}).")
    ctx.checkpoint(done=0, total=total)
    done = 0
    with open_client(ctx) as client:
        shop_categories: dict[uuid.UUID, int] = {}
        if config.mode == PublishMode.FULL and config.categories:
            shop_categories = sync_categories(ctx, client, config.category_language)
            ctx.checkpoint()
        # In id order, read once: a product changed while we publish stays where it is in the order.
        for page in id_chunks(roots, size=config.batch_size):
            if not page:
                continue  # every product of this chunk was deleted meanwhile
            _publish_page(ctx, client, config, _Page(ctx, config, page, price_list, warehouse, shop_categories))
            done += len(page)
            ctx.checkpoint(done=done)
    ctx.log(f"{done} products published.")


def _lookup_by_sku(ctx: RunContext, client: HttpClient, path: str, products: list[Product],
                   page: _Page, kind: str) -> None:
    """Bind products the shop already has under their SKU (one request per 100 SKUs)."""
    missing = [p for p in products if p.pk not in page.remote]
    for start in range(0, len(missing), PER_PAGE_MAX):
        chunk = missing[start:start + PER_PAGE_MAX]
        # A SKU holding a comma cannot be asked for in a list; those are created and refused if taken.
        skus = [p.sku for p in chunk if "," not in p.sku]
        if not skus:
            continue
        found = client.get(path, params={"sku": ",".join(skus), "per_page": PER_PAGE_MAX}).json()
        by_sku = {str(item.get("sku")): str(item.get("id")) for item in found if isinstance(item, dict)}
        pairs = [(by_sku[p.sku], p.pk) for p in chunk if p.sku in by_sku]
        for external_id, hub_id in pairs:
            page.remote[hub_id] = external_id
        ctx.bind_many(kind, pairs)


def _body(config: ProductPublishConfig, page: _Page, product: Product, *, variation: bool) -> dict[str, Any]:
    variants = [] if variation else page.variants.get(product.pk, [])
    body: dict[str, Any] = {}
    if config.mode == PublishMode.FULL:
        if variation:
            body["attributes"] = [{"name": n, "option": v} for n, v in page.attributes.get(product.pk, [])]
        else:
            body.update(name=product.name or product.sku, type="variable" if variants else "simple",
                        status=config.status, description=product.description_html,
                        short_description=product.short_description)
            if variants:
                options: dict[str, list[str]] = defaultdict(list)
                for variant in variants:
                    for name, value in page.attributes.get(variant.pk, []):
                        if value not in options[name]:
                            options[name].append(value)
                body["attributes"] = [{"name": n, "options": o, "variation": True, "visible": True}
                                      for n, o in options.items()]
        body["sku"] = product.sku
        if product.pk in page.categories:
            body["categories"] = [{"id": shop_id} for shop_id in page.categories[product.pk]]
        if product.pk in page.images:
            body["images"] = page.images[product.pk][0]
        if product.weight is not None:
            body["weight"] = f"{product.weight.normalize():f}"
        if not variants and product.pk in page.prices:
            body["regular_price"] = _money(page.prices[product.pk])
    if not variants:
        body.update(manage_stock=True, stock_quantity=_stock(page.stock.get(product.pk)))
    return body


def _publish_page(ctx: RunContext, client: HttpClient, config: ProductPublishConfig, page: _Page) -> None:
    ctx.count(read=len(page.roots))
    if config.mode == PublishMode.FULL:
        _lookup_by_sku(ctx, client, "/products", page.roots, page, PRODUCT)
    create, update = [], []
    for product in page.roots:
        remote = page.remote.get(product.pk)
        if remote is None and config.mode == PublishMode.QUANTITY_ONLY:
            ctx.count(skipped=1)
            continue
        body = _body(config, page, product, variation=False)
        if remote is None:
            create.append((product, body))
        elif not (config.mode == PublishMode.QUANTITY_ONLY and page.variants.get(product.pk)):
            update.append((product, {"id": int(remote), **body}))
    created, succeeded = _batch(ctx, client, "/products/batch", create, update, PRODUCT)
    for external_id, hub_id in created:
        page.remote[hub_id] = external_id
    if not ctx.simulate:  # after binding: the fingerprint lives on the product's binding
        do_set_fingerprints(ctx.node, PRODUCT, IMAGES,
                            {hub_id: page.images[hub_id][1] for hub_id in succeeded if hub_id in page.images})
    for product in page.roots:
        variants = page.variants.get(product.pk)
        parent_remote = page.remote.get(product.pk)
        if not variants or parent_remote is None:
            continue
        path = f"/products/{parent_remote}/variations"
        if config.mode == PublishMode.FULL:
            _lookup_by_sku(ctx, client, path, variants, page, VARIATION)
        v_create, v_update = [], []
        for variant in variants:
            remote = page.remote.get(variant.pk)
            body = _body(config, page, variant, variation=True)
            if remote is None:
                if config.mode == PublishMode.FULL:
                    v_create.append((variant, body))
            else:
                v_update.append((variant, {"id": int(remote), **body}))
        _batch(ctx, client, path + "/batch", v_create, v_update, VARIATION, count=False)


def _batch(ctx: RunContext, client: HttpClient, path: str, create: list[tuple[Product, dict[str, Any]]],
           update: list[tuple[Product, dict[str, Any]]], kind: str, *, count: bool = True,
           ) -> tuple[list[tuple[str, uuid.UUID]], list[uuid.UUID]]:
    """Send creates and updates in requests of at most 100 items; bind, count and record failures.

    Return the (remote id, hub id) pairs created and the hub ids the shop accepted.
    """
    created: list[tuple[str, uuid.UUID]] = []
    succeeded: list[uuid.UUID] = []
    items = [("create", p, b) for p, b in create] + [("update", p, b) for p, b in update]
    for start in range(0, len(items), BATCH_MAX):
        chunk = items[start:start + BATCH_MAX]
        if ctx.simulate:
            for action, product, _body in chunk:
                ctx.log(f"Would {action} {kind} {product.sku}.")
            if count:
                ctx.count(created=sum(1 for a, _, _ in chunk if a == "create"),
                          updated=sum(1 for a, _, _ in chunk if a == "update"))
            continue
        payload: dict[str, list[dict[str, Any]]] = {}
        for action, _product, body in chunk:
            payload.setdefault(action, []).append(body)
        answer = client.post(path, json_body=payload).json()
        bound: list[tuple[str, uuid.UUID]] = []
        for action in ("create", "update"):
            sent = [(p, b) for a, p, b in chunk if a == action]
            results = answer.get(action) or [] if isinstance(answer, dict) else []
            for (product, _body), result in zip(sent, results, strict=False):
                error = result.get("error") if isinstance(result, dict) else {"message": "no result"}
                if error:
                    ctx.fail_item(product.sku, str(error.get("code") or "remote_error")[:50],
                                  str(error.get("message") or "refused by the shop"))
                    continue
                if action == "create":
                    bound.append((str(result["id"]), product.pk))
                succeeded.append(product.pk)
                if count:
                    ctx.count(**{"created" if action == "create" else "updated": 1})
            for product, _body in sent[len(results):]:
                ctx.fail_item(product.sku, "no_result", "the shop answered no result for this item")
        ctx.bind_many(kind, bound)
        created.extend(bound)
    return created, succeeded
