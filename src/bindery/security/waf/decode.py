"""Turn a request into the values the detectors see: parse every part, then decode every value.

Parsing covers the query string, cookies, headers and form, JSON, XML and multipart bodies.
Decoding undoes what attackers use to hide a payload: URL encoding (repeated, and IIS's
``%uXXXX``), HTML entities, JavaScript escapes, Unicode compatibility forms (full-width
``\\uff1cscript\\uff1e``), null bytes and letter case. Everything here is linear in the input size:
the only regular expressions are RE2 ones with fixed shapes.
"""

from __future__ import annotations

import html
import json
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import unquote

import re2
from defusedxml import ElementTree as SafeXml

from bindery.security.waf.request import WafRequest

MAX_FIELDS = 5000  # values (names and values) a request may carry unless its route declares more
MAX_JSON_DEPTH = 64
DECODE_ROUNDS = 3

_PERCENT_U = re2.compile(r"%u([0-9a-fA-F]{4})")
_JS_ESCAPE = re2.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
_SQL_COMMENT = re2.compile(r"/\*.*?\*/")
_SPACES = re2.compile(r"\s+")
_CMD_DROPPED = ("\\", "\"", "'", "^")
_RE2_SPACES = ("\t", "\n", "\f", "\r", "  ")  # what RE2's \s+ finds that is not already one space
_SKIPPED_HEADERS = frozenset({"cookie", "user-agent", "referer", "host", "content-length", "authorization",
                              "x-bindery-token", "accept", "accept-encoding", "accept-language", "connection"})


class Target(StrEnum):
    """Where a value was found; rules say which targets they look at."""

    ARG = "arg"  # query, form, JSON and XML values
    ARG_NAME = "arg_name"
    COOKIE = "cookie"
    COOKIE_NAME = "cookie_name"
    FILENAME = "filename"  # multipart file names
    PATH = "path"
    USER_AGENT = "user_agent"
    REFERER = "referer"
    HEADER = "header"  # any other header value


class Field(NamedTuple):
    """One value to inspect (a named tuple: requests make thousands of them)."""

    target: Target
    name: str  # the parameter's name (JSON: the key of the leaf, dotted path in ``path``)
    value: str
    path: str = ""


@dataclass
class Parsed:
    fields: list[Field]
    problems: list[str]  # body parsing problems: scored as protocol anomalies
    over_limit: bool = False  # more values than allowed: the rest was not parsed (the request is refused)


class TooManyValues(Exception):
    """The request carries more values than its route allows: stop parsing, refuse the request."""


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _percent_u(match: Any) -> str:  # re2 exposes no public match type
    return chr(int(match.group(1), 16))


def _js_escape(match: Any) -> str:
    return chr(int(match.group(1) or match.group(2), 16))


def url_decode(value: str) -> str:
    """Undo percent-encoding up to three times (double and triple encoding), ``%uXXXX`` included."""
    for _ in range(DECODE_ROUNDS):
        if "%" not in value:
            break
        decoded = unquote(value, errors="replace")
        if "%u" in decoded or "%U" in decoded:
            decoded = _PERCENT_U.sub(_percent_u, decoded)
        if decoded == value:
            break
        value = decoded
    return value


def _without_lone_surrogates(value: str) -> str:
    """Replace lone UTF-16 surrogates (JSON's ``"\\ud800"``) with U+FFFD: they cannot be UTF-8 encoded
    for RE2 or libinjection, and an encoding error must not let a request through uninspected."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def normalize(value: str) -> str:
    """Return the value as the detectors see it: decoded, compatibility-folded, lowercase."""
    value = url_decode(value)
    if "&" in value:
        # Entity names are case-sensitive; browsers also accept these in any case (ja&Tab;vascript:).
        value = html.unescape(html.unescape(value.replace("&tab;", "\t").replace("&newline;", "\n")))
    if "\\" in value:
        value = _JS_ESCAPE.sub(_js_escape, value)
    if not value.isascii():
        value = unicodedata.normalize("NFKC", _without_lone_surrogates(value))
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value.lower()


def sql_form(normalized: str) -> str:
    """Replace SQL comments with a space: ``UNION/**/SELECT`` reads as ``union select``."""
    return _SQL_COMMENT.sub(" ", normalized) if "/*" in normalized else normalized


def command_form(normalized: str) -> str:
    """Undo shell evasions: drop ``\\ " ' ^`` (``c\\a"t`` is ``cat``), read ``,`` and ``;`` as spaces.

    Like CRS's ``t:cmdLine``, so ``/bin/c'a't /e"tc/pa"sswd`` reads as ``/bin/cat /etc/passwd``.
    Returns ``normalized`` itself when there is nothing to undo (the common case: no copy, and
    the engine then matches the plain and command rules in one pass).
    """
    value = normalized
    for dropped in _CMD_DROPPED:  # str.replace: many times faster than translate on non-ASCII text
        if dropped in value:
            value = value.replace(dropped, "")
    if "$" in value and ("$@" in value or "${ifs}" in value or "$ifs" in value):
        value = value.replace("$@", "").replace("${ifs}", " ").replace("$ifs", " ")
    if any(s in value for s in _RE2_SPACES):
        value = _SPACES.sub(" ", value)
    return value


# --- parsing ------------------------------------------------------------------------------------


def _unquote_plus(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text, errors="replace") if "%" in text else text


def _form(text: str, fields: list[Field], limit: int) -> None:
    """``parse_qsl(text, keep_blank_values=True)``, without its cost or its exception on many fields.

    Past ``limit`` values it stops (``TooManyValues``): splitting 10 MiB of ``&&&`` in full
    would cost more memory than the request is worth.
    """
    append = fields.append
    pieces = text.split("&", limit // 2)  # a name and a value per piece
    if len(fields) + 2 * len(pieces) > limit:
        raise TooManyValues
    for piece in pieces:
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition("=")
        name = _unquote_plus(raw_name)
        append(Field(Target.ARG_NAME, name, name))
        append(Field(Target.ARG, name, _unquote_plus(raw_value)))


def _json(root: object, fields: list[Field], limit: int) -> None:
    """Every string of a JSON document, with its key and dotted path; each key once per path.

    Iterative (no recursion limit to trip) and frugal: a bulk body repeats the same keys on
    every item, so a key's name and path are made and inspected once, not once per item.
    Numbers, booleans and nulls match no rule and are not collected.
    """
    append = fields.append
    paths: dict[tuple[str, str], str] = {}
    stack: list[tuple[object, str, str, int]] = [(root, "", "", 0)]
    while stack:
        value, path, name, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError("JSON nested too deeply")
        if len(fields) > limit:
            raise TooManyValues
        if isinstance(value, dict):
            for key, item in value.items():
                child = paths.get((path, key))
                if child is None:
                    child = paths[(path, key)] = f"{path}.{key}" if path else key
                    append(Field(Target.ARG_NAME, key, key, child))
                if isinstance(item, str):
                    append(Field(Target.ARG, key, item, child))
                elif isinstance(item, dict | list):
                    stack.append((item, child, key, depth + 1))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    append(Field(Target.ARG, name, item, path))
                elif isinstance(item, dict | list):
                    stack.append((item, path, name, depth + 1))
        elif isinstance(value, str):  # the document itself is a string
            append(Field(Target.ARG, name, value, path))


def _xml(data: bytes, fields: list[Field], limit: int) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # Older bindCommerce clients post Latin-1 under an UTF-8 declaration; the import reads
        # such bodies as Latin-1 (WIRE.md section 3), so the firewall inspects what it will store.
        parser = SafeXml.DefusedXMLParser(encoding="iso-8859-1", forbid_dtd=True)
        parser.feed(data)
        root = parser.close()
    else:
        root = SafeXml.fromstring(data, forbid_dtd=True)
    for element in root.iter():
        if len(fields) > limit:
            raise TooManyValues
        tag = str(element.tag).rsplit("}", 1)[-1]
        for key, value in element.attrib.items():
            fields.append(Field(Target.ARG_NAME, key, key, f"{tag}@{key}"))
            fields.append(Field(Target.ARG, key, value, f"{tag}@{key}"))
        if element.text and element.text.strip():
            fields.append(Field(Target.ARG, tag, element.text, tag))
        if element.tail and element.tail.strip():
            fields.append(Field(Target.ARG, tag, element.tail, tag))


def _xml_texts(text: str, fields: list[Field], limit: int) -> None:
    """The text between tags of an XML document that does not parse (no regular expression)."""
    pieces = text.split("<", limit)
    if len(fields) + len(pieces) > limit:
        raise TooManyValues
    for piece in pieces[1:]:
        markup, closed, value = piece.partition(">")
        if not closed:
            fields.append(Field(Target.ARG, "body", "<" + markup))  # an unclosed tag: inspect it whole
        elif value.strip():
            fields.append(Field(Target.ARG, "body", value))


def _disposition(line: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for piece in line.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return params


def _multipart(data: bytes, content_type: str, fields: list[Field], problems: list[str], limit: int) -> None:
    boundary = ""
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        problems.append("multipart body without a boundary")
        return
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    parts = data.split(delimiter, limit // 2)  # a name and a value (or file name) per part
    if len(fields) + 2 * len(parts) > limit:
        raise TooManyValues
    if len(parts) < 3:
        problems.append("multipart body without parts or closing boundary")
    for part in parts[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = part.lstrip(b"\n").partition(b"\n\n")
        if not sep:
            problems.append("multipart part without headers")
            continue
        params: dict[str, str] = {}
        for line in _text(head).splitlines():
            header, _, rest = line.partition(":")
            if header.strip().lower() == "content-disposition":
                params = _disposition(rest)
        name = params.get("name", "")
        fields.append(Field(Target.ARG_NAME, name, name))
        if "filename" in params:
            # File contents are data for the import, not parameters: only the name is inspected.
            fields.append(Field(Target.FILENAME, name, params["filename"]))
        else:
            fields.append(Field(Target.ARG, name, _text(content.removesuffix(b"\r\n").removesuffix(b"\n"))))


def _cookies(header: str, fields: list[Field]) -> None:  # headers: bounded by the server
    for piece in header.split(";"):
        name, sep, value = piece.strip().partition("=")
        if not name and not value:
            continue
        fields.append(Field(Target.COOKIE_NAME, name, name))
        if sep:
            fields.append(Field(Target.COOKIE, name, unquote(value, errors="replace")))


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse(request: WafRequest, limit: int = MAX_FIELDS) -> Parsed:
    """Return every value of the request, and what was wrong with its body.

    Nothing is left out: a request with more than ``limit`` values is marked ``over_limit``
    (and refused by the engine) rather than parsed in part.
    """
    fields: list[Field] = [Field(Target.PATH, "path", request.path)]
    problems: list[str] = []
    try:
        _parse(request, fields, problems, limit)
    except TooManyValues:
        return Parsed(fields=fields, problems=problems, over_limit=True)
    return Parsed(fields=fields, problems=problems, over_limit=len(fields) > limit)


def _parse(request: WafRequest, fields: list[Field], problems: list[str], limit: int) -> None:
    if request.query_string:
        _form(request.query_string, fields, limit)
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":
            _cookies(value, fields)
        elif lower == "user-agent":
            fields.append(Field(Target.USER_AGENT, name, value))
        elif lower == "referer":
            fields.append(Field(Target.REFERER, name, value))
        elif lower not in _SKIPPED_HEADERS:
            fields.append(Field(Target.HEADER, lower, value))
    body = request.body
    if body:
        kind = media_type(request.header("content-type") or "")
        try:
            if kind == "application/x-www-form-urlencoded":
                _form(_text(body), fields, limit)
            elif kind == "application/json" or kind.endswith("+json"):
                _json(json.loads(body), fields, limit)
            elif kind in ("application/xml", "text/xml") or kind.endswith("+xml"):
                _xml(body, fields, limit)
            elif kind.startswith("multipart/"):
                _multipart(body, request.header("content-type") or "", fields, problems, limit)
        except TooManyValues:
            raise
        except SafeXml.ParseError as error:
            # A broken XML document: its markup is not an attack, its texts may be. The view
            # refuses the document anyway (with its line and column), so only texts are scored.
            problems.append(f"{kind} body could not be parsed: {type(error).__name__}")
            _xml_texts(_text(body), fields, limit)
        except (ValueError, RecursionError) as error:
            problems.append(f"{kind} body could not be parsed: {type(error).__name__}")
            fields.append(Field(Target.ARG, "body", _text(body)))
        except Exception as error:  # defusedxml's refusals (DTDs, entities) and anything else odd
            problems.append(f"{kind} body refused: {type(error).__name__}")
            fields.append(Field(Target.ARG, "body", _text(body)))
