"""The firewall as Django middleware: the platform's own traffic passes, attacks get 403 with an incident."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bindery.catalog.actions import do_create_price_list, do_create_warehouse
from bindery.catalog.models import Product
from bindery.control.models import LocalTenant
from bindery.security.actions import do_create_api_token
from bindery.security.models import SecurityEvent, SecurityEventKind
from bindery.security.waf.exclusions import for_view
from tests.conftest import HttpsClient

pytestmark = pytest.mark.django_db(databases="__all__")
API = "/api/v1"
DESCRIPTION = ("<h2>Select Drop Earrings — Union Square</h2><p>By O'Brien &amp; Co., Via dell'Unione 1.</p>"
               "<p><a href=\"https://shop.example/care\">Care</a> <img src=\"/m/e.jpg\" alt=\"e\"></p>"
               "<table><tr><td>Drop</td><td>4 cm</td></tr></table><ul><li>Select from 3 colours</li></ul>")


@pytest.fixture
def token(tenant: LocalTenant) -> str:
    do_create_warehouse(tenant, "main", actor="test")
    do_create_price_list(tenant, "retail", "EUR", actor="test")
    return do_create_api_token(tenant, "erp", ["catalog:write", "catalog:read"], actor="test")[1]


def post(client: HttpsClient, path: str, body: Any, token: str) -> Any:
    return client.post(API + path, json.dumps(body), content_type="application/json", headers={"token": token})


def test_the_platforms_own_product_calls_pass(client: HttpsClient, token: str, tenant: LocalTenant) -> None:
    """HTML descriptions, Italian addresses and SQL-looking product names go through the API untouched."""
    product = {"sku": "E1", "name": "Select Drop Earrings — Union Square", "description_html": DESCRIPTION,
               "short_description": "O'Brien, Via dell'Unione 1", "manufacturer": "D'Angelo & Sons",
               "images": [{"url": "http://192.168.1.20/img/e1.jpg"}],
               "attributes": [{"attribute": "material", "value": "Sterling silver; 925"}],
               "prices": [{"price_list": "retail", "net": "10.00", "vat_rate": 22}]}
    assert post(client, "/products", product, token).status_code == 201
    bulk = {"items": [{**product, "sku": f"E{i}", "name": f"{product['name']} #{i}"} for i in range(2, 40)]}
    assert post(client, "/products/bulk", bulk, token).status_code == 200
    stored = Product.objects.for_tenant(tenant).get(sku="E1")
    assert stored.description_html == DESCRIPTION
    response = client.put(f"{API}/products/{stored.pk}", json.dumps({"description_html": DESCRIPTION + "<hr>"}),
                          content_type="application/json", headers={"token": token})
    assert response.status_code == 200
    assert client.get(f"{API}/products", {"q": "O'Brien, Via dell'Unione"}, headers={"token": token}).status_code == 200
    category = {"path_key": "Jewellery|Earrings", "description_html": DESCRIPTION}
    assert post(client, "/categories", category, token).status_code == 201
    assert not SecurityEvent.objects.filter(kind__in=[SecurityEventKind.WAF_BLOCK, SecurityEventKind.WAF_DETECT])


def test_an_attack_on_the_api_is_403_json_with_an_incident(client: HttpsClient, token: str,
                                                          tenant: LocalTenant) -> None:
    response = post(client, "/products", {"sku": "X", "name": "x' UNION SELECT password FROM auth_user--"}, token)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "blocked"
    assert body["incident"] in body["message"]
    assert not Product.objects.for_tenant(tenant).exists()
    event = SecurityEvent.objects.get(kind=SecurityEventKind.WAF_BLOCK)
    assert event.detail["incident"] == body["incident"]
    assert "sqli-libinjection" in event.detail["rules"]
    assert "arg:name" in event.detail["where"]


def test_html_in_a_field_that_does_not_declare_it_is_refused(client: HttpsClient, token: str) -> None:
    """The exclusion is per field: the same markup in ``name`` is blocked."""
    assert post(client, "/products", {"sku": "X", "name": "<script>alert(1)</script>"}, token).status_code == 403


def test_console_pages_get_an_html_refusal(client: HttpsClient) -> None:
    response = client.get("/login/", {"next": "javascript:alert(document.cookie)"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    incident = SecurityEvent.objects.get(kind=SecurityEventKind.WAF_BLOCK).detail["incident"]
    assert incident in response.content.decode()


def test_detect_mode_lets_through_and_records(client: HttpsClient, settings: Any) -> None:
    settings.BINDERY_WAF_MODE = "detect"
    response = client.get("/login/", {"next": "../../../../etc/passwd"})
    assert response.status_code != 403
    event = SecurityEvent.objects.get(kind=SecurityEventKind.WAF_DETECT)
    assert "lfi-traversal" in event.detail["rules"]


def test_off_mode_inspects_nothing(client: HttpsClient, settings: Any) -> None:
    settings.BINDERY_WAF_MODE = "off"
    assert client.get("/login/", {"next": "<script>alert(1)</script>"}).status_code != 403
    assert not SecurityEvent.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b"[" * 3000, b"<x>" * 10])
def test_malformed_bodies_are_a_clear_error_not_a_500(client: HttpsClient, token: str, body: bytes) -> None:
    response = client.post(API + "/products", body, content_type="application/json", headers={"token": token})
    assert response.status_code in (400, 403, 422)
    assert response.json()["code"]


def test_exclusions_are_found_on_the_ninja_operations() -> None:
    """The middleware finds the exclusion declared beside each product route (guards a django-ninja upgrade)."""
    from django.urls import resolve

    for path, method in ((f"{API}/products", "POST"), (f"{API}/products/bulk", "POST"),
                         (f"{API}/products/0190b2a4-0000-7000-8000-000000000000", "PUT"),
                         (f"{API}/categories", "POST")):
        exclusion = for_view(resolve(path).func, method)
        assert "xss" in exclusion.fields["description_html"], path
    assert not for_view(resolve(f"{API}/products").func, "GET").fields
