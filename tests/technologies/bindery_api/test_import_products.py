"""Import products wire format (WIRE.md section 3), with the body the Konga client really sends."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import pytest

from bindery.catalog.models import PriceList, Product, Warehouse
from bindery.control.models import LocalTenant
from bindery.technologies.bindery_api.import_products import (
    Group,
    ImportMode,
    ImportOptions,
    import_products,
)

pytestmark = pytest.mark.django_db(databases="__all__")
ACTOR = "test"


def konga_escape(text: str) -> str:
    """What the Konga script does before putting a value in its tree (the tree escapes again)."""
    return html.escape(text).encode("ascii", "xmlcharrefreplace").decode("ascii")


def konga_body(*products: dict[str, Any], encoding: str = "utf-8") -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<bindCommerceProducts Mode="full">\n  <Products>\n']
    for p in products:
        parts.append("    <Product>\n")
        for tag in ("Code", "Barcode", "Title", "DescriptionHtml", "ShortDescription", "Manufacturer"):
            if p.get(tag):
                parts.append(f"      <{tag}>{html.escape(konga_escape(p[tag]), quote=False)}</{tag}>\n")
        parts.append("      <Language>IT</Language>\n      <BarcodeKind>EAN</BarcodeKind>\n")
        parts.append(f"      <Prices><Price><ListCode>retail</ListCode><Currency>EUR</Currency><Vat>0.22</Vat>"
                     f"<NetPrice>{p.get('net', '10')}</NetPrice><GrossPrice>{p.get('gross', '12.2')}</GrossPrice>"
                     "<OverridePrice>0</OverridePrice><Override>0</Override></Price></Prices>\n")
        if p.get("category"):
            parts.append(f"      <Categories><Category>{html.escape(p['category'])}</Category></Categories>\n")
        parts.append(f"      <Qty>{p.get('qty', '3.000')}</Qty>\n      <Attributes />\n    </Product>\n")
    parts.append("  </Products>\n</bindCommerceProducts>\n")
    return "".join(parts).encode(encoding)


@pytest.fixture
def ready(tenant: LocalTenant) -> LocalTenant:
    from bindery.catalog.actions import do_create_price_list, do_create_warehouse
    do_create_warehouse(tenant, "main", name="Main", actor=ACTOR)
    do_create_price_list(tenant, "retail", "EUR", actor=ACTOR)
    assert PriceList.objects.for_tenant(tenant).exists()
    assert Warehouse.objects.for_tenant(tenant).exists()
    return tenant


def product(tenant: LocalTenant, sku: str) -> Product:
    return Product.objects.for_tenant(tenant).get(sku=sku)


def test_double_escaped_fields_are_unescaped_once(ready: LocalTenant) -> None:
    body = konga_body({"Code": "A&B \"1\"", "Title": "Caffè <forte> & dolce", "DescriptionHtml": "<p>è</p>",
                       "Manufacturer": "O'Neil", "category": "Casa|Cucina"})
    status, answer = import_products(ready, body, ImportOptions(), actor=ACTOR)
    assert status == 200, answer
    assert answer["results"][0]["outcome"] == "created"
    stored = product(ready, 'A&B "1"')
    assert stored.name == "Caffè <forte> & dolce"
    assert stored.description_html == "<p>è</p>"
    assert stored.manufacturer == "O'Neil"
    assert stored.quantity_available == Decimal(3)


def test_latin1_body_is_read_as_latin1_not_mojibake(ready: LocalTenant) -> None:
    body = konga_body({"Code": "L1", "Title": "x", "category": "Caffè|Tè"}, encoding="latin-1")
    status, answer = import_products(ready, body, ImportOptions(), actor=ACTOR)
    assert status == 200, answer
    assert product(ready, "L1").name == "x"


def test_modes_and_groups(ready: LocalTenant) -> None:
    import_products(ready, konga_body({"Code": "M1", "Title": "Old", "qty": "1"}), ImportOptions(), actor=ACTOR)
    create_only = ImportOptions(mode=ImportMode.CREATE)
    _, answer = import_products(ready, konga_body({"Code": "M1", "Title": "New"}, {"Code": "M2", "Title": "Two"}),
                                create_only, actor=ACTOR)
    assert [r["outcome"] for r in answer["results"]] == ["skipped", "created"]
    assert product(ready, "M1").name == "Old"
    update_only = ImportOptions(mode=ImportMode.UPDATE, groups=frozenset({Group.STOCK}))
    _, answer = import_products(ready, konga_body({"Code": "M1", "Title": "New", "qty": "9"},
                                                  {"Code": "M3", "Title": "Three"}), update_only, actor=ACTOR)
    assert [r["outcome"] for r in answer["results"]] == ["updated", "skipped"]
    assert product(ready, "M1").name == "Old"  # titles not considered
    assert product(ready, "M1").quantity_available == Decimal(9)
    assert not Product.objects.for_tenant(ready).filter(sku="M3").exists()


def test_bad_items_are_reported_and_others_stored(ready: LocalTenant) -> None:
    body = konga_body({"Code": "OK1", "Title": "fine"}, {"Title": "no code"}, {"Code": "BAD", "qty": "lots"})
    status, answer = import_products(ready, body, ImportOptions(), actor=ACTOR)
    assert status == 207
    assert [r["outcome"] for r in answer["results"]] == ["created", "error", "error"]
    assert answer["results"][2]["field"] == "Qty"
    assert Product.objects.for_tenant(ready).filter(sku="OK1").exists()


@pytest.mark.parametrize("body", [b"", b"<Documents/>", b"<bindCommerceProducts/>",
                                  b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><bindCommerceProducts/>'])
def test_unusable_bodies_are_refused_whole(ready: LocalTenant, body: bytes) -> None:
    status, answer = import_products(ready, body, ImportOptions(), actor=ACTOR)
    assert status == 400
    assert answer["message"]
    assert not Product.objects.for_tenant(ready).exists()
