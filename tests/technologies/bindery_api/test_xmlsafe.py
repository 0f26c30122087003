"""Hostile and malformed XML is refused by the one bindery_api XML entry point."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from bindery.technologies.bindery_api.xmlsafe import XmlInputError, XmlLimits, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Products>&lol3;</Products>"""


def test_valid_document_parses_with_encoding_declared_or_overridden() -> None:
    root = parse_xml('<?xml version="1.0" encoding="UTF-8"?><Products><Product><Code>è&amp;1</Code>'
                     "</Product></Products>".encode(), root="Products")
    assert root.findtext("Product/Code") == "è&1"
    latin = parse_xml("<Products><Product><Code>è</Code></Product></Products>".encode("latin-1"),
                      encoding="iso-8859-1")
    assert latin.findtext("Product/Code") == "è"


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Products>&e;</Products>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]><Products>&e;</Products>',
    b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><Products/>',
])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(XmlInputError, match="forbidden XML construct") as caught:
        parse_xml(body)
    assert caught.value.line is not None
    assert "passwd" not in str(caught.value)


def test_oversized_stream_is_refused_without_reading_it_all() -> None:
    read = 0

    def endless() -> Iterator[bytes]:
        nonlocal read
        yield b"<Products>"
        while True:
            read += 1
            yield b"<Product/>" * 6553  # 64 KiB a chunk, 100 MB would be 1600 chunks

    with pytest.raises(XmlInputError, match="larger than"):
        parse_xml(endless(), limits=XmlLimits(max_bytes=1024 * 1024))
    assert read < 20


def test_deep_nesting_is_refused_with_position() -> None:
    body = b"<a>" * 1000 + b"</a>" * 1000
    with pytest.raises(XmlInputError, match="deeper than 32") as caught:
        parse_xml(io.BytesIO(body))
    assert caught.value.line == 1
    assert caught.value.column is not None


def test_invalid_utf8_reports_line_and_column() -> None:
    with pytest.raises(XmlInputError, match="malformed XML") as caught:
        parse_xml(b"<Products>\n<Product><Code>\xff\xfe</Code></Product></Products>")
    assert caught.value.line == 2


def test_wrong_root_and_truncated_body() -> None:
    with pytest.raises(XmlInputError, match="root element must be <Products>"):
        parse_xml(b"<Documents/>", root="Products")
    with pytest.raises(XmlInputError, match="malformed XML"):
        parse_xml(b"<Products><Product>")


def test_huge_attribute_and_text_are_refused() -> None:
    with pytest.raises(XmlInputError, match="attribute"):
        parse_xml(b'<Products a="' + b"x" * 2_000_000 + b'"/>')
    with pytest.raises(XmlInputError, match="text longer"):
        parse_xml(b"<Products>" + b"x" * 100_000 + b"</Products>", limits=XmlLimits(max_value_chars=1000))
