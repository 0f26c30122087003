"""Streaming readers for CSV, fixed-width text, XLSX, XML and JSON files.

Every reader takes a local path (transports download to a spool file first), checks the file's
size against :class:`Limits` before parsing, and yields one :class:`Record` per data row with
text values keyed by column name (or element/key path). Memory stays constant in the file's size:
CSV and text are read line by line, XML with ``iterparse`` (each record is cleared once read),
JSON with ``ijson``, XLSX with openpyxl's read-only mode.

Two kinds of failure:

- a problem of the whole file (too big or too small, too many rows, undecodable bytes, broken
  quoting or markup, forbidden DTD or entities, a zip bomb) raises :class:`FileError` naming
  the file and the line or record;
- a problem of one record (a field over the length limit, more fields than the header, a JSON
  record that is not an object) comes back as ``Record.error``; the reader goes on.

XML is parsed with defusedxml: a DTD is refused outright, which covers entity expansion
("billion laughs") and external entities (XXE). openpyxl uses defusedxml too once installed.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.schemas import (
    CsvOptions,
    Encoding,
    FileFormat,
    FixedWidthOptions,
    FormatConfig,
    JsonOptions,
    Limits,
    XlsxOptions,
    XmlOptions,
)

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# Python's csv module refuses fields over its own global limit (128 KiB) with an unclear message;
# lift it to the largest limit a configuration may set and check the configured one per field.
CSV_FIELD_LIMIT = 10_000_001


@dataclass
class Record:
    """One data row: ``number`` counts records from 1; ``location`` is ``line 12`` / ``row 4`` / ``record 3``."""

    number: int
    location: str
    values: dict[str, str]
    error: FileError | None = None


def check_size(path: Path, limits: Limits, name: str) -> int:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileError(FileErrorCode.TOO_LARGE, f"{size:,} bytes is over the limit of {limits.max_bytes:,}",
                        file=name)
    if size < limits.min_bytes:
        raise FileError(FileErrorCode.TOO_SMALL,
                        f"{size:,} bytes is under the minimum of {limits.min_bytes:,} (truncated file?)", file=name)
    return size


def read_records(path: Path, config: FormatConfig, *, name: str = "") -> Iterator[Record]:
    """Yield the records of the file at ``path`` in the configured format; ``name`` is used in errors."""
    name = name or path.name
    check_size(path, config.limits, name)
    if config.format == FileFormat.CSV:
        records = read_csv(path, config.csv, config.limits, name)
    elif config.format == FileFormat.FIXED_WIDTH:
        assert config.fixed_width is not None
        records = read_fixed_width(path, config.fixed_width, config.limits, name)
    elif config.format == FileFormat.XML:
        records = read_xml(path, config.xml, config.limits, name)
    elif config.format == FileFormat.JSON:
        records = read_json(path, config.json_, config.limits, name)
    else:
        records = read_xlsx(path, config.xlsx, config.limits, name)
    for record in records:
        if record.number > config.limits.max_rows:
            raise FileError(FileErrorCode.TOO_MANY_ROWS, f"more than {config.limits.max_rows:,} records",
                            file=name, location=record.location)
        yield record


def _long_field(values: dict[str, str], limits: Limits, name: str, location: str) -> FileError | None:
    for key, value in values.items():
        if len(value) > limits.max_field_chars:
            return FileError(FileErrorCode.FIELD_TOO_LONG,
                             f"{len(value):,} characters is over the limit of {limits.max_field_chars:,}",
                             file=name, location=location, field=key)
    return None


# --- text encodings ------------------------------------------------------------------------------


def detect_encoding(head: bytes, wanted: Encoding, name: str) -> str:
    """Return the codec to read a text file with; refuse UTF-16/32, which the platform does not take."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileError(FileErrorCode.ENCODING, "the file is UTF-16 (or UTF-32); save it as UTF-8 or Latin-1",
                        file=name, location="line 1")
    if wanted in (Encoding.UTF8, Encoding.UTF8_BOM):
        return "utf-8-sig"  # decodes plain UTF-8 too, and drops a BOM if present
    if wanted != Encoding.AUTO:
        return str(wanted)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        try:
            head.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "utf-8-sig"


def _open_text(path: Path, encoding: Encoding, name: str) -> tuple[IO[str], str]:
    with path.open("rb") as binary:
        head = binary.read(SNIFF_BYTES)
    codec = detect_encoding(head, encoding, name)
    return path.open("r", encoding=codec, errors="strict", newline=""), codec


def _encoding_error(error: UnicodeDecodeError, codec: str, name: str, line: int) -> FileError:
    hint = " (set the encoding to latin-1 or cp1252 if the file comes from Windows)" if "utf" in codec else ""
    return FileError(FileErrorCode.ENCODING, f"bytes that are not valid {codec.removesuffix('-sig')}{hint}",
                     file=name, location=f"line {line}")


# --- CSV -----------------------------------------------------------------------------------------


def sniff_delimiter(sample: str, quotechar: str) -> str:
    """Pick the candidate delimiter appearing most often, outside quotes, in the sample's first line."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in sample:
        if char == quotechar:
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda c: counts[c])
    return best if counts[best] else ","


def read_csv(path: Path, options: CsvOptions, limits: Limits, name: str) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    text, codec = _open_text(path, options.encoding, name)
    reader: Any = None
    with text:
        line = 0
        try:
            for _ in range(options.skip_rows):
                text.readline()
                line += 1
            delimiter = options.delimiter
            if delimiter == "auto":
                position = text.tell()
                delimiter = sniff_delimiter(text.read(SNIFF_BYTES), options.quotechar)
                text.seek(position)
            reader = csv.reader(text, delimiter=delimiter, quotechar=options.quotechar, strict=True)
            header: list[str] | None = None
            number = 0
            for row in reader:
                line_no = line + reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if options.header and header is None:
                    header = _header(row, name, line_no)
                    continue
                number += 1
                location = f"line {line_no}"
                columns = header or [str(i) for i in range(1, len(row) + 1)]
                if len(row) > len(columns):
                    yield Record(number, location, {}, FileError(
                        FileErrorCode.MALFORMED, f"{len(row)} fields, but the header has {len(columns)}",
                        file=name, location=location))
                    continue
                values = dict(zip(columns, row, strict=False))
                for column in columns[len(row):]:
                    values[column] = ""
                yield Record(number, location, values, _long_field(values, limits, name, location))
        except UnicodeDecodeError as error:
            failed_at = line + (reader.line_num + 1 if reader is not None else 1)
            raise _encoding_error(error, codec, name, failed_at) from None
        except csv.Error as error:
            raise FileError(FileErrorCode.MALFORMED, f"CSV: {error}", file=name,
                            location=f"line {line + (reader.line_num if reader is not None else 1)}") from None


def _header(row: list[str], name: str, line: int) -> list[str]:
    header = [cell.strip() or str(i) for i, cell in enumerate(row, start=1)]
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise FileError(FileErrorCode.MALFORMED, f"the header names column {column!r} twice", file=name,
                            location=f"line {line}")
        seen.add(column)
    return header


# --- fixed width ---------------------------------------------------------------------------------


def read_fixed_width(path: Path, options: FixedWidthOptions, limits: Limits, name: str) -> Iterator[Record]:
    text, codec = _open_text(path, options.encoding, name)
    line_no = 0
    number = 0
    with text:
        try:
            for raw in text:
                line_no += 1
                if line_no <= options.skip_rows:
                    continue
                content = raw.rstrip("\r\n")
                if not content.strip():
                    continue
                number += 1
                location = f"line {line_no}"
                values = {c.name: content[c.start - 1:c.start - 1 + c.width].strip() for c in options.columns}
                error = None
                if len(content) > limits.max_field_chars:
                    error = FileError(FileErrorCode.FIELD_TOO_LONG, f"the line has {len(content):,} characters",
                                      file=name, location=location)
                yield Record(number, location, values, error)
        except UnicodeDecodeError as error:
            raise _encoding_error(error, codec, name, line_no + 1) from None


# --- XML -----------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _flatten_element(element: Any) -> dict[str, str]:
    values: dict[str, str] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    text = (element.text or "").strip()
    if text:
        values["."] = text

    def walk(node: Any, path: str) -> None:
        for key, value in node.attrib.items():
            _put(values, f"{path}/@{_local(key)}", value)
        children = list(node)
        if not children:
            _put(values, path, (node.text or "").strip())
        for child in children:
            walk(child, f"{path}/{_local(child.tag)}")

    for child in element:
        walk(child, _local(child.tag))
    return values


def _put(values: dict[str, str], key: str, value: str) -> None:
    """Store a value; a repeated path gets ``[2]``, ``[3]`` ... (the first keeps the bare path)."""
    if key not in values:
        values[key] = value
        return
    n = 2
    while f"{key}[{n}]" in values:
        n += 1
    values[f"{key}[{n}]"] = value


def read_xml(path: Path, options: XmlOptions, limits: Limits, name: str) -> Iterator[Record]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    number = 0
    stack: list[Any] = []
    try:
        for event, element in iterparse(str(path), events=("start", "end"), forbid_dtd=True,
                                        forbid_entities=True, forbid_external=True):
            if event == "start":
                stack.append(element)
                continue
            stack.pop()
            if _local(element.tag) != options.record_tag:
                continue
            number += 1
            location = f"record {number}"
            values = _flatten_element(element)
            yield Record(number, location, values, _long_field(values, limits, name, location))
            element.clear()
            if stack:
                stack[-1].remove(element)
    except DefusedXmlException as error:
        raise FileError(FileErrorCode.FORBIDDEN_XML,
                        f"the XML declares a DTD or entities, which are refused ({type(error).__name__})",
                        file=name) from None
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise FileError(FileErrorCode.MALFORMED, f"XML: {error.msg if hasattr(error, 'msg') else error}",
                        file=name, location=f"line {line}, column {column}") from None
    if number == 0:
        raise FileError(FileErrorCode.MALFORMED, f"no <{options.record_tag}> element found", file=name)


# --- JSON ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _flatten_json(value: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten_json(item, f"{path}/{key}" if path else str(key), out)
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            out[path] = ";".join(_text(item) for item in value)
        else:
            for i, item in enumerate(value, start=1):
                _flatten_json(item, f"{path}[{i}]", out)
    else:
        out[path] = _text(value)


def read_json(path: Path, options: JsonOptions, limits: Limits, name: str) -> Iterator[Record]:
    import ijson

    number = 0
    with path.open("rb") as binary:
        if binary.read(3) != codecs.BOM_UTF8:
            binary.seek(0)
        try:
            for item in ijson.items(binary, options.items_path, use_float=False):
                number += 1
                location = f"record {number}"
                if not isinstance(item, dict):
                    yield Record(number, location, {}, FileError(
                        FileErrorCode.MALFORMED, f"a record must be an object, not {type(item).__name__}",
                        file=name, location=location))
                    continue
                values: dict[str, str] = {}
                _flatten_json(item, "", values)
                yield Record(number, location, values, _long_field(values, limits, name, location))
        except ijson.JSONError as error:
            raise FileError(FileErrorCode.MALFORMED, f"JSON: {error}", file=name,
                            location=f"after record {number}") from None
        except UnicodeDecodeError:
            raise FileError(FileErrorCode.ENCODING, "JSON must be UTF-8", file=name,
                            location=f"after record {number}") from None
    if number == 0:
        raise FileError(FileErrorCode.MALFORMED, f"no records at {options.items_path!r}", file=name)


# --- XLSX ----------------------------------------------------------------------------------------


def check_zip(path: Path, limits: Limits, name: str) -> None:
    """Refuse an archive whose inflated size or per-member compression ratio is beyond the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = 0
            for member in archive.infolist():
                total += member.file_size
                if member.file_size > 1024 * 1024 and member.file_size > limits.max_zip_ratio * max(
                        member.compress_size, 1):
                    raise FileError(FileErrorCode.ZIP_BOMB,
                                    f"member {member.filename[:100]!r} inflates {member.file_size:,} bytes from "
                                    f"{member.compress_size:,} (ratio over {limits.max_zip_ratio})", file=name)
            if total > limits.max_unzipped_bytes:
                raise FileError(FileErrorCode.ZIP_BOMB, f"inflates to {total:,} bytes, over the limit of "
                                f"{limits.max_unzipped_bytes:,}", file=name)
    except zipfile.BadZipFile:
        raise FileError(FileErrorCode.MALFORMED, "not an XLSX file (not a zip archive)", file=name) from None


def read_xlsx(path: Path, options: XlsxOptions, limits: Limits, name: str) -> Iterator[Record]:
    import openpyxl

    check_zip(path, limits, name)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise FileError(FileErrorCode.MALFORMED, f"not a readable XLSX workbook ({type(error).__name__})",
                        file=name) from None
    except Exception as error:  # defusedxml and openpyxl raise many types for hostile parts
        raise FileError(FileErrorCode.MALFORMED, f"not a readable XLSX workbook ({type(error).__name__})",
                        file=name) from None
    try:
        if options.sheet:
            if options.sheet not in workbook.sheetnames:
                raise FileError(FileErrorCode.NOT_FOUND, f"no sheet named {options.sheet!r}", file=name,
                                field="sheet")
            sheet = workbook[options.sheet]
        else:
            sheet = workbook.worksheets[0]
        header: list[str] | None = None
        number = 0
        try:
            for row_no, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if row_no <= options.skip_rows:
                    continue
                cells = [_text(v) for v in row]
                while cells and not cells[-1].strip():
                    cells.pop()
                if not cells:
                    continue
                if options.header and header is None:
                    header = _header(cells, name, row_no)
                    continue
                number += 1
                location = f"row {row_no}"
                columns = header or [str(i) for i in range(1, len(cells) + 1)]
                if len(cells) > len(columns):
                    columns = columns + [str(i) for i in range(len(columns) + 1, len(cells) + 1)]
                values = {c: (cells[i] if i < len(cells) else "") for i, c in enumerate(columns)}
                yield Record(number, location, values, _long_field(values, limits, name, location))
        except FileError:
            raise
        except Exception as error:  # a hostile sheet part surfaces while streaming
            raise FileError(FileErrorCode.MALFORMED, f"unreadable sheet data ({type(error).__name__})",
                            file=name) from None
    finally:
        workbook.close()
