"""Validated configuration of the files technology: formats, limits, mapping, filters, transports.

Every model forbids unknown keys, so a misspelt option is a field error rather than silently
ignored; :func:`check_config` turns pydantic's errors into one :class:`FileError` per call
naming every bad field (``mapping.fields.price.decimal``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bindery.technologies.files.errors import FileError, FileErrorCode

MB = 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileFormat(StrEnum):
    CSV = "csv"
    FIXED_WIDTH = "fixed_width"
    XLSX = "xlsx"
    XML = "xml"
    JSON = "json"


class Limits(Strict):
    """Hard limits checked before and while a file is read; over a limit, the file is refused whole."""

    max_bytes: int = Field(default=512 * MB, ge=1, le=8 * 1024 * MB)
    min_bytes: int = Field(default=0, ge=0, description="refuse a file smaller than this (a truncated upload)")
    max_rows: int = Field(default=5_000_000, ge=1)
    max_field_chars: int = Field(default=100_000, ge=1, le=10_000_000)
    # XLSX is a zip: its inflated size and compression ratio are capped against zip bombs.
    max_unzipped_bytes: int = Field(default=2048 * MB, ge=1)
    max_zip_ratio: int = Field(default=200, ge=1)


class Encoding(StrEnum):
    AUTO = "auto"
    UTF8 = "utf-8"
    UTF8_BOM = "utf-8-sig"
    LATIN1 = "latin-1"
    CP1252 = "cp1252"


class CsvOptions(Strict):
    delimiter: str = Field(default="auto", description="one character, or 'auto' to sniff , ; tab |")
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: Encoding = Encoding.AUTO
    header: bool = Field(default=True, description="without a header, columns are named 1, 2, 3 ...")
    skip_rows: int = Field(default=0, ge=0, le=1000, description="lines to skip before the header or data")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value != "auto" and (len(value) != 1 or value in "\r\n\"'"):
            raise ValueError("must be one character (not a quote or newline), or 'auto'")
        return value


class FixedWidthColumn(Strict):
    name: str = Field(min_length=1, max_length=100)
    start: int = Field(ge=1, description="first character, counting from 1")
    width: int = Field(ge=1, le=100_000)


class FixedWidthOptions(Strict):
    encoding: Encoding = Encoding.AUTO
    skip_rows: int = Field(default=0, ge=0, le=1000)
    columns: list[FixedWidthColumn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> FixedWidthOptions:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        return self


class XmlOptions(Strict):
    record_tag: str = Field(default="Product", min_length=1, max_length=200,
                            description="the element holding one record, e.g. Product")


class JsonOptions(Strict):
    items_path: str = Field(default="item", min_length=1, max_length=200,
                            description="ijson prefix of the records: 'item' for a top-level array, "
                                        "'products.item' for {\"products\": [...]}")


class XlsxOptions(Strict):
    sheet: str | None = Field(default=None, max_length=31, description="sheet name; the first sheet if empty")
    header: bool = True
    skip_rows: int = Field(default=0, ge=0, le=1000)


class FormatConfig(Strict):
    format: FileFormat
    csv: CsvOptions = CsvOptions()
    fixed_width: FixedWidthOptions | None = None
    xml: XmlOptions = XmlOptions()
    json_: JsonOptions = Field(default=JsonOptions(), alias="json")
    xlsx: XlsxOptions = XlsxOptions()
    limits: Limits = Limits()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _fixed_width_columns(self) -> FormatConfig:
        if self.format == FileFormat.FIXED_WIDTH and self.fixed_width is None:
            raise ValueError("fixed_width needs fixed_width.columns")
        return self


# --- mapping -------------------------------------------------------------------------------------

TransformKind = Literal["trim", "upper", "lower", "number", "date", "lookup", "default", "split", "replace"]


class Transform(Strict):
    """One step applied to a value. ``number`` parses ``1.234,50`` with ``decimal=","``, ``thousands="."``."""

    kind: TransformKind
    decimal: str = Field(default=".", min_length=1, max_length=1)
    thousands: str = Field(default="", max_length=1)
    formats: list[str] = Field(default_factory=list, max_length=20,
                               description="strptime formats tried in order, e.g. %d/%m/%Y")
    table: dict[str, str] = Field(default_factory=dict, description="lookup: source value -> hub value")
    strict: bool = Field(default=True, description="lookup: a value not in the table is a row error")
    value: str = Field(default="", max_length=10_000, description="default: used when the value is blank")
    separator: str = Field(default=";", min_length=1, max_length=10)
    old: str = Field(default="", max_length=100)
    new: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _complete(self) -> Transform:
        if self.kind == "number" and self.decimal == self.thousands:
            raise ValueError("decimal and thousands separators must differ")
        if self.kind == "date" and not self.formats:
            raise ValueError("a date transform needs at least one format")
        if self.kind == "date":
            for fmt in self.formats:
                if "%" not in fmt:
                    raise ValueError(f"{fmt!r} is not a strptime format")
        if self.kind == "lookup" and not self.table:
            raise ValueError("a lookup transform needs a table")
        if self.kind == "replace" and not self.old:
            raise ValueError("a replace transform needs 'old'")
        return self


class FieldRule(Strict):
    """Where one hub value comes from: a column (after transforms) or a constant."""

    column: str | None = Field(default=None, min_length=1, max_length=200)
    constant: str | None = Field(default=None, max_length=10_000)
    transforms: list[Transform] = Field(default_factory=list, max_length=20)
    required: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of column or constant")
        return self


class PriceRule(FieldRule):
    price_list: str = Field(min_length=1, max_length=100)
    amount: Literal["net", "gross"] = "gross"
    vat_rate: str = Field(default="0", max_length=10, description="a number, or a column name prefixed with '@'")


class StockRule(FieldRule):
    warehouse: str = Field(min_length=1, max_length=100)


class AttributeRule(FieldRule):
    attribute: str = Field(min_length=1, max_length=255)
    kind: Literal["descriptive", "variant"] = "descriptive"


HUB_FIELDS = ("sku", "name", "language", "barcode", "barcode_type", "manufacturer", "mpn", "supplier",
              "supplier_code", "description_html", "short_description", "notes", "weight", "weight_unit",
              "length", "width", "height", "dimension_unit", "quantity_available", "quantity_arriving",
              "featured", "deleted", "tags", "categories", "images")


class FilterRule(Strict):
    column: str = Field(min_length=1, max_length=200)
    op: Literal["eq", "ne", "contains", "not_contains", "gt", "ge", "lt", "le", "empty", "not_empty"]
    value: str = Field(default="", max_length=1000)


class Mapping(Strict):
    fields: dict[str, FieldRule]
    prices: list[PriceRule] = Field(default_factory=list, max_length=50)
    stock: list[StockRule] = Field(default_factory=list, max_length=50)
    attributes: list[AttributeRule] = Field(default_factory=list, max_length=200)
    category_separator: str = Field(default=";", min_length=1, max_length=5,
                                    description="between categories in one cell; a path uses '|'")
    list_separator: str = Field(default=";", min_length=1, max_length=5, description="between tags or image URLs")
    filters: list[FilterRule] = Field(default_factory=list, max_length=50)
    filter_combine: Literal["and", "or"] = "and"

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, FieldRule]) -> dict[str, FieldRule]:
        unknown = sorted(set(value) - set(HUB_FIELDS))
        if unknown:
            raise ValueError(f"unknown hub field(s) {', '.join(unknown)}; known: {', '.join(HUB_FIELDS)}")
        if "sku" not in value:
            raise ValueError("a mapping needs the sku field")
        return value


class ProductImportConfig(Strict):
    """The configuration of a file product import: how to read the file and how to map its records."""

    file: FormatConfig
    mapping: Mapping
    batch_size: int = Field(default=2000, ge=1, le=20_000)


M = TypeVar("M", bound=BaseModel)


def check_config(model: type[M], data: Any, *, prefix: str = "config") -> M:
    """Validate ``data``; raise one ``invalid_config`` FileError listing every bad field (values never echoed)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error.get("loc", ()))
            message = "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
            problems.append(f"{prefix}.{location}: {message}" if location else f"{prefix}: {message}")
        first = exc.errors()[0].get("loc", ()) if exc.errors() else ()
        raise FileError(FileErrorCode.INVALID_CONFIG, "; ".join(problems),
                        field=".".join([prefix, *(str(p) for p in first)])) from None
