"""The technology registry: what Bindery can connect to, as stateless descriptors.

A :class:`Technology` (``files``, ``woocommerce``, the internal ``hub`` ...) declares the
schema of its nodes' settings and credentials and its :class:`ConnectorType` s. A connector
type declares its direction, its configuration schema (pydantic, ``extra="forbid"`` so a
misspelt option is an error, not silently ignored), its capabilities and its run function.

Technologies are modules listed in ``settings.BINDERY_TECHNOLOGIES``, each exposing
``TECHNOLOGY``; :func:`load_configured` registers them when the app is ready.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, SecretBytes, SecretStr
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from bindery.integration.errors import FieldError, IntegrationError, IntegrationErrorCode

if TYPE_CHECKING:
    from bindery.integration.runner import RunContext


class Direction(StrEnum):
    PRODUCT_IMPORT = "product_import"
    PRODUCT_PUBLISH = "product_publish"
    ORDER_DOWNLOAD = "order_download"
    ORDER_EXPORT = "order_export"
    ORDER_UPLOAD = "order_upload"
    SHIPMENT_UPDATE = "shipment_update"
    INTERNAL = "internal"


class Capability(StrEnum):
    DIFFERENTIAL = "differential"
    SIMULATE = "simulate"


class StrictSchema(BaseModel):
    """Base for settings, credentials and configuration schemas: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmptySchema(StrictSchema):
    """A schema with no fields (a technology without settings or credentials)."""


RunFunction = Callable[["RunContext"], None]
CredentialsHook = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ConnectorType:
    key: str
    name: str
    direction: Direction
    config_schema: type[BaseModel]
    run: RunFunction
    capabilities: frozenset[Capability] = frozenset()
    description: str = ""
    # A passive connector type is called by the other system at /api/connectors/<id>/<endpoint>
    # ("GET orders"); empty for connectors that Bindery runs itself.
    endpoint: str = ""

    @property
    def passive(self) -> bool:
        return bool(self.endpoint)


@dataclass(frozen=True)
class Technology:
    key: str
    name: str
    settings_schema: type[BaseModel] = EmptySchema
    credentials_schema: type[BaseModel] = EmptySchema
    connector_types: tuple[ConnectorType, ...] = ()
    description: str = ""
    # Turns validated credentials into what is sealed (e.g. a password into its Argon2id hash).
    prepare_credentials: CredentialsHook | None = None
    _by_key: dict[str, ConnectorType] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for connector_type in self.connector_types:
            if connector_type.key in self._by_key:
                raise ValueError(f"technology {self.key!r} declares connector type {connector_type.key!r} twice")
            self._by_key[connector_type.key] = connector_type

    def connector_type(self, key: str) -> ConnectorType:
        try:
            return self._by_key[key]
        except KeyError:
            known = ", ".join(sorted(self._by_key)) or "none"
            raise IntegrationError(IntegrationErrorCode.UNKNOWN_CONNECTOR_TYPE,
                                   f"technology {self.key!r} has no connector type {key!r} (known: {known})",
                                   field="connector_type") from None


class NotRegistered(IntegrationError):
    def __init__(self, key: str) -> None:
        known = ", ".join(sorted(_registry)) or "none"
        super().__init__(IntegrationErrorCode.UNKNOWN_TECHNOLOGY,
                         f"no technology {key!r} is installed (installed: {known})", field="technology")


_registry: dict[str, Technology] = {}


def register(technology: Technology) -> Technology:
    """Add a technology; a second one with the same key is a programming error."""
    if technology.key in _registry and _registry[technology.key] is not technology:
        raise ValueError(f"technology {technology.key!r} is already registered")
    _registry[technology.key] = technology
    return technology


def unregister(key: str) -> None:
    _registry.pop(key, None)


def get(key: str) -> Technology:
    try:
        return _registry[key]
    except KeyError:
        raise NotRegistered(key) from None


def all_technologies() -> list[Technology]:
    return sorted(_registry.values(), key=lambda t: t.key)


def load_configured(modules: list[str]) -> None:
    for dotted in modules:
        module = importlib.import_module(dotted)
        register(module.TECHNOLOGY)


# --- validation with field errors ---------------------------------------------------------------


MAX_FIELD_ERRORS = 50


def validate(schema: type[BaseModel], data: Any, *, what: str, prefix: str) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; return the clean dict or raise with one error per field.

    Messages name the field (``config.batch_size``) and never echo the rejected value, because
    the value may be a credential.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG, f"{what} must be an object", field=prefix)
    try:
        clean = schema.model_validate(dict(data))
    except PydanticValidationError as exc:
        errors = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error.get("loc", ()))
            message = "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
            errors.append(FieldError(f"{prefix}.{location}" if location else prefix, str(message)))
        if len(errors) > MAX_FIELD_ERRORS:  # a hostile payload must not turn into a huge answer
            more = len(errors) - MAX_FIELD_ERRORS
            errors = [*errors[:MAX_FIELD_ERRORS], FieldError(prefix, f"and {more} more errors")]
        first = errors[0] if errors else FieldError(prefix, "invalid")
        raise IntegrationError(IntegrationErrorCode.INVALID_CONFIG, f"{what}: {first.field}: {first.message}",
                               field=first.field, errors=errors) from None
    return to_jsonable_python(_reveal(clean.model_dump(by_alias=True)))


def _reveal(value: Any) -> Any:
    """Unwrap SecretStr values: credentials are sealed as a whole, not stored masked."""
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def describe_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON schema of a settings/credentials/config model (for the API and console)."""
    return schema.model_json_schema()
