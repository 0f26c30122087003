"""The ``files`` technology's node schemas and connector run functions, registered with the engine.

A node is one place files live: a tenant's local folder, an FTP/FTPS or SFTP server, or an
HTTP(S) URL. Its connectors: product import (file → hub, with pick-up semantics on folders),
order export and product export (hub → file, published atomically under a timestamped name).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bindery.integration.access import exported_ids
from bindery.integration.actions import do_record_exports, read_node_credentials
from bindery.integration.delta import changed_products
from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.models import Node
from bindery.integration.registry import StrictSchema
from bindery.integration.runner import RunContext
from bindery.sales.access import orders_for_export
from bindery.technologies.files.errors import FileError
from bindery.technologies.files.exports import ExportFormat, export_file_name, export_orders, export_products, publish
from bindery.technologies.files.product_import import ImportResult, import_products
from bindery.technologies.files.schemas import FormatConfig, Mapping
from bindery.technologies.files.transports import (
    FolderTransport,
    FtpTransport,
    HttpOptions,
    LocalTransport,
    SftpTransport,
    http_fetch,
    pick_up,
    tenant_root,
)


class FilesNodeSettings(StrictSchema):
    protocol: Literal["local", "ftp", "ftps", "sftp", "http"] = "local"
    host: str = Field(default="", max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str = Field(default="", max_length=200)
    folder: str = Field(default="", max_length=500,
                        description="relative folder on the server or under the tenant root")
    url: str = Field(default="", max_length=2000, description="http: the file's URL")
    verify_tls: bool = True
    ca_pem: str | None = Field(default=None, max_length=20_000)
    host_key: str = Field(default="", max_length=5000, description="sftp: the server's OpenSSH public host key")
    allow_private: bool = Field(default=False, description="allow loopback and private addresses (every protocol)")
    timeout: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _complete(self) -> FilesNodeSettings:
        if self.protocol in ("ftp", "ftps", "sftp") and not self.host:
            raise ValueError(f"{self.protocol} needs a host")
        if self.protocol == "sftp" and not self.host_key:
            raise ValueError("sftp needs the server's host key")
        if self.protocol == "http" and not self.url.startswith(("http://", "https://")):
            raise ValueError("http needs an http:// or https:// url")
        return self


class FilesNodeCredentials(StrictSchema):
    password: SecretStr | None = None
    private_key: SecretStr | None = None


class ProductImportConnectorConfig(StrictSchema):
    file: FormatConfig
    mapping: Mapping
    batch_size: int = Field(default=2000, ge=1, le=20_000)
    pattern: str = Field(default="*", min_length=1, max_length=200, description="file names to pick up")
    max_files: int = Field(default=20, ge=1, le=1000)


class ExportConnectorConfig(StrictSchema):
    format: ExportFormat = ExportFormat.CSV
    file_prefix: str = Field(default="Export", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    delimiter: str = Field(default=";", min_length=1, max_length=1)
    price_lists: list[str] = Field(default_factory=list, max_length=50)
    warehouses: list[str] = Field(default_factory=list, max_length=50)


class WebServerNodeSettings(FilesNodeSettings):
    """A place Bindery publishes to: the folder protocols only."""

    @model_validator(mode="after")
    def _folder_protocol(self) -> WebServerNodeSettings:
        if self.protocol == "http":
            raise ValueError("a web server node is local, ftp, ftps or sftp")
        return self


def open_transport(ctx: RunContext, node: Node | None = None) -> FolderTransport:
    """Open a folder transport on ``node`` (default: the connector's node)."""
    node = node or ctx.node
    settings = FilesNodeSettings.model_validate(node.settings or {})
    secrets = ctx.credentials() if node.pk == ctx.node.pk else read_node_credentials(node)
    password, key = secrets.get("password"), secrets.get("private_key")
    if settings.protocol == "local":
        return LocalTransport(tenant_root(ctx.tenant.pk), settings.folder)
    if settings.protocol in ("ftp", "ftps"):
        return FtpTransport(settings.host, port=settings.port or 21, username=settings.username or "anonymous",
                            password=password or "", folder=settings.folder, tls=settings.protocol == "ftps",
                            verify=settings.verify_tls, ca_pem=settings.ca_pem, timeout=settings.timeout,
                            allow_private=settings.allow_private)
    if settings.protocol == "sftp":
        return SftpTransport(settings.host, port=settings.port or 22, username=settings.username,
                             host_key=settings.host_key, password=password, private_key=key,
                             folder=settings.folder, timeout=settings.timeout, allow_private=settings.allow_private)
    raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG, "an http node has no folder", field="node")


def _report(ctx: RunContext, result: ImportResult) -> None:
    ctx.count(read=result.read, created=result.created, updated=result.updated,
              skipped=result.unchanged + result.skipped)
    for error in result.errors:
        ctx.fail_item(error.sku or error.location, error.code, f"{result.file}, {error.location}: {error.message}",
                      error.field)
    hidden = result.failed - len(result.errors)
    if hidden:
        ctx.count(failed=hidden)
    ctx.log(f"{result.file}: {result.read} records, {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.skipped} filtered out, {result.failed} failed.")


def run_product_import(ctx: RunContext) -> None:
    config = ProductImportConnectorConfig.model_validate(ctx.config)
    import_config = {"file": config.file, "mapping": config.mapping, "batch_size": config.batch_size}
    settings = FilesNodeSettings.model_validate(ctx.node.settings or {})

    def handle(local: Path, name: str) -> ImportResult:
        result = import_products(ctx.tenant, local, import_config, actor=ctx.actor, name=name, simulate=ctx.simulate,
                                 progress=lambda done, total: ctx.checkpoint(done=done, total=total))
        _report(ctx, result)
        return result

    with tempfile.TemporaryDirectory(prefix="bindery-files-") as spool:
        if settings.protocol == "http":
            local = Path(spool) / "download"
            options = HttpOptions(timeout=settings.timeout, allow_private=settings.allow_private,
                                  verify=settings.verify_tls)
            http_fetch(settings.url, local, max_bytes=config.file.limits.max_bytes, options=options)
            handle(local, settings.url.rsplit("/", 1)[-1] or "download")
            return
        transport = open_transport(ctx)
        try:
            if ctx.simulate:
                # A dry run reads the files where they are: nothing is claimed or moved.
                for remote in transport.list()[:config.max_files]:
                    local = Path(spool) / "download"
                    transport.fetch(remote.name, local, max_bytes=config.file.limits.max_bytes)
                    handle(local, remote.name)
                return
            picked = pick_up(transport, handle, spool=Path(spool), max_bytes=config.file.limits.max_bytes,
                             pattern=config.pattern, limit=config.max_files)
        finally:
            transport.close()
    ctx.log(f"{len(picked)} file(s) picked up.")
    refused = [p for p in picked if p.error is not None]
    for item in refused:
        assert item.error is not None
        ctx.log(f"{item.name} was refused and moved to {item.moved_to or 'nowhere'}: {item.error.describe()}",
                level="error")
    if refused:
        first = refused[0].error
        assert first is not None
        raise FileError(first.code, f"{len(refused)} file(s) refused; first: {first.describe()}")


def _publish(ctx: RunContext, local: Path, name: str) -> None:
    if ctx.simulate:
        ctx.log(f"Would publish {name}.")
        return
    # An output (web server) node on the connector receives the file; otherwise the connector's own node.
    target = ctx.connector.output_node
    transport = open_transport(ctx, target)
    try:
        publish(transport, local, name)
    finally:
        transport.close()
    ctx.log(f"Published {name} to {(target or ctx.node).name}.")


def run_order_export(ctx: RunContext) -> None:
    config = ExportConnectorConfig.model_validate(ctx.config)
    with tempfile.TemporaryDirectory(prefix="bindery-files-") as spool:
        local = Path(spool) / "orders"
        # Export once: orders this connector exported before are left out (an export reference
        # each, written after the file is published; deleting one re-exports that order).
        orders = orders_for_export(ctx.tenant, modified_since=ctx.since).exclude(
            pk__in=exported_ids(ctx.connector, "order"))
        result = export_orders(ctx.tenant, local, config.format, delimiter=config.delimiter, orders=orders,
                               progress=lambda done, total: ctx.checkpoint(done=done, total=total))
        ctx.count(read=result.count)
        if result.count:
            _publish(ctx, local, export_file_name(config.file_prefix, config.format))
            if not ctx.simulate:
                do_record_exports(ctx.connector, "order", result.ids, run=ctx.run)
        else:
            ctx.log("No orders to export.")


def run_product_export(ctx: RunContext) -> None:
    config = ExportConnectorConfig.model_validate(ctx.config)
    products = changed_products(ctx.tenant.pk, since=ctx.since, until=ctx.started_at,
                                product_filter=ctx.product_filter)
    with tempfile.TemporaryDirectory(prefix="bindery-files-") as spool:
        local = Path(spool) / "products"
        result = export_products(ctx.tenant, local, config.format, products=products,
                                 price_lists=config.price_lists, warehouses=config.warehouses,
                                 delimiter=config.delimiter,
                                 progress=lambda done, total: ctx.checkpoint(done=done, total=total))
        ctx.count(read=result.count)
        if result.count:
            _publish(ctx, local, export_file_name(config.file_prefix, config.format))
        else:
            ctx.log("No products to export.")
