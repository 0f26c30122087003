"""A stateful fake WooCommerce REST v3 shop: a real HTTP server thread on loopback.

Faithful to the published API where Bindery depends on it:

- consumer key / secret over HTTP Basic auth (401 ``woocommerce_rest_cannot_view`` otherwise);
- products (simple and variable) and variations stored with ids, ``?sku=`` (comma-separated),
  ``POST /products/batch`` and ``/products/<id>/variations/batch`` refusing more than 100 items
  with 413 ``woocommerce_rest_request_entity_too_large``, per-item errors for a duplicated SKU
  (``product_invalid_sku``);
- product categories (``/products/categories``): ids, ``parent`` (404 ``woocommerce_rest_term_invalid``
  if it does not exist), generated unique slugs, names stored HTML-escaped as WordPress does, 400
  ``term_exists`` with ``data.resource_id`` for a name already used under the same parent
  (case-insensitive, like MySQL's collation), ``search`` / ``parent`` / ``orderby`` filters, paging
  headers, and ``/products/categories/batch`` (413 over 100 items);
- product images: ``images: [{src, alt, name} | {id}]``, the first one the featured image. Every
  ``src`` is "downloaded" (recorded in :attr:`FakeWoo.downloads`) into the media library, whose own
  URL is what the shop answers as ``src``; a ``src`` that is not an absolute http(s) URL, or one in
  :attr:`FakeWoo.unreachable`, fails the item with 400 ``woocommerce_product_image_upload_error``
  and the product is not saved;
- orders with ``modified_after`` / ``modified_before`` (GMT with ``dates_are_gmt``), ``orderby``,
  ``order``, ``page`` / ``per_page`` (1..100, else 400 ``rest_invalid_param``) and the
  ``X-WP-Total`` / ``X-WP-TotalPages`` headers; ``PUT /orders/<id>`` (status, meta_data) and
  ``POST /orders/<id>/notes``;
- faults: :meth:`FakeWoo.fail` queues 429 (with ``Retry-After``) or 5xx answers, and
  ``on_orders_page`` lets a test modify orders between pages, as a busy shop does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import html
import http.server
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY, SECRET = "ck_4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a", "cs_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
BATCH_LIMIT = 100
PREFIX = "/wp-json/wc/v3"


def now_gmt() -> str:
    """WooCommerce's GMT stamps: ISO 8601 without zone, to the second (so stamps tie often)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_gmt(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", ""))
    return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed.astimezone(dt.UTC).replace(tzinfo=None)


class WooError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.extra}}


@dataclass
class FakeWoo:
    port: int = 0
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    variations: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    media: dict[int, dict[str, Any]] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str], str | None]] = field(default_factory=list)
    on_orders_page: Callable[[FakeWoo, int], None] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_id: int = 100

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- test helpers ---------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, *, retry_after: str | None = None, on: str | None = None) -> None:
        """Answer the next ``times`` requests (those to path ``on`` if given) with ``status``."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self.lock:
            self.faults.extend([(status, headers, on)] * times)

    def take_fault(self, path: str) -> tuple[int, dict[str, str]] | None:
        with self.lock:
            for index, (status, headers, on) in enumerate(self.faults):
                if on is None or PREFIX + on == path:
                    del self.faults[index]
                    return status, headers
        return None

    def product_by_sku(self, sku: str) -> dict[str, Any] | None:
        for product in self.products.values():
            if product["sku"] == sku:
                return product
        for variations in self.variations.values():
            for variation in variations.values():
                if variation["sku"] == sku:
                    return variation
        return None

    def add_order(self, *, email: str, lines: list[tuple[str, int, str]], status: str = "processing",
                  first_name: str = "Ada", last_name: str = "Lovelace", shipping: str = "5.00") -> dict[str, Any]:
        """Place an order: lines are (sku, quantity, unit price net); 22% tax on lines and shipping."""
        with self.lock:
            order_id = self.new_id()
            items = []
            for sku, quantity, price in lines:
                product = self.product_by_sku(sku)
                total = Decimal(price) * quantity
                items.append({
                    "id": self.new_id(), "name": (product or {}).get("name", sku),
                    "product_id": (product or {}).get("id", 0), "variation_id": 0, "quantity": quantity,
                    "tax_class": "", "subtotal": f"{total:.2f}", "subtotal_tax": f"{total * Decimal('0.22'):.2f}",
                    "total": f"{total:.2f}", "total_tax": f"{total * Decimal('0.22'):.2f}", "sku": sku,
                    "price": float(price), "meta_data": [],
                })
            ship, ship_tax = Decimal(shipping), (Decimal(shipping) * Decimal("0.22")).quantize(Decimal("0.01"))
            net = sum((Decimal(i["total"]) for i in items), Decimal(0)) + ship
            tax = sum((Decimal(i["total_tax"]) for i in items), Decimal(0)) + ship_tax
            address = {"first_name": first_name, "last_name": last_name, "company": "", "address_1": "1 Main St",
                       "address_2": "", "city": "Milano", "state": "MI", "postcode": "20100", "country": "IT"}
            stamp = now_gmt()
            order = {
                "id": order_id, "parent_id": 0, "number": str(order_id), "order_key": f"wc_order_{order_id}",
                "status": status, "currency": "EUR", "date_created_gmt": stamp, "date_modified_gmt": stamp,
                "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": f"{ship:.2f}",
                "shipping_tax": f"{ship_tax:.2f}", "cart_tax": f"{tax - ship_tax:.2f}", "total": f"{net + tax:.2f}",
                "total_tax": f"{tax:.2f}", "prices_include_tax": False, "customer_id": 0, "customer_note": "",
                "billing": {**address, "email": email, "phone": "+39 02 000"}, "shipping": {**address, "phone": ""},
                "payment_method": "bacs", "payment_method_title": "Direct bank transfer",
                "date_paid_gmt": stamp if status in ("processing", "completed") else None,
                "line_items": items, "fee_lines": [], "coupon_lines": [],
                "shipping_lines": [{"id": self.new_id(), "method_title": "Flat rate", "method_id": "flat_rate",
                                    "total": f"{ship:.2f}", "total_tax": f"{ship_tax:.2f}"}],
                "meta_data": [],
            }
            self.orders[order_id] = order
            return order

    def touch_order(self, order_id: int, **changes: Any) -> None:
        with self.lock:
            self.orders[order_id].update(changes, date_modified_gmt=now_gmt())

    def meta(self, order_id: int) -> dict[str, Any]:
        return {m["key"]: m["value"] for m in self.orders[order_id]["meta_data"]}

    # --- dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if not path.startswith(PREFIX):
            raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")
        parts = [p for p in path[len(PREFIX):].split("/") if p]
        with self.lock:
            if parts[:2] == ["products", "categories"]:
                return self._categories_route(method, parts[2:], query, body)
            if parts == ["products"] and method == "GET":
                return self._list(list(self.products.values()), query, sku=query.get("sku"))
            if parts == ["products"] and method == "POST":
                return 201, {}, self._create_product(body)
            if parts == ["products", "batch"] and method == "POST":
                return 200, {}, self._batch(body, self._create_product, self._update_product)
            if len(parts) == 2 and parts[0] == "products" and method in ("PUT", "POST"):
                return 200, {}, self._update_product({**body, "id": _int(parts[1])})
            if len(parts) == 2 and parts[0] == "products" and method == "GET":
                return 200, {}, self._product(_int(parts[1]))
            if len(parts) == 3 and parts[0] == "products" and parts[2] == "variations" and method == "GET":
                parent = self._product(_int(parts[1]))
                return self._list(list(self.variations.get(parent["id"], {}).values()), query, sku=query.get("sku"))
            if len(parts) == 4 and parts[0] == "products" and parts[2:] == ["variations", "batch"] \
                    and method == "POST":
                parent = self._product(_int(parts[1]))
                return 200, {}, self._batch(body, lambda item: self._create_variation(parent, item),
                                            lambda item: self._update_variation(parent, item))
            if parts == ["orders"] and method == "GET":
                return self._list_orders(query)
            if len(parts) == 2 and parts[0] == "orders" and method == "GET":
                return 200, {}, self._order(_int(parts[1]))
            if len(parts) == 2 and parts[0] == "orders" and method in ("PUT", "POST"):
                return 200, {}, self._update_order(_int(parts[1]), body)
            if len(parts) == 3 and parts[0] == "orders" and parts[2] == "notes" and method == "POST":
                order = self._order(_int(parts[1]))
                note = {"id": self.new_id(), "note": str(body.get("note", "")),
                        "customer_note": bool(body.get("customer_note")), "date_created_gmt": now_gmt()}
                self.notes.setdefault(order["id"], []).append(note)
                return 201, {}, note
        raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _list(self, rows: list[dict[str, Any]], query: dict[str, str], *, sku: str | None = None,
              ) -> tuple[int, dict[str, str], Any]:
        if sku:
            wanted = set(sku.split(","))
            rows = [r for r in rows if r["sku"] in wanted]
        rows = sorted(rows, key=lambda r: r["id"])
        return self._page(rows, query)

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        per_page, page = _int(query.get("per_page", "10"), "per_page"), _int(query.get("page", "1"), "page")
        if not 1 <= per_page <= 100:
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): per_page",
                           {"params": {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}})
        if page < 1:
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): page")
        total = len(rows)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            raise WooError(400, "rest_post_invalid_page_number",
                           "The page number requested is larger than the number of pages available.")
        chunk = rows[(page - 1) * per_page: page * per_page]
        return 200, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}, chunk

    def _list_orders(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("dates_are_gmt") != "true" and ("modified_after" in query or "modified_before" in query):
            raise WooError(400, "fake_needs_gmt", "this fake only implements dates_are_gmt=true")
        rows = list(self.orders.values())
        if "modified_after" in query:
            after = _parse_gmt(query["modified_after"])
            rows = [o for o in rows if _parse_gmt(o["date_modified_gmt"]) > after]
        if "modified_before" in query:
            before = _parse_gmt(query["modified_before"])
            rows = [o for o in rows if _parse_gmt(o["date_modified_gmt"]) < before]
        if query.get("status") and query["status"] != "any":
            statuses = set(query["status"].split(","))
            rows = [o for o in rows if o["status"] in statuses]
        sort_keys = {"id": "id", "date": "date_created_gmt", "modified": "date_modified_gmt"}
        key = sort_keys.get(query.get("orderby", "date"))
        if key is None:
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        rows.sort(key=lambda o: (o[key], o["id"]), reverse=query.get("order", "desc") == "desc")
        answer = self._page(rows, query)
        if self.on_orders_page is not None:
            self.on_orders_page(self, _int(query.get("page", "1")))
        return answer

    # --- products -------------------------------------------------------------------------------

    def _product(self, product_id: int) -> dict[str, Any]:
        if product_id not in self.products:
            raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return self.products[product_id]

    def _check_sku(self, sku: Any, own_id: int | None) -> None:
        if sku:
            found = self.product_by_sku(str(sku))
            if found is not None and found["id"] != own_id:
                raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                               {"resource_id": found["id"], "unique_sku": str(sku)})

    def _fields(self, item: dict[str, Any]) -> dict[str, Any]:
        allowed = {"name", "type", "status", "sku", "regular_price", "sale_price", "description", "short_description",
                   "manage_stock", "stock_quantity", "stock_status", "weight", "attributes", "categories",
                   "meta_data", "images", "default_attributes"}
        unknown = set(item) - allowed - {"id"}
        if unknown:  # WooCommerce ignores unknown keys; the fake is stricter so the client stays tidy
            raise WooError(400, "rest_invalid_param", f"unexpected fields {sorted(unknown)}")
        for price_field in ("regular_price", "sale_price"):
            if price_field in item and not isinstance(item[price_field], str):
                raise WooError(400, "rest_invalid_param", f"Invalid parameter(s): {price_field}",
                               {"params": {price_field: f"{price_field} is not of type string."}})
        if "stock_quantity" in item and not isinstance(item["stock_quantity"], int | type(None)):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): stock_quantity")
        values = {k: v for k, v in item.items() if k != "id"}
        if "categories" in values:
            values["categories"] = self._product_categories(values["categories"])
        if "images" in values:
            values["images"] = self._images(values["images"])
        return values

    def _product_categories(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), int)
                                                  for c in value):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): categories",
                           {"params": {"categories": "categories[0][id] is not of type integer."}})
        # WooCommerce silently drops ids that are not product categories; the fake does the same.
        return [{"id": c["id"], "name": self.categories[c["id"]]["name"], "slug": self.categories[c["id"]]["slug"]}
                for c in value if c["id"] in self.categories]

    def _images(self, value: Any) -> list[dict[str, Any]]:
        """Download each ``src`` into the media library (all or nothing, as the product is not saved)."""
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): images")
        stored = []
        for image in value:
            unknown = set(image) - {"id", "src", "name", "alt"}
            if unknown:  # v3's image schema has no position: the order of the list is the order
                raise WooError(400, "rest_invalid_param", f"unexpected image fields {sorted(unknown)}")
            if image.get("id"):
                if image["id"] not in self.media:
                    raise WooError(400, "woocommerce_product_invalid_image_id",
                                   f"#{image['id']} is an invalid image ID.")
                stored.append(self.media[image["id"]])
                continue
            src = str(image.get("src") or "")
            parsed = urlsplit(src)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise WooError(400, "woocommerce_product_image_upload_error", f"Invalid URL {src}.")
            if src in self.unreachable:
                raise WooError(400, "woocommerce_product_image_upload_error", f"Error getting remote image {src}.")
            self.downloads.append(src)
            media_id = self.new_id()
            filename = parsed.path.rsplit("/", 1)[-1] or f"image-{media_id}"
            self.media[media_id] = {"id": media_id, "src": f"{self.url}/wp-content/uploads/{media_id}/{filename}",
                                    "name": image.get("name") or filename.rsplit(".", 1)[0],
                                    "alt": str(image.get("alt") or "")}
            stored.append(self.media[media_id])
        return [dict(m) for m in stored]

    def _create_product(self, item: dict[str, Any]) -> dict[str, Any]:
        values = self._fields(item)
        self._check_sku(values.get("sku"), None)
        product = {"id": self.new_id(), "name": "", "type": "simple", "status": "publish", "sku": "",
                   "regular_price": "", "manage_stock": False, "stock_quantity": None, "variations": [],
                   "attributes": [], "categories": [], "images": [], "date_modified_gmt": now_gmt(), **values}
        self.products[product["id"]] = product
        return product

    def _update_product(self, item: dict[str, Any]) -> dict[str, Any]:
        product = self._product(_int(str(item.get("id", ""))))
        values = self._fields(item)
        self._check_sku(values.get("sku"), product["id"])
        product.update(values, date_modified_gmt=now_gmt())
        return product

    def _create_variation(self, parent: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        values = self._fields(item)
        self._check_sku(values.get("sku"), None)
        variation = {"id": self.new_id(), "sku": "", "regular_price": "", "manage_stock": False,
                     "stock_quantity": None, "attributes": [], **values}
        self.variations.setdefault(parent["id"], {})[variation["id"]] = variation
        parent["variations"].append(variation["id"])
        return variation

    def _update_variation(self, parent: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        variation_id = _int(str(item.get("id", "")))
        variation = self.variations.get(parent["id"], {}).get(variation_id)
        if variation is None:
            raise WooError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        values = self._fields(item)
        self._check_sku(values.get("sku"), variation_id)
        variation.update(values)
        return variation

    def _batch(self, body: Any, create: Callable[[dict[str, Any]], dict[str, Any]],
               update: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > BATCH_LIMIT:
            raise WooError(413, "woocommerce_rest_request_entity_too_large",
                           f"Unable to accept more than {BATCH_LIMIT} items for this request.")
        answer: dict[str, list[Any]] = {}
        for action, function in (("create", create), ("update", update)):
            for item in body.get(action) or []:
                try:
                    answer.setdefault(action, []).append(function(item))
                except WooError as error:
                    answer.setdefault(action, []).append({"id": item.get("id", 0), "error": error.body()})
        return answer

    # --- product categories ---------------------------------------------------------------------

    def add_category(self, name: str, parent: int = 0) -> dict[str, Any]:
        """A category the shop owner made (not through the API)."""
        with self.lock:
            return self._create_category({"name": name, "parent": parent})

    def category_path(self, category_id: int) -> str:
        """The shop category's names from the root, unescaped, joined by ``|`` (for assertions)."""
        names = []
        while category_id:
            category = self.categories[category_id]
            names.append(html.unescape(category["name"]))
            category_id = category["parent"]
        return "|".join(reversed(names))

    def _categories_route(self, method: str, rest: list[str], query: dict[str, str],
                          body: Any) -> tuple[int, dict[str, str], Any]:
        if not rest and method == "GET":
            rows = list(self.categories.values())
            if "parent" in query:
                parent = _int(query["parent"], "parent")
                rows = [c for c in rows if c["parent"] == parent]
            if query.get("search"):
                needle = query["search"].casefold()
                rows = [c for c in rows if needle in html.unescape(c["name"]).casefold()]
            orderby = query.get("orderby", "name")
            if orderby not in ("id", "name", "slug"):
                raise WooError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
            rows.sort(key=lambda c: (c[orderby], c["id"]), reverse=query.get("order", "asc") == "desc")
            return self._page(rows, query)
        if not rest and method == "POST":
            return 201, {}, self._create_category(body)
        if rest == ["batch"] and method == "POST":
            return 200, {}, self._batch(body, self._create_category, self._update_category)
        if len(rest) == 1 and method == "GET":
            return 200, {}, self._category(_int(rest[0]))
        if len(rest) == 1 and method in ("PUT", "POST"):
            return 200, {}, self._update_category({**body, "id": _int(rest[0])})
        raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _category(self, category_id: int) -> dict[str, Any]:
        if category_id not in self.categories:
            raise WooError(404, "woocommerce_rest_term_invalid", "Resource does not exist.")
        return self.categories[category_id]

    def _category_values(self, item: Any, *, creating: bool) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
        unknown = set(item) - {"id", "name", "slug", "parent", "description", "display", "menu_order"}
        if unknown:
            raise WooError(400, "rest_invalid_param", f"unexpected fields {sorted(unknown)}")
        if creating and not item.get("name"):
            raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): name",
                           {"params": ["name"]})
        values = {k: v for k, v in item.items() if k != "id"}
        if "name" in values:
            if not isinstance(values["name"], str) or not values["name"].strip():
                raise WooError(400, "rest_invalid_param", "Invalid parameter(s): name")
            # WordPress's pre_term_name filters: tags stripped, then &, < and > stored as entities.
            values["name"] = html.escape(re.sub(r"<[^>]*>", "", values["name"]).strip(), quote=False)
        if "parent" in values:
            if not isinstance(values["parent"], int):
                raise WooError(400, "rest_invalid_param", "Invalid parameter(s): parent")
            if values["parent"] and values["parent"] not in self.categories:
                raise WooError(404, "woocommerce_rest_term_invalid", "Parent resource does not exist.")
        return values

    def _same_place(self, name: str, parent: int, own_id: int | None) -> dict[str, Any] | None:
        for category in self.categories.values():
            if category["parent"] == parent and category["name"].casefold() == name.casefold() \
                    and category["id"] != own_id:
                return category
        return None

    def _unique_slug(self, slug: str, parent: int) -> str:
        taken = {c["slug"] for c in self.categories.values()}
        if slug not in taken:
            return slug
        if parent:  # wp_unique_term_slug: the parent's slug first, then a number
            slug = f"{slug}-{self.categories[parent]['slug']}"
        candidate, number = slug, 2
        while candidate in taken:
            candidate, number = f"{slug}-{number}", number + 1
        return candidate

    def _create_category(self, item: Any) -> dict[str, Any]:
        values = self._category_values(item, creating=True)
        parent = values.get("parent", 0)
        existing = self._same_place(values["name"], parent, None)
        if existing is not None:
            raise WooError(400, "term_exists", "A term with the name provided already exists with this parent.",
                           {"resource_id": existing["id"]})
        if values.get("slug"):
            slug = _sanitize_title(str(values["slug"]))
            if any(c["slug"] == slug for c in self.categories.values()):
                raise WooError(400, "duplicate_term_slug", f"The slug \u201c{slug}\u201d is already in use by "
                                                           "another term.")
        else:
            slug = self._unique_slug(_sanitize_title(html.unescape(values["name"])) or "category", parent)
        category = {"id": self.new_id(), "name": values["name"], "slug": slug, "parent": parent,
                    "description": values.get("description", ""), "display": values.get("display", "default"),
                    "image": None, "menu_order": values.get("menu_order", 0), "count": 0}
        self.categories[category["id"]] = category
        return category

    def _update_category(self, item: Any) -> dict[str, Any]:
        category = self._category(_int(str(item.get("id", "")) if isinstance(item, dict) else ""))
        values = self._category_values(item, creating=False)
        if values.get("parent") == category["id"]:
            raise WooError(400, "woocommerce_rest_term_invalid", "A term cannot be its own parent.")
        if values.get("slug"):
            slug = _sanitize_title(str(values["slug"]))
            if any(c["slug"] == slug and c["id"] != category["id"] for c in self.categories.values()):
                raise WooError(400, "duplicate_term_slug", "The slug is already in use by another term.")
            values["slug"] = slug
        category.update(values)  # the slug stays as it was unless given: links to the category keep working
        return category

    # --- orders ---------------------------------------------------------------------------------

    def _order(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            raise WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return self.orders[order_id]

    def _update_order(self, order_id: int, body: Any) -> dict[str, Any]:
        order = self._order(order_id)
        if not isinstance(body, dict) or set(body) - {"status", "meta_data", "customer_note"}:
            raise WooError(400, "rest_invalid_param", "unsupported order fields")
        if "status" in body:
            if body["status"] not in {"pending", "processing", "on-hold", "completed", "cancelled", "refunded",
                                      "failed"}:
                raise WooError(400, "rest_invalid_param", "Invalid parameter(s): status")
            order["status"] = body["status"]
        for meta in body.get("meta_data") or []:
            existing = [m for m in order["meta_data"] if m["key"] == meta["key"]]
            if existing:
                existing[0]["value"] = meta["value"]
            else:
                order["meta_data"].append({"id": self.new_id(), "key": meta["key"], "value": meta["value"]})
        order["date_modified_gmt"] = now_gmt()
        return order


def _sanitize_title(text: str) -> str:
    """WordPress's sanitize_title for plain names: accents removed, lower case, hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _int(value: str, name: str = "id") -> int:
    if not value.isdigit():
        raise WooError(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
    return int(value)


@contextmanager
def fake_woocommerce() -> Iterator[FakeWoo]:
    shop = FakeWoo()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with shop.lock:
                shop.requests.append((self.command, url.path))
                fault = shop.take_fault(url.path)
            try:
                if fault is not None:
                    status, headers = fault
                    code = "woocommerce_rest_too_many_requests" if status == 429 else "internal_server_error"
                    raise WooError(status, code, "Fault injected by the test.", {"headers": headers})
                self._authenticate(query)
                body = json.loads(raw) if raw else {}
                status, headers, payload = shop.handle(self.command, url.path, query, body)
            except WooError as error:
                headers = error.extra.pop("headers", {})
                status, payload = error.status, error.body()
            except ValueError:
                status, headers, payload = 400, {}, WooError(400, "rest_invalid_json", "Invalid JSON body.").body()
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json; charset=UTF-8", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authenticate(self, query: dict[str, str]) -> None:
            header = self.headers.get("Authorization", "")
            key = secret = ""
            if header.startswith("Basic "):
                with suppress(ValueError):
                    key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            if not (hmac.compare_digest(key.encode(), KEY.encode())
                    and hmac.compare_digest(secret.encode(), SECRET.encode())):
                raise WooError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    shop.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield shop
    finally:
        server.shutdown()
        server.server_close()
