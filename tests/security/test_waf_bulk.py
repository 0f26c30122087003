"""The firewall does not fail open on large requests: every value is inspected, or the request is refused.

An attacker used to pad a body past 5,000 values (or the 50 ms budget) and put the payload at
the end. These tests send 10,000-product bodies, JSON to the bulk API and XML to the connector
import, through the real middleware: a payload in the last item is blocked, the same bodies
without it pass, and a request the firewall cannot inspect in full is refused with its reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from bindery.security.models import SecurityEvent, SecurityEventKind
from bindery.security.waf import middleware
from bindery.security.waf.engine import Firewall
from bindery.security.waf.exclusions import Exclusion
from tests.conftest import HttpsClient
from tests.security.bulk_bodies import PAYLOADS, PRODUCTS, json_body, xml_body

pytestmark = pytest.mark.django_db(databases="__all__")
BULK = "/api/v1/products/bulk"
XML_IMPORT = "/api/connectors/00000000-0000-0000-0000-000000000000/products"
def send(client: HttpsClient, path: str, body: bytes, content_type: str) -> Any:
    return client.post(path, body, content_type=content_type, REMOTE_ADDR="198.51.100.40")


def waf_events() -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind__in=[SecurityEventKind.WAF_BLOCK, SecurityEventKind.WAF_DETECT]))


BODIES = {"json": (BULK, json_body, "application/json"), "xml": (XML_IMPORT, xml_body, "text/xml")}


@pytest.mark.parametrize("attack", sorted(PAYLOADS))
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_a_payload_in_the_last_of_10000_products_is_blocked(client: HttpsClient, kind: str, attack: str) -> None:
    path, make, content_type = BODIES[kind]
    response = send(client, path, make(attack), content_type)
    assert response.status_code == 403, response.content[:300]
    answer = response.json()
    assert answer["code"] == "blocked"
    (event,) = waf_events()
    assert event.kind == SecurityEventKind.WAF_BLOCK
    assert event.detail["incident"] == answer["incident"]
    assert any(rule.startswith(attack) for rule in event.detail["rules"]), event.detail["rules"]
    assert event.detail["uninspected"] == ""


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_the_same_10000_products_without_the_payload_pass(client: HttpsClient, kind: str) -> None:
    """HTML descriptions, "O'Brien, Via dell'Unione 1", "Select Drop Earrings — Union Square": not blocked.

    The firewall lets the request through; the API then asks for a token (401), which proves
    the request reached the route.
    """
    path, make, content_type = BODIES[kind]
    response = send(client, path, make(), content_type)
    assert response.status_code == 401, response.content[:300]
    assert waf_events() == []


def test_a_route_without_a_bulk_declaration_refuses_what_it_cannot_inspect(client: HttpsClient) -> None:
    """10,000 products to the single-product route: over its 5,000 values, so refused with the reason."""
    response = send(client, "/api/v1/products", json_body("sqli"), "application/json")
    assert response.status_code == 413
    answer = response.json()
    assert (answer["code"], answer["reason"]) == ("not_inspected", "more than 5,000 values (this route's limit)")
    (event,) = waf_events()
    assert event.kind == SecurityEventKind.WAF_BLOCK
    assert event.detail["incident"] == answer["incident"]
    assert event.detail["reason"].startswith("not inspected in full: more than 5,000 values")


def test_a_body_over_the_platforms_limit_is_refused_not_passed_uninspected(client: HttpsClient) -> None:
    body = b'{"items": [' + b'{"name": "x"},' * 800_000 + b'{"name": "x"}]}'
    assert len(body) > 10 * 1024 * 1024
    response = send(client, BULK, body, "application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"  # the API's own code for it
    assert response.json()["reason"].startswith(f"body of {len(body):,} bytes not read")
    assert waf_events()[0].kind == SecurityEventKind.WAF_BLOCK


def tight(budget_per_mib: float, uninspected: str = "refuse") -> Any:
    def exclusion(request: Any) -> tuple[Exclusion, str]:
        return Exclusion(budget_per_mib=budget_per_mib, max_values=10**6, uninspected=uninspected), "products/bulk"
    return exclusion


def test_a_request_past_its_budget_is_refused_with_the_reason(client: HttpsClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk route whose allowance runs out refuses the rest rather than letting it through unread."""
    monkeypatch.setattr(middleware, "_exclusion", tight(0.0))
    monkeypatch.setattr(middleware, "firewall", lambda **kw: Firewall(paranoia=1, threshold=5, budget=0.001))
    response = send(client, BULK, json_body("sqli"), "application/json")
    assert response.status_code == 413
    reason = response.json()["reason"]
    assert reason.startswith("inspection budget of 1 ms CPU ran out after "), reason
    assert waf_events()[0].detail["uninspected"] == reason


def test_only_a_route_that_says_so_lets_an_uninspected_request_through(client: HttpsClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(middleware, "_exclusion", tight(0.0, uninspected="pass"))
    monkeypatch.setattr(middleware, "firewall", lambda **kw: Firewall(paranoia=1, threshold=5, budget=0.001))
    response = send(client, BULK, json_body(), "application/json")
    assert response.status_code == 401  # reached the route
    (event,) = waf_events()
    assert event.kind == SecurityEventKind.WAF_DETECT
    assert event.detail["reason"].startswith("not inspected in full: inspection budget")


def test_a_failing_firewall_refuses_the_request(client: HttpsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deny by default: an exception inside the firewall used to let the request through uninspected."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in a detector")

    monkeypatch.setattr(Firewall, "inspect", broken)
    response = send(client, "/api/v1/products", b'{"sku": "A"}', "application/json")
    assert response.status_code == 403
    (event,) = waf_events()
    assert event.detail["reason"] == "the firewall failed (RuntimeError)"
    assert event.detail["incident"] == response.json()["incident"]


def test_identical_values_are_matched_once_and_codes_are_skipped() -> None:
    """Why bulk bodies are affordable: 10,000 repeated values cost one match, EANs and prices none."""
    from bindery.security.waf.request import WafRequest

    body = json_body()
    request = WafRequest("POST", BULK, "", (("Content-Type", "application/json"), ("User-Agent", "erp/1.0")),
                         body, len(body))
    route = Exclusion(fields={"description_html": frozenset({"xss"})}, max_values=10**6)
    verdict = Firewall(paranoia=1, budget=60).inspect(request, route)
    assert not verdict.uninspected
    assert not verdict.blocked
    assert verdict.values > 70_000
    # SKU, name, description and image URL are distinct per product; the rest repeats or is a number
    assert verdict.inspected < 4 * PRODUCTS + 50
