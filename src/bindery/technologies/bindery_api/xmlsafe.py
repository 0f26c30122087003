"""The one XML entry point for every bindery_api parser: hostile input is refused early.

defusedxml's expat parser with a DTD refused outright (so no entity expansion, no external
entities, no network), fed in chunks so an oversized body is refused after ``max_bytes``
without reading the rest; a tree builder that refuses depth, element-count and attribute/text
size beyond the limits as they arrive. Every refusal is an ``XmlInputError`` with line and
column when the parser knows them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

CHUNK = 64 * 1024


@dataclass(frozen=True)
class XmlLimits:
    max_bytes: int = 50 * 1024 * 1024
    max_depth: int = 32
    max_elements: int = 2_000_000
    max_value_chars: int = 1024 * 1024


class XmlInputError(ValueError):
    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f" at line {line} column {column}" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.column = column


class _LimitedBuilder(ET.TreeBuilder):
    def __init__(self, limits: XmlLimits) -> None:
        super().__init__()
        self.limits = limits
        self.depth = 0
        self.elements = 0
        self.text_chars = 0  # expat may deliver one text node in several pieces

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self.depth += 1
        self.elements += 1
        self.text_chars = 0
        if self.depth > self.limits.max_depth:
            raise XmlInputError(f"elements nested deeper than {self.limits.max_depth}")
        if self.elements > self.limits.max_elements:
            raise XmlInputError(f"more than {self.limits.max_elements} elements")
        for value in attrs.values():
            if len(value) > self.limits.max_value_chars:
                raise XmlInputError(f"attribute of <{tag}> longer than {self.limits.max_value_chars} characters")
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        self.text_chars = 0
        return super().end(tag)

    def data(self, data: str) -> None:
        self.text_chars += len(data)
        if self.text_chars > self.limits.max_value_chars:
            raise XmlInputError(f"text longer than {self.limits.max_value_chars} characters")
        super().data(data)


def _chunks(source: bytes | IO[bytes] | Iterable[bytes]) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray):
        for start in range(0, len(source), CHUNK):
            yield bytes(source[start:start + CHUNK])
    elif hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield chunk
    else:
        yield from source


def parse_xml(source: bytes | IO[bytes] | Iterable[bytes], *, root: str | None = None,
              limits: XmlLimits | None = None, encoding: str | None = None) -> ET.Element:
    """Parse untrusted XML and return its root element, or raise ``XmlInputError``.

    ``encoding`` overrides the document's declaration (e.g. "iso-8859-1" for a known Latin-1 body).
    """
    limits = limits or XmlLimits()
    builder = _LimitedBuilder(limits)
    parser = DefusedXMLParser(target=builder, encoding=encoding, forbid_dtd=True,
                              forbid_entities=True, forbid_external=True)
    total = 0
    try:
        for chunk in _chunks(source):
            total += len(chunk)
            if total > limits.max_bytes:
                raise XmlInputError(f"body larger than {limits.max_bytes} bytes")
            parser.feed(chunk)
        element = parser.close()
    except XmlInputError as error:
        if error.line is None:
            line, column = _position(parser)
            raise XmlInputError(str(error), line=line, column=column) from None
        raise
    except ET.ParseError as error:
        line, column = error.position
        raise XmlInputError(f"malformed XML ({_reason(error)})", line=line, column=column) from None
    except DefusedXmlException as error:
        line, column = _position(parser)
        raise XmlInputError(f"forbidden XML construct ({type(error).__name__}: DTDs and entities are refused)",
                            line=line, column=column) from None
    if root is not None and element.tag != root:
        raise XmlInputError(f"root element must be <{root}>, not <{element.tag}>", line=1, column=0)
    return element


def _position(parser: DefusedXMLParser) -> tuple[int | None, int | None]:
    expat = getattr(parser, "parser", None)
    if expat is None:
        return None, None
    return expat.CurrentLineNumber, expat.CurrentColumnNumber


def _reason(error: ET.ParseError) -> str:
    return str(error).split(":")[0]
