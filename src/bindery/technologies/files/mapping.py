"""Column → hub field mapping: turn one file record into a ``ProductData``, or a row error naming the field.

A :class:`~bindery.technologies.files.schemas.Mapping` says, per hub field, which column (or
constant) feeds it and which transforms apply, in order: ``trim``, ``upper``, ``lower``,
``replace``, ``default`` (when blank), ``lookup`` (a table), ``number`` (``1.234,50`` with a
locale's separators), ``date`` (strptime formats, to ISO 8601), ``split`` (a list). Prices per
list, stock per warehouse and attribute values are lists of rules. Record filters (AND or OR)
decide which records are imported at all. A blank cell means "not given": the hub keeps its value.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from bindery.catalog.payloads import AttributeValueData, ImageData, PriceData, ProductData, StockData
from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.schemas import FieldRule, FilterRule, Mapping, Transform

NUMBER_FIELDS = {"weight", "length", "width", "height", "quantity_available", "quantity_arriving"}
BOOL_WORDS = {"1": True, "true": True, "yes": True, "y": True, "si": True, "sì": True, "x": True,
              "0": False, "false": False, "no": False, "n": False, "": False}


class RowError(Exception):
    """A record that cannot be mapped; ``field`` is the hub field, ``column`` the file column."""

    def __init__(self, message: str, *, field: str, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.column = column


def parse_number(text: str, decimal: str = ".", thousands: str = "") -> Decimal:
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if thousands:
        cleaned = cleaned.replace(thousands, "")
    if decimal != ".":
        if "." in cleaned and thousands != ".":
            raise ValueError(f"{text[:40]!r} is not a number with {decimal!r} as decimal separator")
        cleaned = cleaned.replace(decimal, ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text[:40]!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text[:40]!r} is not a finite number")
    return number


def apply_transform(value: str, step: Transform) -> str:
    """Apply one transform to a text value; raise ValueError with a message for the row error."""
    if step.kind == "trim":
        return value.strip()
    if step.kind == "upper":
        return value.upper()
    if step.kind == "lower":
        return value.lower()
    if step.kind == "replace":
        return value.replace(step.old, step.new)
    if step.kind == "default":
        return value if value.strip() else step.value
    if step.kind == "split":
        return ";".join(part.strip() for part in value.split(step.separator) if part.strip())
    if step.kind == "lookup":
        if value in step.table:
            return step.table[value]
        if step.strict and value.strip():
            raise ValueError(f"{value[:40]!r} is not in the lookup table")
        return value
    if not value.strip():
        return value
    if step.kind == "number":
        return format(parse_number(value, step.decimal, step.thousands), "f")
    # date
    for fmt in step.formats:
        try:
            parsed = dt.datetime.strptime(value.strip(), fmt)  # noqa: DTZ007 - naive on purpose; see below
        except ValueError:
            continue
        # A file's dates carry no zone; the tenant's zone is applied where a datetime is stored.
        return parsed.isoformat()
    raise ValueError(f"{value[:40]!r} matches none of the date formats {', '.join(step.formats)}")


def rule_value(rule: FieldRule, values: dict[str, str], field: str) -> str:
    """Return the rule's value for one record after transforms; '' means not given."""
    if rule.constant is not None:
        value = rule.constant
    else:
        assert rule.column is not None
        if rule.column not in values:
            raise RowError(f"the record has no column {rule.column!r}", field=field, column=rule.column)
        value = values[rule.column]
    for step in rule.transforms:
        try:
            value = apply_transform(value, step)
        except ValueError as error:
            raise RowError(str(error), field=field, column=rule.column) from None
    if rule.required and not value.strip():
        raise RowError("is required but blank", field=field, column=rule.column)
    return value


def _bool(value: str, field: str, column: str | None) -> bool:
    try:
        return BOOL_WORDS[value.strip().lower()]
    except KeyError:
        raise RowError(f"{value[:20]!r} is not yes/no", field=field, column=column) from None


def _number(value: str, field: str, column: str | None) -> Decimal:
    try:
        return parse_number(value)
    except ValueError as error:
        raise RowError(str(error), field=field, column=column) from None


def matches(filters: list[FilterRule], combine: str, values: dict[str, str]) -> bool:
    """Return whether a record passes the filters (no filters: every record passes)."""
    if not filters:
        return True
    results = (_match(rule, values.get(rule.column, "")) for rule in filters)
    return all(results) if combine == "and" else any(results)


def _match(rule: FilterRule, value: str) -> bool:
    op = rule.op
    if op == "empty":
        return not value.strip()
    if op == "not_empty":
        return bool(value.strip())
    if op == "eq":
        return value.strip() == rule.value
    if op == "ne":
        return value.strip() != rule.value
    if op == "contains":
        return rule.value.lower() in value.lower()
    if op == "not_contains":
        return rule.value.lower() not in value.lower()
    try:
        left, right = parse_number(value), parse_number(rule.value)
    except ValueError:
        return False
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]


def map_record(mapping: Mapping, values: dict[str, str]) -> ProductData:
    """Build the product payload of one record; raise RowError naming the field on a bad value."""
    data: dict[str, Any] = {}
    for field, rule in mapping.fields.items():
        value = rule_value(rule, values, field)
        if field != "sku" and not value.strip():
            continue  # blank = not given: keep what the hub has
        if field == "sku":
            data["sku"] = value.strip()
        elif field in NUMBER_FIELDS:
            data[field] = _number(value, field, rule.column)
        elif field in ("featured", "deleted"):
            data[field] = _bool(value, field, rule.column)
        elif field == "tags":
            data[field] = [t.strip() for t in value.split(mapping.list_separator) if t.strip()]
        elif field == "categories":
            data[field] = [c.strip() for c in value.split(mapping.category_separator) if c.strip()]
        elif field == "images":
            data[field] = [ImageData(url=u.strip()) for u in value.split(mapping.list_separator) if u.strip()]
        else:
            data[field] = value
    if not data.get("sku"):
        raise RowError("the SKU is blank", field="sku", column=mapping.fields["sku"].column)
    prices = []
    for i, price in enumerate(mapping.prices):
        where = f"prices[{i}]"
        amount = rule_value(price, values, where)
        if not amount.strip():
            continue
        vat = price.vat_rate
        if vat.startswith("@"):
            vat = values.get(vat[1:], "").strip() or "0"
        number = _number(amount, where, price.column)
        prices.append(PriceData(price_list=price.price_list, vat_rate=_number(vat, where + ".vat_rate", None),
                                net=number if price.amount == "net" else None,
                                gross=number if price.amount == "gross" else None))
    if prices:
        data["prices"] = prices
    stock = []
    for i, level in enumerate(mapping.stock):
        quantity = rule_value(level, values, f"stock[{i}]")
        if quantity.strip():
            stock.append(StockData(warehouse=level.warehouse, quantity=_number(quantity, f"stock[{i}]", level.column)))
    if stock:
        data["stock"] = stock
    attributes = []
    for i, attr in enumerate(mapping.attributes):
        value = rule_value(attr, values, f"attributes[{i}]").strip()
        if value:
            attributes.append(AttributeValueData(attribute=attr.attribute, value=value, kind=attr.kind))
    if attributes:
        data["attributes"] = attributes
    return ProductData(**data)


def row_error_to_file_error(error: RowError, *, file: str, location: str) -> FileError:
    column = f" (column {error.column!r})" if error.column else ""
    return FileError(FileErrorCode.MAPPING, f"{error.message}{column}", file=file, location=location,
                     field=error.field)


def _getter(rule: FieldRule, field: str) -> Any:
    """A function record → value for one rule; plain columns skip :func:`rule_value`'s generic path."""
    if rule.constant is None and not rule.transforms and not rule.required:
        column = rule.column
        assert column is not None

        def plain(values: dict[str, str]) -> str:
            try:
                return values[column]
            except KeyError:
                raise RowError(f"the record has no column {column!r}", field=field, column=column) from None

        return plain
    return lambda values: rule_value(rule, values, field)


def compile_mapping(mapping: Mapping) -> Any:
    """Return ``values -> ProductData``, equal to :func:`map_record` but with the per-row decisions made once.

    A file import maps every record with one mapping; deciding each field's kind, getter and
    error names per record was most of the mapping's cost (docs/benchmarks.md).
    """
    sku_rule = mapping.fields["sku"]
    plans: list[tuple[str, Any, str, str | None]] = []
    for field, rule in mapping.fields.items():
        if field == "sku":
            kind = "sku"
        elif field in NUMBER_FIELDS:
            kind = "number"
        elif field in ("featured", "deleted"):
            kind = "bool"
        elif field in ("tags", "categories", "images"):
            kind = field
        else:
            kind = "text"
        plans.append((field, _getter(rule, field), kind, rule.column))
    list_sep, category_sep = mapping.list_separator, mapping.category_separator
    price_plans = [(f"prices[{i}]", _getter(p, f"prices[{i}]"), p) for i, p in enumerate(mapping.prices)]
    stock_plans = [(f"stock[{i}]", _getter(s, f"stock[{i}]"), s.warehouse, s.column)
                   for i, s in enumerate(mapping.stock)]
    attribute_plans = [(_getter(a, f"attributes[{i}]"), a.attribute, a.kind) for i, a in enumerate(mapping.attributes)]

    def mapped(values: dict[str, str]) -> ProductData:
        data: dict[str, Any] = {}
        for field, get, kind, column in plans:
            value = get(values)
            if kind == "sku":
                data["sku"] = value.strip()
                continue
            if not value.strip():
                continue  # blank = not given: keep what the hub has
            if kind == "text":
                data[field] = value
            elif kind == "number":
                data[field] = _number(value, field, column)
            elif kind == "bool":
                data[field] = _bool(value, field, column)
            elif kind == "categories":
                data[field] = [c.strip() for c in value.split(category_sep) if c.strip()]
            elif kind == "tags":
                data[field] = [t.strip() for t in value.split(list_sep) if t.strip()]
            else:
                data[field] = [ImageData(url=u.strip()) for u in value.split(list_sep) if u.strip()]
        if not data.get("sku"):
            raise RowError("the SKU is blank", field="sku", column=sku_rule.column)
        if price_plans:
            prices = []
            for where, get, price in price_plans:
                amount = get(values)
                if not amount.strip():
                    continue
                vat = price.vat_rate
                if vat.startswith("@"):
                    vat = values.get(vat[1:], "").strip() or "0"
                number = _number(amount, where, price.column)
                prices.append(PriceData(price_list=price.price_list, vat_rate=_number(vat, where + ".vat_rate", None),
                                        net=number if price.amount == "net" else None,
                                        gross=number if price.amount == "gross" else None))
            if prices:
                data["prices"] = prices
        if stock_plans:
            stock = []
            for where, get, warehouse, column in stock_plans:
                quantity = get(values)
                if quantity.strip():
                    stock.append(StockData(warehouse=warehouse, quantity=_number(quantity, where, column)))
            if stock:
                data["stock"] = stock
        if attribute_plans:
            attributes = []
            for get, attribute, kind in attribute_plans:
                value = get(values).strip()
                if value:
                    attributes.append(AttributeValueData(attribute=attribute, value=value, kind=kind))
            if attributes:
                data["attributes"] = attributes
        return ProductData(**data)

    return mapped
