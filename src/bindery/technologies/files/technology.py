"""The ``files`` technology as the engine sees it: node settings, credentials, connector types.

The library (readers, mapping, transports, import) is this package; this module registers it
(``settings.BINDERY_TECHNOLOGIES``). A node says where the folder is (local folder under the
tenant's root, FTP/FTPS or SFTP); its password or private key are sealed credentials. The
``product_import`` connector picks files up exactly once (claimed into ``processing/``, filed in
``processed/`` or ``failed/``) and imports each through :func:`import_products`. A simulation
only lists and reads: files stay where they are and nothing is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from django.conf import settings
from pydantic import Field, SecretStr, model_validator

from bindery.integration.errors import IntegrationError, IntegrationErrorCode
from bindery.integration.registry import Capability, ConnectorType, Direction, StrictSchema, Technology
from bindery.integration.runner import RunContext
from bindery.technologies.files.errors import FileError
from bindery.technologies.files.product_import import ImportResult, import_products
from bindery.technologies.files.schemas import ProductImportConfig
from bindery.technologies.files.transports import (
    FolderTransport,
    FtpTransport,
    LocalTransport,
    SftpTransport,
    pick_up,
    tenant_root,
)

_FNMATCH = r"^[^/\\]{1,100}$"


class FilesNodeSettings(StrictSchema):
    transport: Literal["local", "ftp", "sftp"] = "local"
    folder: str = Field(default="", max_length=500, description="relative folder (local) or remote path")
    host: str = Field(default="", max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str = Field(default="", max_length=255)
    tls: bool = Field(default=False, description="FTP only: explicit FTPS (AUTH TLS)")
    verify: bool = Field(default=True, description="FTPS only: verify the server certificate")
    ca_pem: str | None = Field(default=None, max_length=20_000)
    host_key: str = Field(default="", max_length=20_000, description="SFTP only: the server's public host key")

    @model_validator(mode="after")
    def _complete(self) -> FilesNodeSettings:
        if self.transport != "local" and not self.host:
            raise ValueError(f"a {self.transport} node needs a host")
        if self.transport == "sftp" and not (self.host_key and self.username):
            raise ValueError("an SFTP node needs a username and the server's host key (no trust on first use)")
        return self


class FilesNodeCredentials(StrictSchema):
    password: SecretStr | None = Field(default=None, max_length=1000)
    private_key: SecretStr | None = Field(default=None, max_length=20_000, description="SFTP only, PEM or OpenSSH")


class FilesProductImportConfig(ProductImportConfig):
    """How to read and map the files, plus which files to take per run."""

    pattern: str = Field(default="*", pattern=_FNMATCH, description="shell pattern of the file names, e.g. *.csv")
    max_files: int = Field(default=10, ge=1, le=1000)


def open_transport(ctx: RunContext) -> FolderTransport:
    node = FilesNodeSettings.model_validate(ctx.node.settings)
    creds = ctx.credentials()
    try:
        if node.transport == "local":
            return LocalTransport(tenant_root(ctx.tenant.pk), node.folder)
        if node.transport == "ftp":
            return FtpTransport(node.host, port=node.port or 21, username=node.username or "anonymous",
                                password=creds.get("password") or "", folder=node.folder, tls=node.tls,
                                verify=node.verify, ca_pem=node.ca_pem)
        return SftpTransport(node.host, port=node.port or 22, username=node.username, host_key=node.host_key,
                             password=creds.get("password"), private_key=creds.get("private_key"),
                             folder=node.folder)
    except FileError as error:
        raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG, ctx.scrub(str(error))) from None


def _spool() -> Path:
    spool = Path(settings.BINDERY_VAR_DIR) / "spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    return spool


def _record(ctx: RunContext, result: ImportResult) -> None:
    ctx.count(read=result.read, created=result.created, updated=result.updated,
              skipped=result.unchanged + result.skipped)
    for error in result.errors:
        ctx.fail_item(error.sku or error.location, error.code, f"{result.file}, {error.location}: {error.message}",
                      error.field)
    if result.failed > len(result.errors):
        ctx.count(failed=result.failed - len(result.errors))
    ctx.log(f"{result.file}: {result.read} records read, {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.skipped} filtered out, {result.failed} refused.")


def run_product_import(ctx: RunContext) -> None:
    config = FilesProductImportConfig.model_validate(ctx.config)
    import_config = ProductImportConfig.model_validate(config.model_dump(by_alias=True,
                                                                         exclude={"pattern", "max_files"}))

    def handle(path: Path, name: str) -> ImportResult:
        ctx.log(f"Importing {name}.")
        result = import_products(ctx.tenant, path, import_config, actor=ctx.actor, name=name,
                                 progress=lambda done, total: ctx.checkpoint(done=done, total=total),
                                 simulate=ctx.simulate)
        _record(ctx, result)
        return result

    transport = open_transport(ctx)
    refused: list[str] = []
    try:
        if ctx.simulate:
            # Read without claiming: a simulation moves no file.
            import fnmatch

            names = [f.name for f in transport.list() if fnmatch.fnmatchcase(f.name, config.pattern)]
            for name in names[: config.max_files]:
                with tempfile.NamedTemporaryFile(dir=_spool(), suffix=".download") as local:
                    try:
                        transport.fetch(name, Path(local.name), max_bytes=config.file.limits.max_bytes)
                        handle(Path(local.name), name)
                    except FileError as error:
                        refused.append(ctx.scrub(str(error)))
            picked_names = names[: config.max_files]
        else:
            picked = pick_up(transport, handle, spool=_spool(), max_bytes=config.file.limits.max_bytes,
                             pattern=config.pattern, limit=config.max_files)
            picked_names = [p.name for p in picked]
            for outcome in picked:
                if outcome.error is not None:
                    refused.append(ctx.scrub(str(outcome.error)))
                    ctx.log(f"{outcome.name} refused and filed in {outcome.moved_to or 'place'}: "
                            f"{ctx.scrub(str(outcome.error))}", level="error")
    finally:
        transport.close()
    if not picked_names:
        ctx.log(f"No file matching {config.pattern!r}.")
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, f"file refused: {refused[0]}{more}")


TECHNOLOGY = Technology(
    key="files",
    name="Files (local folder, FTP/FTPS, SFTP)",
    description="Product import from CSV, fixed width, XLSX, XML and JSON files picked up exactly once.",
    settings_schema=FilesNodeSettings,
    credentials_schema=FilesNodeCredentials,
    connector_types=(
        ConnectorType(key="product_import", name="Product import from files", direction=Direction.PRODUCT_IMPORT,
                      config_schema=FilesProductImportConfig, run=run_product_import,
                      capabilities=frozenset({Capability.SIMULATE}),
                      description="Each matching file is claimed, imported through the catalog's bulk upsert and "
                                  "filed in processed/ or failed/."),
    ),
)
