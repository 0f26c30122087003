"""Coded errors of the files technology: a file that cannot be read, a bad row, a transport failure."""

from __future__ import annotations

from enum import StrEnum


class FileErrorCode(StrEnum):
    TOO_LARGE = "too_large"
    TOO_SMALL = "too_small"
    TOO_MANY_ROWS = "too_many_rows"
    FIELD_TOO_LONG = "field_too_long"
    ENCODING = "encoding"
    MALFORMED = "malformed"
    FORBIDDEN_XML = "forbidden_xml"
    ZIP_BOMB = "zip_bomb"
    INVALID_CONFIG = "invalid_config"
    MAPPING = "mapping"
    DUPLICATE_SKU = "duplicate_sku"
    UNSAFE_PATH = "unsafe_path"
    NOT_FOUND = "not_found"
    TRANSPORT = "transport"
    REFUSED_ADDRESS = "refused_address"


class FileError(Exception):
    """A refused file or transfer. ``file``, ``location`` (``line 12``, ``record 3``) and ``field`` locate it."""

    def __init__(self, code: FileErrorCode, message: str, *, file: str = "", location: str = "",
                 field: str | None = None) -> None:
        self.code = code
        self.message = message
        self.file = file
        self.location = location
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ", ".join(part for part in (self.file, self.location,
                                            f"field {self.field!r}" if self.field else "") if part)
        return f"{where}: {self.message}" if where else self.message

    def __repr__(self) -> str:
        return f"FileError({self.code!s}, {self.describe()!r})"
