"""Product import from a file into the hub, through the catalog's bulk upsert, in batches.

:func:`import_products` is the entry point the engine's ``files`` connector calls once the
transport has fetched the file to a local path. It reads the file twice, streaming both times:

1. a checking pass reads every record: a problem of the whole file (size, encoding, broken
   quoting or markup, forbidden XML, too many rows) refuses it **before anything is written**,
   so a truncated or corrupt file never half-applies;
2. the import pass maps each record, drops those the filters reject, and upserts the rest in
   batches with :func:`bindery.catalog.actions.do_bulk_upsert_products`.

A bad record (unmappable value, over-long field, duplicated SKU, refused by the catalog) becomes
an :class:`ItemError` with its location and field; the other records are imported. Writes are
idempotent: importing the same file again reports every product unchanged and writes nothing.
A SKU appearing twice in one file is imported from its first record; later ones are errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindery.catalog.actions import do_bulk_upsert_products
from bindery.catalog.errors import CatalogError
from bindery.catalog.models import Product
from bindery.catalog.payloads import ProductData, check_product
from bindery.catalog.statistics import refresh_after_import
from bindery.catalog.upsert import Outcome
from bindery.control.models import LocalTenant
from bindery.technologies.files.errors import FileError, FileErrorCode
from bindery.technologies.files.mapping import RowError, compile_mapping, matches, row_error_to_file_error
from bindery.technologies.files.readers import read_records
from bindery.technologies.files.schemas import ProductImportConfig, check_config

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 1000
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ItemError:
    """One record that was not imported."""

    location: str
    sku: str
    code: str
    message: str
    field: str | None = None


@dataclass
class ImportResult:
    """Counters of one import (``failed`` counts every error; ``errors`` keeps the first 1,000)."""

    file: str
    total: int = 0
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    simulated: bool = False
    errors: list[ItemError] = field(default_factory=list)

    def add_error(self, error: ItemError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)


def _as_config(config: ProductImportConfig | dict[str, Any]) -> ProductImportConfig:
    return config if isinstance(config, ProductImportConfig) else check_config(ProductImportConfig, config)


def count_records(path: Path, config: ProductImportConfig, name: str) -> int:
    """Read the whole file once; raise FileError if it cannot be read; return the number of records."""
    total = 0
    for _ in read_records(path, config.file, name=name):
        total += 1
    return total


def import_products(tenant: LocalTenant, path: Path, config: ProductImportConfig | dict[str, Any], *,
                    actor: Any, name: str = "", progress: Progress | None = None,
                    simulate: bool = False) -> ImportResult:
    """Import the products of the file at ``path``; raise FileError if the file as a whole is refused.

    ``progress(done, total)`` is called after each batch. With ``simulate`` nothing is written:
    records are mapped and checked, and counted as they would be created or updated.
    """
    clean = _as_config(config)
    name = name or path.name
    result = ImportResult(file=name, simulated=simulate)
    result.total = count_records(path, clean, name)
    if progress:
        progress(0, result.total)
    seen: dict[str, str] = {}
    batch: list[tuple[str, ProductData]] = []
    mapping = clean.mapping
    map_record = compile_mapping(mapping)

    def flush() -> None:
        if simulate:
            _simulate(tenant, batch, result)
        else:
            _write(tenant, batch, result, actor)
        batch.clear()
        if progress:
            progress(result.read, result.total)

    for record in read_records(path, clean.file, name=name):
        result.read += 1
        if record.error is not None:
            result.add_error(_from_file_error(record.error, record.location, ""))
            continue
        if not matches(mapping.filters, mapping.filter_combine, record.values):
            result.skipped += 1
            continue
        try:
            data = map_record(record.values)
        except RowError as error:
            result.add_error(_from_file_error(row_error_to_file_error(error, file=name, location=record.location),
                                              record.location, ""))
            continue
        first = seen.get(data.sku)
        if first is not None:
            result.add_error(ItemError(record.location, data.sku, FileErrorCode.DUPLICATE_SKU,
                                       f"SKU {data.sku!r} was already imported from {first} of this file", "sku"))
            continue
        seen[data.sku] = record.location
        batch.append((record.location, data))
        if len(batch) >= clean.batch_size:
            flush()
    if batch or progress:
        flush()
    if not simulate and (result.created or result.updated):
        refresh_after_import(result.created + result.updated)
    logger.info("file product import", extra={
        "event": "files.product_import", "tenant": tenant.slug, "file": name, "records": result.read,
        "items_created": result.created, "items_updated": result.updated, "items_unchanged": result.unchanged,
        "items_skipped": result.skipped, "items_failed": result.failed, "simulated": simulate})
    return result


def _from_file_error(error: FileError, location: str, sku: str) -> ItemError:
    return ItemError(location, sku, str(error.code), error.message, error.field)


def _write(tenant: LocalTenant, batch: list[tuple[str, ProductData]], result: ImportResult, actor: Any) -> None:
    if not batch:
        return
    outcomes = do_bulk_upsert_products(tenant, [data for _, data in batch], actor=actor)
    for (location, data), outcome in zip(batch, outcomes, strict=True):
        if outcome.outcome == Outcome.CREATED:
            result.created += 1
        elif outcome.outcome == Outcome.UPDATED:
            result.updated += 1
        elif outcome.outcome == Outcome.UNCHANGED:
            result.unchanged += 1
        else:
            result.add_error(ItemError(location, data.sku, str(outcome.code), outcome.message, outcome.field))


def _simulate(tenant: LocalTenant, batch: list[tuple[str, ProductData]], result: ImportResult) -> None:
    if not batch:
        return
    existing = set(Product.objects.for_tenant(tenant).filter(
        sku__in=[data.sku for _, data in batch]).values_list("sku", flat=True))
    for location, data in batch:
        try:
            check_product(data)
        except CatalogError as error:
            result.add_error(ItemError(location, data.sku, str(error.code), error.message, error.field))
            continue
        if data.sku in existing:
            result.updated += 1
        else:
            result.created += 1
