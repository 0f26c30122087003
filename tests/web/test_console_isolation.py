"""Tenant isolation of the console, generated over every URL pattern of ``bindery.web.urls``.

Signed in as tenant A: every page taking an object id answers 404 for tenant B's ids (GET and
POST) and changes none of B's rows; every page without an id (lists, exports) shows none of B's
rows, even when asked for them by name. A new page is covered automatically; a new kind of id
in a URL fails the suite until ``B_IDS`` says which of B's objects to probe it with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, reverse

from bindery.accounts.actions import do_create_operator, do_create_user
from bindery.accounts.links import do_invite
from bindery.accounts.models import Operator, PasskeyCredential, Role, SupportGrant, User
from bindery.accounts.support import do_grant_support_access
from bindery.catalog.models import Category, Price, PriceList, Product, StockLevel, Warehouse
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node, do_create_procedure, do_enqueue_run
from bindery.integration.models import Connector, Node, Procedure, ProcedureStep, Run
from bindery.integration.runner import execute_run
from bindery.sales.models import Customer, Order, Shipment
from bindery.security.actions import do_add_ip_rule, do_create_api_token
from bindery.security.models import ApiToken
from bindery.web import urls as web_urls
from tests.conftest import PASSWORD, HttpsClient
from tests.web.console_data import Catalog, Sales, make_catalog, make_sales, signed_in

pytestmark = pytest.mark.django_db(databases="__all__")

B_SKU = "GLOBEX-SECRET"
B_EMAIL = "secret.buyer@globex.example"
B_TRACKING = "GLOBEX-TRACK-777"


@dataclass(frozen=True)
class TenantB:
    catalog: Catalog
    sales: Sales
    token: ApiToken
    member: User


def _b_integration(b: TenantB) -> tuple[Connector, Procedure, Run, Node]:
    """B's connector, procedure and a finished run of it, made through the actions on first use."""
    tenant = b.token.tenant
    connector = Connector.objects.for_tenant(tenant).filter(name="globex-connector").first()
    if connector is None:
        node = do_create_node(tenant, "globex-node", "hub", actor="test")
        connector = do_create_connector(tenant, "globex-connector", node, "stock_copy",
                                        config={"source_warehouse": "globex-wh", "target_warehouse": "x"},
                                        actor="test")
        do_create_procedure(tenant, "globex-procedure", [connector], actor="test")
        execute_run(do_enqueue_run(connector=connector, actor="test").pk, heartbeat=False)
    return (connector, Procedure.objects.for_tenant(tenant).get(name="globex-procedure"),
            Run.objects.for_tenant(tenant).get(connector=connector), connector.node)


def _b_grant(b: TenantB) -> SupportGrant:
    operator = Operator.objects.filter(email="ops@bindery.example").first() or do_create_operator(
        "ops@bindery.example", PASSWORD, actor="test")
    return do_grant_support_access(operator, b.token.tenant, "ticket 42: look at runs", 1)


# Which of B's objects a URL keyword is probed with.
B_IDS: dict[str, Callable[[TenantB], object]] = {
    "product_id": lambda b: b.catalog.product.pk,
    "order_id": lambda b: b.sales.order.pk,
    "customer_id": lambda b: b.sales.customer.pk,
    "token_id": lambda b: b.token.pk,
    "connector_id": lambda b: _b_integration(b)[0].pk,
    "procedure_id": lambda b: _b_integration(b)[1].pk,
    "run_id": lambda b: _b_integration(b)[2].pk,
    "node_id": lambda b: _b_integration(b)[3].pk,
    "member_id": lambda b: b.member.pk,
    "rule_id": lambda b: do_add_ip_rule(b.token.tenant, "deny", "203.0.113.0/24", actor="test").pk,
    "grant_id": lambda b: _b_grant(b).pk,
    "passkey_id": lambda b: PasskeyCredential.objects.create(
        tenant=b.token.tenant, user=b.member, credential_id="b-passkey", public_key=b"x", name="B's key").pk,
    "link_id": lambda b: do_invite(b.token.tenant, "invited@globex.example", Role.VIEWER, actor="test").pk,
}
# Pages opened by an e-mailed link's secret, not by a tenant's id: the secret is the authority.
LINK_PAGES = {"invitation", "password_reset_confirm"}
# Views whose method check runs before the lookup: a GET is 405 there, which reveals nothing either.
POST_ONLY = {"token_revoke", "passkey_remove"}
# A body with every field the console's forms take, filled with plausible values.
POST_BODY = {"name": "A's", "quantity": "1", "net": "1", "gross": "1", "vat_rate": "0", "min_quantity": "1",
             "marked": "1", "carrier": "UPS", "tracking_number": "A-1", "status": "shipped", "weight_unit": "kg",
             "key": "a-key", "currency": "EUR", "relationship": "own", "kind": "own", "path_key": "A",
             "confirm": "yes", "change": "remove", "interval_minutes": "5", "technology": "hub",
             "connector_type": "stock_copy"}


def _patterns() -> list[URLPattern]:
    patterns = [p for p in web_urls.urlpatterns if isinstance(p, URLPattern)]
    assert len(patterns) == len(web_urls.urlpatterns), "nested includes: walk them too"
    return sorted(patterns, key=lambda p: str(p.name))


def _keywords(pattern: URLPattern) -> list[str]:
    return sorted(pattern.pattern.converters)  # type: ignore[attr-defined]  # RoutePattern


PATTERNS = _patterns()
WITH_IDS = [p for p in PATTERNS if _keywords(p) and p.name not in LINK_PAGES]
WITHOUT_IDS = [p for p in PATTERNS if not _keywords(p)]


@pytest.fixture
def tenant_b(other_tenant: LocalTenant) -> TenantB:
    """Tenant B's catalog and sales, made through the actions, with names no A page may show."""
    catalog = make_catalog(other_tenant, sku=B_SKU, name="Globex secret product", category="Globex|Secret",
                           warehouse="globex-wh", price_list="globex-list")
    sales = make_sales(other_tenant, number="GLOBEX-ORDER-777", email=B_EMAIL, tracking=B_TRACKING)
    token, _ = do_create_api_token(other_tenant, "globex-token", ["catalog:read"], actor="test")
    member = do_create_user(other_tenant, "secret.member@globex.example", "correct horse battery staple",
                            role=Role.VIEWER, actor="test")
    return TenantB(catalog, sales, token, member)


@pytest.fixture
def client_a(tenant: LocalTenant) -> HttpsClient:
    """Tenant A's owner, signed in, with A's own data beside B's."""
    make_catalog(tenant)
    make_sales(tenant)
    return signed_in(tenant)


def b_markers(b: TenantB) -> list[str]:
    """Text that appears only in B's rows: names, keys and ids."""
    return [B_SKU, f"{B_SKU}-RED", "Globex secret product", "Globex|Secret", "globex-wh", "globex-list", B_EMAIL,
            "GLOBEX-ORDER-777", b.sales.order.hub_order_key, B_TRACKING, "globex-token",
            str(b.catalog.product.pk), str(b.catalog.variant.pk), str(b.sales.order.pk), str(b.sales.customer.pk),
            str(b.sales.shipment.pk), str(b.token.pk), "secret.member@globex.example", "globex-node",
            "globex-connector", "globex-procedure"]


def snapshot(tenant: LocalTenant) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tenant the console can reach."""
    models = [Product, Price, StockLevel, Category, Warehouse, PriceList, Customer, Order, Shipment, ApiToken,
              Node, Connector, Procedure, ProcedureStep, Run]
    return {model.__name__: sorted(model.objects.for_tenant(tenant).values(),  # type: ignore[attr-defined]
                                   key=lambda row: str(row["id"])) for model in models}


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_every_console_url_is_covered() -> None:
    """Every URL keyword has a probe, and the walk sees the data pages (it is not empty)."""
    unknown = {kw for p in WITH_IDS for kw in _keywords(p)} - set(B_IDS)
    assert not unknown, f"add these URL keywords to B_IDS: {unknown}"
    names = {p.name for p in PATTERNS}
    assert {"product_detail", "order_detail", "customer_detail", "products_csv", "orders_csv"} <= names


@pytest.mark.parametrize("pattern", WITH_IDS, ids=[str(p.name) for p in WITH_IDS])
def test_pages_with_ids_answer_404_for_the_other_tenants_ids(
        pattern: URLPattern, tenant_b: TenantB, client_a: HttpsClient, other_tenant: LocalTenant) -> None:
    """GET and POST with B's ids answer 404 (A's session) and leave B's rows untouched."""
    url = reverse(f"web:{pattern.name}", kwargs={kw: B_IDS[kw](tenant_b) for kw in _keywords(pattern)})
    before = snapshot(other_tenant)
    got = client_a.get(url)
    assert got.status_code == (405 if pattern.name in POST_ONLY else 404), url
    posted = client_a.post(url, POST_BODY)
    assert posted.status_code == 404, url
    for marker in b_markers(tenant_b)[:11]:
        assert marker not in body_of(got) + body_of(posted), (url, marker)
    assert snapshot(other_tenant) == before


@pytest.mark.parametrize("pattern", WITHOUT_IDS, ids=[str(p.name) for p in WITHOUT_IDS])
def test_pages_without_ids_never_show_the_other_tenants_rows(
        pattern: URLPattern, tenant_b: TenantB, client_a: HttpsClient) -> None:
    """Lists and exports, plain or searched for B's own names, contain none of B's rows."""
    url = reverse(f"web:{pattern.name}")
    _b_integration(tenant_b)  # B's nodes, connectors and procedures exist, so the lists could leak them
    markers = b_markers(tenant_b)
    probes: list[dict[str, str]] = [{}, {"q": B_SKU}, {"q": B_EMAIL}, {"q": tenant_b.sales.order.hub_order_key},
                                    {"category": str(tenant_b.catalog.product.pk)}, {"deleted": "all"}]
    for params in probes:
        response = client_a.get(url, params)
        assert response.status_code in (200, 302, 400, 405), (url, params, response.status_code)
        body = body_of(response)
        for echoed in params.values():  # the page repeats the search (field value, export link)
            body = body.replace(echoed, "").replace(echoed.replace("@", "%40"), "")
        for marker in markers:
            assert marker not in body, (url, params, marker)


@pytest.mark.parametrize(("url", "a_text"), [("/catalog/products/", "SHIRT"), ("/catalog/products.csv", "SHIRT"),
                                            ("/sales/orders.csv", "1001"), ("/sales/shipments.csv", "TRACK-1"),
                                            ("/sales/customers.csv", "mario.rossi@example.com")],
                         ids=["products", "products-csv", "orders-csv", "shipments-csv", "customers-csv"])
def test_lists_do_show_the_signed_in_tenants_rows(url: str, a_text: str, tenant_b: TenantB,
                                                  client_a: HttpsClient) -> None:
    """The isolation walk is meaningful: A's own rows are in A's lists."""
    assert a_text in body_of(client_a.get(url))
