"""The compiled mapping maps every record exactly as the reference ``map_record`` does, errors included."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bindery.technologies.files.mapping import RowError, compile_mapping, map_record
from bindery.technologies.files.schemas import Mapping

MAPPING = Mapping.model_validate({
    "fields": {"sku": {"column": "sku", "transforms": [{"kind": "trim"}]}, "name": {"column": "name"},
               "weight": {"column": "weight"}, "featured": {"column": "featured"}, "tags": {"column": "tags"},
               "categories": {"column": "cats"}, "images": {"column": "images"},
               "manufacturer": {"constant": "ACME"}, "barcode": {"column": "ean", "required": True}},
    "prices": [{"column": "price", "price_list": "retail", "vat_rate": "@vat",
                "transforms": [{"kind": "number", "decimal": ","}]},
               {"column": "cost", "price_list": "cost", "amount": "net"}],
    "stock": [{"column": "qty", "warehouse": "main"}, {"column": "qty2", "warehouse": "b"}],
    "attributes": [{"column": "size", "attribute": "Size", "kind": "variant"}],
})

CELLS: dict[str, list[str]] = {
    "sku": ["A1", " B2 ", "", "  "], "name": ["Pen", "", "Pad"], "weight": ["1.5", "", "x", "NaN"],
    "featured": ["yes", "no", "", "maybe"], "tags": ["a;b", "", ";;"], "cats": ["X|Y;Z", ""],
    "images": ["http://i/1.jpg;http://i/2.jpg", ""], "ean": ["400", "", " "], "price": ["10,50", "", "1.000,5", "ab"],
    "vat": ["22", "", "x"], "cost": ["3.2", "", "-"], "qty": ["4", "", "-2", "z"], "qty2": ["", "1"],
    "size": ["M", "", " "],
}


def outcome(function: Any, values: dict[str, str]) -> Any:
    try:
        return function(values)
    except RowError as error:
        return ("error", error.message, error.field, error.column)


@pytest.mark.parametrize("seed", range(5))
def test_compiled_mapping_equals_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    compiled = compile_mapping(MAPPING)
    for _ in range(400):
        values = {column: rng.choice(options) for column, options in CELLS.items()}
        if rng.random() < 0.05:
            values.pop(rng.choice(list(values)))  # a record missing a column
        assert outcome(compiled, values) == outcome(lambda v: map_record(MAPPING, v), values), values
