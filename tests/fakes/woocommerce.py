"""A stateful fake WooCommerce REST v3 shop: a real HTTP server thread on loopback.

Faithful to the published API where Bindery depends on it:

- consumer key / secret over HTTP Basic auth (401 ``woocommerce_rest_cannot_view`` otherwise);
- products (simple and variable) and variations stored with ids, ``?sku=`` (comma-separated),
  ``POST /products/batch`` and ``/products/<id>/variations/batch`` refusing more than 100 items
  with 413 ``woocommerce_rest_request_entity_too_large``, per-item errors for a duplicated SKU
  (``product_invalid_sku``);
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
import http.server
import json
import threading
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
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
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

    def fail(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After`` if given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self.lock:
            self.faults.extend([(status, headers)] * times)

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
        return {k: v for k, v in item.items() if k != "id"}

    def _create_product(self, item: dict[str, Any]) -> dict[str, Any]:
        values = self._fields(item)
        self._check_sku(values.get("sku"), None)
        product = {"id": self.new_id(), "name": "", "type": "simple", "status": "publish", "sku": "",
                   "regular_price": "", "manage_stock": False, "stock_quantity": None, "variations": [],
                   "attributes": [], "date_modified_gmt": now_gmt(), **values}
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
                fault = shop.faults.pop(0) if shop.faults else None
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
