"""Helpers for the connector-URL tests: nodes, connectors, node tokens and Konga-style bodies."""

from __future__ import annotations

import base64
import html
from typing import Any

from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node
from bindery.integration.models import Connector, Node
from bindery.security.actions import do_add_ip_rule, do_create_api_token

BASE = "/api/connectors"
LEGACY_PASSWORD = "erp-secret-password-1"


def api_node(tenant: LocalTenant, name: str = "ERP", technology: str = "bindery_api") -> Node:
    return do_create_node(tenant, name, technology, actor="test")


def connector(tenant: LocalTenant, node: Node, ctype: str, name: str | None = None, **options: Any) -> Connector:
    return do_create_connector(tenant, name or f"{node.name} {ctype}", node, ctype, actor="test", **options)


def node_token(tenant: LocalTenant, node: Node, *scopes: str, **kwargs: Any) -> str:
    _, plaintext = do_create_api_token(tenant, f"{node.name} token", list(scopes), node=node, actor="test", **kwargs)
    return plaintext


def legacy_node(tenant: LocalTenant, *, login: str = "erp-user", allow: tuple[str, ...] = ("192.0.2.0/24",),
                name: str = "Old ERP") -> Node:
    node = do_create_node(tenant, name, "legacy_erp", credentials={"login": login, "password": LEGACY_PASSWORD},
                          actor="test")
    for network in allow:
        do_add_ip_rule(tenant, "allow", network, node=node, actor="test")
    return node


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def konga_escape(text: str) -> str:
    """What the Konga script does before putting a value in its tree (the tree escapes again)."""
    return html.escape(text).encode("ascii", "xmlcharrefreplace").decode("ascii")


def konga_product(code: str, *, title: str = "", description: str = "", qty: str | None = None,
                  net: str = "10", gross: str = "12.2", parent: str = "", category: str = "") -> str:
    parts = ["    <Product>\n", f"      <Code>{html.escape(konga_escape(code), quote=False)}</Code>\n"]
    if title:
        parts.append(f"      <Title>{html.escape(konga_escape(title), quote=False)}</Title>\n")
    if description:
        parts.append(f"      <DescriptionHtml>{html.escape(konga_escape(description), quote=False)}"
                     "</DescriptionHtml>\n")
    if parent:
        parts.append(f"      <ParentCode>{html.escape(konga_escape(parent), quote=False)}</ParentCode>\n")
    parts.append("      <Language>IT</Language>\n      <BarcodeKind>EAN</BarcodeKind>\n")
    parts.append(f"      <Prices><Price><ListCode>retail</ListCode><Currency>EUR</Currency><Vat>0.22</Vat>"
                 f"<NetPrice>{net}</NetPrice><GrossPrice>{gross}</GrossPrice>"
                 "<OverridePrice>0</OverridePrice><Override>0</Override></Price></Prices>\n")
    if category:
        parts.append(f"      <Categories><Category>{html.escape(category, quote=False)}</Category></Categories>\n")
    if qty is not None:
        parts.append(f"      <Qty>{qty}</Qty>\n")
    parts.append("      <Attributes />\n    </Product>\n")
    return "".join(parts)


def konga_body(*products: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<bindCommerceProducts Mode="full">\n  <Products>\n'
            + "".join(products) + "  </Products>\n</bindCommerceProducts>\n").encode("utf-8")
