"""Readers: CSV dialects and encodings, fixed width, XML, JSON, XLSX, and the hard limits on each."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.readers import read_records
from bindery.technologies.files.schemas import FormatConfig


def config(fmt: str, **options: Any) -> FormatConfig:
    return FormatConfig.model_validate({"format": fmt, **options})


def records(path: Path, cfg: FormatConfig) -> list[Any]:
    return list(read_records(path, cfg))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, cfg: FormatConfig) -> FileError:
    with pytest.raises(FileError) as caught:
        records(path, cfg)
    return caught.value


# --- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "encoding", "prefix"), [
    (",", "utf-8", b""), (";", "utf-8", b"\xef\xbb\xbf"), ("\t", "cp1252", b""), ("|", "latin-1", b"")])
def test_csv_sniffs_delimiter_and_encoding(tmp_path: Path, delimiter: str, encoding: str, prefix: bytes) -> None:
    """The delimiter and the encoding (UTF-8, UTF-8 with BOM, Windows/Latin-1) are detected; quotes are honoured."""
    text = f'sku{delimiter}name{delimiter}price\nA1{delimiter}"Caffè{delimiter} crème"{delimiter}"1,50"\n'
    path = write(tmp_path, "p.csv", prefix + text.encode(encoding))
    [row] = records(path, config("csv"))
    assert row.values == {"sku": "A1", "name": f"Caffè{delimiter} crème", "price": "1,50"}
    assert row.location == "line 2"
    assert row.error is None


def test_csv_without_header_names_columns_by_number(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b"junk line\nA1,Shirt\n\nA2,Hat,\n")
    rows = records(path, config("csv", csv={"header": False, "skip_rows": 1, "delimiter": ","}))
    assert [r.values for r in rows] == [{"1": "A1", "2": "Shirt"}, {"1": "A2", "2": "Hat", "3": ""}]
    assert [r.location for r in rows] == ["line 2", "line 4"]


def test_csv_multiline_quoted_field_keeps_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b'sku,desc\nA1,"two\nlines"\nA2,x\n')
    rows = records(path, config("csv"))
    assert rows[0].values["desc"] == "two\nlines"
    assert [r.location for r in rows] == ["line 3", "line 4"]


def test_csv_row_errors_do_not_stop_the_file(tmp_path: Path) -> None:
    """A row with too many fields or an over-long field is a row error; the next rows are read."""
    path = write(tmp_path, "p.csv", b"sku,name\nA1,ok\nA2,x,extra\nA3," + b"y" * 50 + b"\nA4,fine\n")
    rows = records(path, config("csv", limits={"max_field_chars": 20}))
    assert [r.error.code if r.error else None for r in rows] == [
        None, FileErrorCode.MALFORMED, FileErrorCode.FIELD_TOO_LONG, None]
    assert rows[2].error is not None
    assert "p.csv, line 4, field 'name'" in str(rows[2].error)


def test_csv_wrong_encoding_is_a_clear_error(tmp_path: Path) -> None:
    """A Latin-1 file declared UTF-8 is refused naming the line; nothing is guessed."""
    path = write(tmp_path, "p.csv", "sku,name\nA1,ok\nA2,Caffè\n".encode("latin-1"))
    error = refused(path, config("csv", csv={"encoding": "utf-8"}))
    assert error.code == FileErrorCode.ENCODING
    assert "p.csv" in str(error)
    assert "latin-1" in error.message


def test_csv_utf16_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "sku,name\nA1,x\n".encode("utf-16"))
    assert refused(path, config("csv")).code == FileErrorCode.ENCODING


def test_csv_broken_quoting_is_refused_with_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b'sku,name\nA1,ok\nA2,"broken"quote\n')
    error = refused(path, config("csv"))
    assert error.code == FileErrorCode.MALFORMED
    assert error.location == "line 3"


def test_csv_duplicate_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", b"sku,sku\nA,B\n")
    assert refused(path, config("csv")).code == FileErrorCode.MALFORMED


def test_size_and_row_limits(tmp_path: Path) -> None:
    """Over max_bytes or under min_bytes the file is refused before parsing; over max_rows while reading."""
    path = write(tmp_path, "p.csv", b"sku\n" + b"".join(b"A%d\n" % i for i in range(10)))
    assert refused(path, config("csv", limits={"max_bytes": 20})).code == FileErrorCode.TOO_LARGE
    assert refused(path, config("csv", limits={"min_bytes": 10_000})).code == FileErrorCode.TOO_SMALL
    error = refused(path, config("csv", limits={"max_rows": 5}))
    assert error.code == FileErrorCode.TOO_MANY_ROWS
    assert error.location == "line 7"


def test_fixed_width(tmp_path: Path) -> None:
    path = write(tmp_path, "p.txt", "A1    Shirt     0012\nA2    Caffè     0003\n".encode("cp1252"))
    cfg = config("fixed_width", fixed_width={"columns": [
        {"name": "sku", "start": 1, "width": 6}, {"name": "name", "start": 7, "width": 10},
        {"name": "qty", "start": 17, "width": 4}]})
    assert [r.values for r in records(path, cfg)] == [
        {"sku": "A1", "name": "Shirt", "qty": "0012"}, {"sku": "A2", "name": "Caffè", "qty": "0003"}]


# --- XML -----------------------------------------------------------------------------------------


def test_xml_records_are_flattened_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, "p.xml", b"""<?xml version="1.0" encoding="UTF-8"?>
<Products><Product id="7"><Code>A1</Code><Title>Shirt</Title>
<Prices><Price list="retail">10.5</Price><Price list="b2b">9</Price></Prices></Product>
<Product><Code>A2</Code></Product></Products>""")
    rows = records(path, config("xml"))
    assert rows[0].values == {"@id": "7", "Code": "A1", "Title": "Shirt", "Prices/Price": "10.5",
                              "Prices/Price/@list": "retail", "Prices/Price[2]": "9",
                              "Prices/Price/@list[2]": "b2b"}
    assert rows[1].values == {"Code": "A2"}


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Products><Product><Code>&lol3;</Code></Product></Products>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Products><Product><Code>&xxe;</Code></Product></Products>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE])
def test_xml_entities_and_dtds_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = write(tmp_path, "p.xml", payload)
    assert refused(path, config("xml")).code == FileErrorCode.FORBIDDEN_XML


def test_xml_malformed_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.xml", b"<Products>\n<Product><Code>A1</Code></Product>\n<Product><Code>A2</Product>")
    error = refused(path, config("xml"))
    assert error.code == FileErrorCode.MALFORMED
    assert error.location.startswith("line 3")


def test_xml_without_records_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.xml", b"<Items><Item/></Items>")
    assert refused(path, config("xml")).code == FileErrorCode.MALFORMED


# --- JSON ----------------------------------------------------------------------------------------


def test_json_streams_items_at_a_path(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", b'\xef\xbb\xbf{"products": [{"sku": "A1", "price": 10.50, "tags": ["a", "b"],'
                                     b' "stock": [{"wh": "main", "qty": 3}], "active": true, "note": null}, 5]}')
    rows = records(path, config("json", json={"items_path": "products.item"}))
    assert rows[0].values == {"sku": "A1", "price": "10.50", "tags": "a;b", "stock[1]/wh": "main",
                              "stock[1]/qty": "3", "active": "true", "note": ""}
    assert rows[1].error is not None
    assert rows[1].error.code == FileErrorCode.MALFORMED


@pytest.mark.parametrize("payload", [b'[{"sku": "A1"}, {"sku": ', b'[{"sku": "A1"} {"sku": "A2"}]', b"\xff\xfe[]"])
def test_json_malformed_is_refused(tmp_path: Path, payload: bytes) -> None:
    path = write(tmp_path, "p.json", payload)
    assert refused(path, config("json")).code in (FileErrorCode.MALFORMED, FileErrorCode.ENCODING)


# --- XLSX ----------------------------------------------------------------------------------------


def test_xlsx_reads_typed_cells(tmp_path: Path) -> None:
    import datetime as dt

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Products"
    sheet.append(["sku", "price", "qty", "since"])
    sheet.append(["A1", 10.5, 3, dt.datetime(2026, 1, 2, 3, 4, 5)])  # noqa: DTZ001 - Excel has no time zones
    sheet.append([None, None, None, None])
    sheet.append(["A2", 7, None])
    path = tmp_path / "p.xlsx"
    workbook.save(path)
    rows = records(path, config("xlsx", xlsx={"sheet": "Products"}))
    assert [r.values for r in rows] == [
        {"sku": "A1", "price": "10.5", "qty": "3", "since": "2026-01-02T03:04:05"},
        {"sku": "A2", "price": "7", "qty": "", "since": ""}]
    assert [r.location for r in rows] == ["row 2", "row 4"]
    assert refused(path, config("xlsx", xlsx={"sheet": "Nope"})).code == FileErrorCode.NOT_FOUND


def test_xlsx_zip_bomb_is_refused(tmp_path: Path) -> None:
    """A sheet part that inflates far beyond its compressed size is refused before openpyxl reads it."""
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 * 1024 * 1024))
    error = refused(path, config("xlsx"))
    assert error.code == FileErrorCode.ZIP_BOMB


@pytest.mark.parametrize("payload", [b"not a zip at all", b"PK\x03\x04garbage"])
def test_xlsx_malformed_is_refused(tmp_path: Path, payload: bytes) -> None:
    path = write(tmp_path, "p.xlsx", payload)
    assert refused(path, config("xlsx")).code == FileErrorCode.MALFORMED


def test_xlsx_with_entity_in_sheet_is_refused(tmp_path: Path) -> None:
    """An XLSX whose sheet declares an external entity is refused, not expanded (defusedxml underneath)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["sku"])
    sheet.append(["A1"])
    good = tmp_path / "good.xlsx"
    workbook.save(good)
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + data.replace(b"<t>A1</t>",
                                                                                                 b"<t>&x;</t>")
            target.writestr(item, data)
    assert refused(bad, config("xlsx")).code == FileErrorCode.MALFORMED


def test_config_errors_name_the_field() -> None:
    from bindery.technologies.files.schemas import check_config

    with pytest.raises(FileError) as caught:
        check_config(FormatConfig, {"format": "csv", "csv": {"delimiter": "ab", "colour": 1}})
    assert caught.value.code == FileErrorCode.INVALID_CONFIG
    assert "config.csv.delimiter" in caught.value.message
    assert "config.csv.colour: unknown field" in caught.value.message
