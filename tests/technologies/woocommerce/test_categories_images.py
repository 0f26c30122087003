"""Categories and images published to the fake WooCommerce shop (docs/woocommerce.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bindery.catalog.actions import (
    do_bulk_upsert_products,
    do_create_category,
)
from bindery.catalog.models import Category, Product, ProductImage
from bindery.catalog.payloads import ImageData, ProductData
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Binding, LogLevel, RunItemFailure, RunLogLine, RunStatus
from tests.fakes.woocommerce import KEY, SECRET, FakeWoo, WooError
from tests.technologies.woocommerce.test_woocommerce import PUBLISH, run_now, woo_node

pytestmark = pytest.mark.django_db(databases="__all__")


CATEGORY_BATCH = ("POST", "/wp-json/wc/v3/products/categories/batch")


def item(sku: str, categories: list[str] | None = None, images: list[str] | None = None) -> ProductData:
    return ProductData(sku=sku, name=f"Name {sku}", quantity_available=5, categories=categories,
                       images=[ImageData(url) for url in images] if images is not None else None)


def by_path(shop: FakeWoo) -> dict[str, int]:
    return {shop.category_path(cid): cid for cid in shop.categories}


def test_a_three_level_tree_is_created_once_parents_first_and_products_carry_it(catalog: LocalTenant,
                                                                                  shop: FakeWoo) -> None:
    do_bulk_upsert_products(catalog, [
        item("LIN", ["Clothes|Shirts|Linen"], ["https://img.example/lin-1.jpg", "https://img.example/lin-2.jpg"]),
        item("TRS", ["Clothes|Trousers", "Sale"]),
    ], actor="test")
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    first = run_now(connector)
    assert first.status == RunStatus.SUCCEEDED, first.error
    paths = by_path(shop)
    assert set(paths) == {"Clothes", "Clothes|Shirts", "Clothes|Shirts|Linen", "Clothes|Trousers", "Sale"}
    # One batch per level: the fake refuses a child whose parent does not exist yet.
    assert shop.requests.count(CATEGORY_BATCH) == 3
    assert shop.categories[paths["Clothes|Shirts|Linen"]]["parent"] == paths["Clothes|Shirts"]
    linen, trousers = shop.product_by_sku("LIN"), shop.product_by_sku("TRS")
    assert linen is not None
    assert trousers is not None
    assert [c["id"] for c in linen["categories"]] == [paths["Clothes|Shirts|Linen"]]
    assert [c["id"] for c in trousers["categories"]] == [paths["Clothes|Trousers"], paths["Sale"]]
    assert [(i["name"], i["alt"]) for i in linen["images"]] == [("lin-1", "Name LIN"), ("lin-2", "Name LIN")]
    assert shop.downloads == ["https://img.example/lin-1.jpg", "https://img.example/lin-2.jpg"]
    hub_ids = set(Category.objects.for_tenant(catalog).values_list("pk", flat=True))
    assert set(Binding.objects.for_tenant(catalog).filter(entity_kind="category").values_list("hub_id", flat=True)) \
        == hub_ids

    second = run_now(connector)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.updated_count == 2
    assert by_path(shop) == paths
    assert shop.requests.count(CATEGORY_BATCH) == 3  # nothing to create or rename
    assert shop.downloads == ["https://img.example/lin-1.jpg", "https://img.example/lin-2.jpg"]  # not re-sent
    relinked = shop.product_by_sku("LIN")
    assert relinked is not None
    assert len(relinked["images"]) == 2


def test_the_shops_own_categories_are_reused_by_name_under_their_parent(catalog: LocalTenant,
                                                                        shop: FakeWoo) -> None:
    clothes = shop.add_category("CLOTHES")
    shirts = shop.add_category("shirts", clothes["id"])
    elsewhere = shop.add_category("Linen", shop.add_category("Outlet")["id"])  # same name, other parent
    bags = shop.add_category("Bags & Shoes")  # stored as "Bags &amp; Shoes"
    own = shop.add_category("Gifts")
    do_bulk_upsert_products(catalog, [item("LIN", ["Clothes|Shirts|Linen"]), item("BAG", ["Bags & Shoes"])],
                            actor="test")
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert bags["name"] == "Bags &amp; Shoes"
    assert len(shop.categories) == 7  # only Linen under Clothes|Shirts is new
    linen = by_path(shop)["CLOTHES|shirts|Linen"]
    assert shop.categories[linen]["parent"] == shirts["id"]
    assert shop.categories[linen]["slug"] == "linen-shirts"  # "linen" is taken by the Outlet's
    assert elsewhere["id"] in shop.categories
    assert own["id"] in shop.categories
    product = shop.product_by_sku("BAG")
    assert product is not None
    assert [c["id"] for c in product["categories"]] == [bags["id"]]
    # The names stay as the shop owner wrote them (matching is not renaming).
    assert (shop.categories[clothes["id"]]["name"], shirts["name"]) == ("CLOTHES", "shirts")
    again = run_now(connector)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert len(shop.categories) == 7


def test_a_renamed_hub_category_renames_the_bound_shop_category(catalog: LocalTenant, shop: FakeWoo) -> None:
    do_bulk_upsert_products(catalog, [item("LIN", ["Clothes|Shirts|Linen"])], actor="test")
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run_now(connector)
    shirts_id = by_path(shop)["Clothes|Shirts"]
    # A rename in place (the hub row keeps its id; its path and its children's follow).
    for category in Category.objects.for_tenant(catalog).filter(path_key__startswith="Clothes|Shirts"):
        if category.path_key == "Clothes|Shirts":
            category.name = "Tops & Tees"
        category.path_key = category.path_key.replace("Clothes|Shirts", "Clothes|Tops & Tees")
        category.save()
    renamed = run_now(connector)
    assert renamed.status == RunStatus.SUCCEEDED, renamed.error
    assert len(shop.categories) == 3
    assert shop.categories[shirts_id]["name"] == "Tops &amp; Tees"
    assert shop.categories[shirts_id]["slug"] == "shirts"  # links to the category keep working
    assert "Clothes|Tops & Tees|Linen" in by_path(shop)
    assert any("1 updated" in line for line in RunLogLine.objects.for_tenant(catalog).filter(
        run=renamed).values_list("message", flat=True))


def test_more_than_100_categories_go_in_several_batches(catalog: LocalTenant, shop: FakeWoo) -> None:
    for n in range(150):
        do_create_category(catalog, f"Range {n:03d}", actor="test")
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(shop.categories) == 150
    assert shop.requests.count(CATEGORY_BATCH) == 2
    before = len(shop.requests)
    run_now(connector)
    assert len(shop.categories) == 150
    # Listing the shop's 150 categories takes two pages; nothing is sent.
    assert shop.requests[before:] == [("GET", "/wp-json/wc/v3/products/categories")] * 2


def test_429_503_and_an_unanswered_batch_during_category_sync_make_no_duplicates(catalog: LocalTenant,
                                                                                 shop: FakeWoo) -> None:
    do_bulk_upsert_products(catalog, [item("LIN", ["Clothes|Shirts|Linen"])], actor="test")
    shop.fail(429, 2, retry_after="0", on="/products/categories/batch")
    shop.fail(503, 1, on="/products/categories/batch")
    original = shop._batch
    state = {"broken": True}

    def applied_then_502(body: Any, create: Any, update: Any) -> Any:
        answer = original(body, create, update)
        if state["broken"] and body.get("create", [{}])[0].get("name") == "Shirts":
            state["broken"] = False  # the shop saved "Shirts", then its proxy timed out
            raise WooError(502, "bad_gateway", "Bad gateway.")
        return answer

    shop._batch = applied_then_502  # type: ignore[method-assign]
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sorted(by_path(shop)) == ["Clothes", "Clothes|Shirts", "Clothes|Shirts|Linen"]
    assert len(shop.categories) == 3
    lines = list(RunLogLine.objects.for_tenant(catalog).filter(run=run).values_list("message", flat=True))
    assert sum("retry" in line for line in lines) == 4
    assert any("2 created" in line and "1 matched" in line for line in lines)  # Shirts came back as term_exists
    linen = shop.product_by_sku("LIN")
    assert linen is not None
    assert [c["id"] for c in linen["categories"]] == [by_path(shop)["Clothes|Shirts|Linen"]]
    assert Binding.objects.for_tenant(catalog).filter(entity_kind="category").count() == 3


def test_images_are_resent_only_when_the_list_changes(catalog: LocalTenant, shop: FakeWoo) -> None:
    a, b, c = "https://img.example/a.jpg", "https://img.example/b.jpg", "http://cdn.example/c.png"
    do_bulk_upsert_products(catalog, [item("IMG", images=[a, b]), item("NONE")], actor="test")
    existing = shop._create_product({"sku": "NONE", "images": [{"src": "https://owner.example/own.jpg"}]})
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run_now(connector)
    run_now(connector)
    assert shop.downloads == ["https://owner.example/own.jpg", a, b]
    assert [i["name"] for i in shop.products[existing["id"]]["images"]] == ["own"]  # the shop's own, kept
    do_bulk_upsert_products(catalog, [item("IMG", images=[c, a])], actor="test")  # new main image, b gone
    run_now(connector)
    assert shop.downloads[3:] == [c, a]
    product = shop.product_by_sku("IMG")
    assert product is not None
    assert [i["name"] for i in product["images"]] == ["c", "a"]
    do_bulk_upsert_products(catalog, [item("IMG", images=[])], actor="test")
    run_now(connector)
    assert shop.product_by_sku("IMG")["images"] == []  # type: ignore[index]
    run_now(connector)
    assert len(shop.downloads) == 5


def test_bad_image_urls_are_recorded_per_item_and_the_rest_publishes(catalog: LocalTenant, shop: FakeWoo) -> None:
    good, gone = "https://img.example/good.jpg", "https://img.example/gone.jpg"
    do_bulk_upsert_products(catalog, [item("REL", images=[good]), item("GONE", images=[gone]),
                                      item("FINE", images=[good])], actor="test")
    rel = Product.objects.for_tenant(catalog).get(sku="REL")
    # Rows written before the hub validated URLs (or by a direct database load) are not trusted either.
    ProductImage.objects.create(tenant=catalog, product=rel, url="images/relative.jpg", position=0)
    ProductImage.objects.create(tenant=catalog, product=rel, url="file:///etc/passwd", position=5)
    shop.unreachable.add(gone)
    connector = do_create_connector(catalog, "publish", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                                    actor="test")
    run = run_now(connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.created_count, run.failed_count) == (2, 1)
    failure = RunItemFailure.objects.for_tenant(catalog).get(run=run)
    assert (failure.item, failure.code) == ("GONE", "woocommerce_product_image_upload_error")
    assert shop.product_by_sku("GONE") is None
    rel_shop = shop.product_by_sku("REL")
    assert rel_shop is not None
    assert [i["name"] for i in rel_shop["images"]] == ["good"]
    warnings = list(RunLogLine.objects.for_tenant(catalog).filter(run=run, level=LogLevel.WARNING)
                    .values_list("message", flat=True))
    assert len([w for w in warnings if w.startswith("REL: image")]) == 2
    assert gone not in shop.downloads


def test_switches_turn_categories_and_images_off_and_are_validated(catalog: LocalTenant, shop: FakeWoo) -> None:
    node = woo_node(catalog, shop)
    for config, field in (({"images": "maybe"}, "config.images"), ({"categories": 1}, "config.categories"),
                          ({"categories": False, "category_language": "it"}, "config.category_language"),
                          ({"category_language": "x" * 11}, "config.category_language")):
        with pytest.raises(IntegrationError) as caught:
            do_create_connector(catalog, "bad", node, "product_publish", config=config, actor="test")
        assert caught.value.field == field
    do_bulk_upsert_products(catalog, [item("P", ["Clothes"], ["https://img.example/p.jpg"])], actor="test")
    off = do_create_connector(catalog, "off", node, "product_publish",
                              config={**PUBLISH, "categories": False, "images": False}, actor="test")
    run = run_now(off)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert shop.categories == {}
    assert shop.downloads == []
    assert not any("categories" in path for _method, path in shop.requests)


def test_the_fake_shop_follows_the_category_and_image_api(shop: FakeWoo) -> None:
    api, auth = f"{shop.url}/wp-json/wc/v3", (KEY, SECRET)
    parent = httpx.post(f"{api}/products/categories", auth=auth, json={"name": "Clothes"}).json()
    again = httpx.post(f"{api}/products/categories", auth=auth, json={"name": "clothes"})
    assert again.status_code == 400
    assert again.json()["code"] == "term_exists"
    assert again.json()["data"]["resource_id"] == parent["id"]
    orphan = httpx.post(f"{api}/products/categories", auth=auth, json={"name": "X", "parent": 999999})
    assert orphan.status_code == 404
    too_many = httpx.post(f"{api}/products/categories/batch", auth=auth,
                          json={"create": [{"name": f"C{n}"} for n in range(101)]})
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "woocommerce_rest_request_entity_too_large"
    for n in range(12):
        httpx.post(f"{api}/products/categories", auth=auth, json={"name": f"Child {n}", "parent": parent["id"]})
    listed = httpx.get(f"{api}/products/categories", auth=auth, params={"parent": parent["id"], "per_page": 5,
                                                                        "page": 3})
    assert (listed.headers["X-WP-Total"], listed.headers["X-WP-TotalPages"], len(listed.json())) == ("12", "3", 2)
    assert len(httpx.get(f"{api}/products/categories", auth=auth, params={"search": "child 1"}).json()) == 3
    bad = httpx.post(f"{api}/products", auth=auth, json={"sku": "S", "images": [{"src": "not a url"}]})
    assert bad.status_code == 400
    assert bad.json()["code"] == "woocommerce_product_image_upload_error"
    assert shop.product_by_sku("S") is None
    made = httpx.post(f"{api}/products", auth=auth, json={"sku": "S", "images": [{"src": "https://i.example/s.jpg"}],
                                                          "categories": [{"id": parent["id"]}]}).json()
    assert made["images"][0]["src"].startswith(f"{shop.url}/wp-content/uploads/")
    assert made["categories"] == [{"id": parent["id"], "name": "Clothes", "slug": "clothes"}]


def test_a_simulated_run_lists_the_tree_it_would_create_and_writes_nothing(catalog: LocalTenant,
                                                                           shop: FakeWoo) -> None:
    clothes = shop.add_category("Clothes")
    do_bulk_upsert_products(catalog, [item("LIN", ["Clothes|Shirts|Linen"], ["https://img.example/l.jpg"])],
                            actor="test")
    dry = do_create_connector(catalog, "dry", woo_node(catalog, shop), "product_publish", config=PUBLISH,
                              simulate=True, actor="test")
    run = run_now(dry)
    assert run.status == RunStatus.SUCCEEDED, run.error
    lines = list(RunLogLine.objects.for_tenant(catalog).filter(run=run).values_list("message", flat=True))
    assert "Would create category Clothes|Shirts." in lines
    assert "Would create category Clothes|Shirts|Linen." in lines
    assert list(shop.categories) == [clothes["id"]]
    assert shop.downloads == []
    assert not Binding.objects.for_tenant(catalog).exists()
