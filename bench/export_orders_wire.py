"""Benchmark: bindCommerce XML export serializer throughput (documents/s).

    .venv/bin/python bench/export_orders_wire.py [--orders N] [--rows R]

Serializes N synthetic Document trees (R rows each, every WIRE.md element present, values
with characters that need escaping) with ``xml_from_tree`` -- the streaming writer the export
uses -- and, in the same run, the same trees built as ``xml.etree.ElementTree`` elements and
dumped with ``tostring`` (the plain baseline; lxml is not a dependency). Prints both rates and
the ratio. Database reads are not included: this measures the wire serializer only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bindery.settings")

import django

django.setup()

from bindery.technologies.bindery_api.export_orders import csv_header, xml_from_tree  # noqa: E402


def synthetic_tree(number: int, rows: int) -> list[tuple[str, Any]]:
    groups: dict[str, list[tuple[str, Any]]] = {}
    row_leaves: list[tuple[str, Any]] = []
    for column in csv_header():
        group, _, name = column.partition("_")
        value = f"{name} {number} <&> è"
        if group == "Row":
            if name.startswith("ProductDimensions_"):
                dims = next((v for n, v in row_leaves if n == "ProductDimensions"), None)
                if dims is None:
                    dims = []
                    row_leaves.append(("ProductDimensions", dims))
                dims.append((name.removeprefix("ProductDimensions_"), "12.5"))
            else:
                row_leaves.append((name, value))
        else:
            groups.setdefault(group, []).append((name, value))
    tree: list[tuple[str, Any]] = []
    for group in ("General", "Customer", "Delivery", "Payments"):
        tree.append((group, groups[group]))
    tree.append(("Rows", [row_leaves] * rows))
    for group in ("Amounts", "Commission", "Shipping"):
        tree.append((group, groups[group]))
    return tree


def etree_leaves(parent: ET.Element, leaves: list[tuple[str, Any]]) -> None:
    for name, value in leaves:
        child = ET.SubElement(parent, name)
        if isinstance(value, list):
            etree_leaves(child, value)
        else:
            child.text = value


def etree_dump(trees: list[list[tuple[str, Any]]]) -> int:
    root = ET.Element("Documents")
    ET.SubElement(root, "totalDocumentsFounded").text = str(len(trees))
    for tree in trees:
        document = ET.SubElement(root, "Document")
        for group, content in tree:
            element = ET.SubElement(document, group)
            if group == "Rows":
                for row in content:
                    etree_leaves(ET.SubElement(element, "Row"), row)
            else:
                etree_leaves(element, content)
    return len(ET.tostring(root, encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args()
    trees = [synthetic_tree(n, args.rows) for n in range(args.orders)]
    start = time.perf_counter()
    size = sum(len(piece.encode()) for tree in trees for piece in xml_from_tree(tree))
    ours = time.perf_counter() - start
    start = time.perf_counter()
    baseline_size = etree_dump(trees)
    baseline = time.perf_counter() - start
    print(f"orders={args.orders} rows/order={args.rows}")
    print(f"wire serializer: {args.orders / ours:,.0f} documents/s ({size / 1e6:.1f} MB)")
    print(f"ElementTree build+tostring: {args.orders / baseline:,.0f} documents/s ({baseline_size / 1e6:.1f} MB)")
    print(f"ratio (wire / baseline): {baseline / ours:.2f}")


if __name__ == "__main__":
    main()
