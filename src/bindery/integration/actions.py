"""Every integration write: nodes (sealed credentials), connectors, procedures, runs, bindings.

Callers (API, console, CLI, scheduler, technologies, tests) never save these models themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from bindery.control.actors import actor_label
from bindery.control.models import LocalTenant
from bindery.control.routers import HOST
from bindery.integration import registry
from bindery.integration.errors import FieldError, IntegrationError, IntegrationErrorCode
from bindery.integration.models import (
    Binding,
    Connector,
    ExportReference,
    LogLevel,
    Node,
    Procedure,
    ProcedureStep,
    Run,
    RunLogLine,
    RunStatus,
    RunTrigger,
    Watermark,
)
from bindery.integration.registry import Capability
from bindery.integration.schemas import OrderFilter, ProcedureAlerts, ProcedureWindows, ProductFilter
from bindery.security import envelope

logger = logging.getLogger(__name__)
MASK = "••••••"
_UNSET: Any = object()


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, "a name is required", field="name")
    if len(name.strip()) > 100:
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, "a name has at most 100 characters", field="name")
    return name.strip()


def _unique_name(write: Any, *, what: str, name: str) -> Any:
    try:
        with transaction.atomic(using=HOST):
            return write()
    except IntegrityError as exc:
        if "name" in str(exc).lower():
            raise IntegrationError(IntegrationErrorCode.ALREADY_EXISTS, f"a {what} named {name!r} exists already",
                                   field="name") from None
        raise


# --- nodes and credentials ----------------------------------------------------------------------


def _aad(node_id: uuid.UUID) -> bytes:
    return b"bindery.integration.node.credentials:" + node_id.bytes


@sensitive_variables("credentials", "plaintext")
def _seal_credentials(node: Node, credentials: dict[str, Any]) -> None:
    plaintext = json.dumps(credentials, sort_keys=True).encode("utf-8")
    keyring = envelope.keyring()
    node.credentials_sealed = envelope.seal(plaintext, keyring, aad=_aad(node.pk))
    node.credentials_key_id = keyring.current.key_id_hex
    node.credential_fields = sorted(credentials)


@sensitive_variables("credentials")
def _prepared(tech: registry.Technology, credentials: dict[str, Any]) -> dict[str, Any]:
    return tech.prepare_credentials(credentials) if tech.prepare_credentials is not None else credentials


@sensitive_variables("credentials")
def do_create_node(tenant: LocalTenant, name: str, technology: str, *, settings: Any = None,
                   credentials: Any = None, actor: Any) -> Node:
    """Create a node; settings and credentials are validated by the technology's schemas."""
    name = _check_name(name)
    tech = registry.get(technology)
    clean_settings = registry.validate(tech.settings_schema, settings, what="node settings", prefix="settings")
    clean_credentials = _prepared(tech, registry.validate(tech.credentials_schema, credentials,
                                                          what="node credentials", prefix="credentials"))
    node = Node(tenant=tenant, name=name, technology=tech.key, settings=clean_settings)
    _seal_credentials(node, clean_credentials)
    _unique_name(lambda: node.save(force_insert=True), what="node", name=name)
    logger.info("node created", extra={"event": "integration.node_created", "tenant": tenant.slug,
                                       "node": str(node.pk), "technology": tech.key, "actor": actor_label(actor)})
    return node


@sensitive_variables("credentials")
def do_update_node(node: Node, *, name: str | None = None, settings: Any = _UNSET, credentials: Any = _UNSET,
                   enabled: bool | None = None, actor: Any) -> Node:
    """Change a node; ``credentials`` replaces all stored credentials (omit it to keep them)."""
    tech = registry.get(node.technology)
    fields: list[str] = []
    if name is not None:
        node.name = _check_name(name)
        fields.append("name")
    if settings is not _UNSET:
        node.settings = registry.validate(tech.settings_schema, settings, what="node settings", prefix="settings")
        fields.append("settings")
    if credentials is not _UNSET:
        clean = _prepared(tech, registry.validate(tech.credentials_schema, credentials, what="node credentials",
                                                  prefix="credentials"))
        _seal_credentials(node, clean)
        fields += ["credentials_sealed", "credentials_key_id", "credential_fields"]
    if enabled is not None:
        node.enabled = enabled
        fields.append("enabled")
    if fields:
        _unique_name(lambda: node.save(update_fields=[*fields, "modified_at"]), what="node", name=node.name)
        logger.info("node updated", extra={"event": "integration.node_updated", "tenant_id": str(node.tenant_id),
                                           "node": str(node.pk), "fields": sorted(set(fields)),
                                           "actor": actor_label(actor)})
    return node


@sensitive_variables("changes", "stored", "merged")
def do_change_node_credentials(node: Node, changes: dict[str, Any], *, actor: Any) -> Node:
    """Replace only the credential fields given in ``changes``; the others keep their stored value.

    What the console's "leave blank to keep" means. A technology that stores a derived form
    (``prepare_credentials``, e.g. a password hash) cannot re-validate what it stored, so there
    every credential field must be given together.
    """
    if not changes:
        return node
    tech = registry.get(node.technology)
    if tech.prepare_credentials is not None:
        missing = sorted(set(tech.credentials_schema.model_fields) - set(changes))
        if missing:
            raise IntegrationError(IntegrationErrorCode.INVALID_VALUE,
                                   "this technology stores its credentials hashed: enter every credential "
                                   "field to change them", field=f"credentials.{missing[0]}")
        return do_update_node(node, credentials=changes, actor=actor)
    stored = read_node_credentials(node)
    merged = {k: v for k, v in stored.items() if k in tech.credentials_schema.model_fields}
    merged.update(changes)
    return do_update_node(node, credentials=merged, actor=actor)


def do_delete_node(node: Node, *, actor: Any) -> None:
    """Delete a node with its bindings and webhook inbox; refused while connectors use it."""
    with transaction.atomic(using=HOST):
        node = Node.objects.for_tenant(node.tenant_id).select_for_update().get(pk=node.pk)
        users = sorted(Connector.objects.for_tenant(node.tenant_id)
                       .filter(Q(node=node) | Q(output_node=node)).values_list("name", flat=True))
        if users:
            raise IntegrationError(IntegrationErrorCode.IN_USE,
                                   f"connectors use this node: {', '.join(users[:10])}; delete them first",
                                   field="node_id")
        node.delete()
    logger.info("node deleted", extra={"event": "integration.node_deleted", "tenant_id": str(node.tenant_id),
                                       "node": str(node.pk), "actor": actor_label(actor)})


@sensitive_variables("plaintext")
def read_node_credentials(node: Node) -> dict[str, Any]:
    """Decrypt a node's credentials for the technology that calls the system (never for display)."""
    if not node.credentials_sealed:
        return {}
    try:
        plaintext = envelope.open_sealed(bytes(node.credentials_sealed), envelope.keyring(), aad=_aad(node.pk))
    except envelope.EnvelopeError as exc:
        raise IntegrationError(IntegrationErrorCode.CREDENTIALS_UNREADABLE,
                               f"the credentials of node {node.name!r} cannot be decrypted: {exc}") from None
    value: dict[str, Any] = json.loads(plaintext)
    return value


def masked_credentials(node: Node) -> dict[str, str]:
    """Return the credential field names with masked values: what the console and API show."""
    return {field: MASK for field in node.credential_fields or []}


def do_rotate_master_key(*, actor: Any) -> tuple[int, int]:
    """Re-wrap every node's data key under the current master key; return (re-wrapped, already current).

    Works across tenants (a host-level maintenance action); each row is re-wrapped in its own
    transaction with a row lock, so concurrent credential edits are never lost.
    """
    keyring = envelope.keyring()
    current = keyring.current.key_id_hex
    rewrapped = unchanged = 0
    ids = list(Node.objects.unscoped().exclude(credentials_sealed=None).values_list("pk", flat=True))
    for node_id in ids:
        with transaction.atomic(using=HOST):
            node = Node.objects.unscoped().select_for_update().get(pk=node_id)
            if node.credentials_key_id == current or not node.credentials_sealed:
                unchanged += 1
                continue
            node.credentials_sealed = envelope.rewrap(bytes(node.credentials_sealed), keyring)
            node.credentials_key_id = current
            node.save(update_fields=["credentials_sealed", "credentials_key_id"])
            rewrapped += 1
    from bindery.integration.webhooks import rewrap_webhook_secrets

    rewrapped += rewrap_webhook_secrets(keyring)
    from bindery.privacy.fields import rewrap_tenant_keys

    rewrapped += rewrap_tenant_keys(keyring)  # tenants' field-encryption keys
    logger.info("master key rotation", extra={"event": "integration.keys_rotated", "key_id": current,
                                              "rewrapped": rewrapped, "unchanged": unchanged,
                                              "actor": actor_label(actor)})
    return rewrapped, unchanged


# --- connectors ---------------------------------------------------------------------------------


def connector_fingerprint(connector_type: str, config: dict[str, Any], product_filter: dict[str, Any],
                          order_filter: dict[str, Any]) -> str:
    """Hash of what decides which items a run moves; a change means the next run must be full."""
    canonical = json.dumps([connector_type, config, product_filter, order_filter], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_options(ctype: registry.ConnectorType, *, simulate: bool, differential: bool) -> None:
    if simulate and Capability.SIMULATE not in ctype.capabilities:
        raise IntegrationError(IntegrationErrorCode.UNSUPPORTED_OPTION,
                               f"connector type {ctype.key!r} cannot simulate", field="simulate")
    if differential and Capability.DIFFERENTIAL not in ctype.capabilities:
        raise IntegrationError(IntegrationErrorCode.UNSUPPORTED_OPTION,
                               f"connector type {ctype.key!r} has no differential mode", field="differential")


def _check_output_node(tenant_id: uuid.UUID, output_node: Node | None) -> None:
    if output_node is not None and output_node.tenant_id != tenant_id:
        raise IntegrationError(IntegrationErrorCode.NOT_FOUND, "no such output node", field="output_node_id")


def do_create_connector(tenant: LocalTenant, name: str, node: Node, connector_type: str, *, config: Any = None,
                        simulate: bool = False, differential: bool = False, product_filter: Any = None,
                        order_filter: Any = None, output_node: Node | None = None, actor: Any) -> Connector:
    """Create a connector of one of its node's technology's connector types, config validated."""
    name = _check_name(name)
    if node.tenant_id != tenant.pk:
        raise IntegrationError(IntegrationErrorCode.NOT_FOUND, "no such node", field="node_id")
    _check_output_node(tenant.pk, output_node)
    ctype = registry.get(node.technology).connector_type(connector_type)
    clean_config = registry.validate(ctype.config_schema, config, what="connector configuration", prefix="config")
    clean_products = registry.validate(ProductFilter, product_filter, what="product filter", prefix="product_filter")
    clean_orders = registry.validate(OrderFilter, order_filter, what="order filter", prefix="order_filter")
    _check_options(ctype, simulate=simulate, differential=differential)
    connector = Connector(tenant=tenant, name=name, node=node, connector_type=ctype.key, config=clean_config,
                          simulate=simulate, differential=differential, product_filter=clean_products,
                          order_filter=clean_orders, output_node=output_node,
                          config_fingerprint=connector_fingerprint(ctype.key, clean_config, clean_products,
                                                                   clean_orders))
    _unique_name(lambda: connector.save(force_insert=True), what="connector", name=name)
    logger.info("connector created", extra={"event": "integration.connector_created", "tenant": tenant.slug,
                                            "connector": str(connector.pk), "type": ctype.key,
                                            "actor": actor_label(actor)})
    return connector


def do_update_connector(connector: Connector, *, name: str | None = None, config: Any = _UNSET,
                        simulate: bool | None = None, differential: bool | None = None,
                        product_filter: Any = _UNSET, order_filter: Any = _UNSET, output_node: Any = _UNSET,
                        enabled: bool | None = None, actor: Any) -> Connector:
    """Change a connector; a change of configuration or filters resets its watermark (next run is full)."""
    ctype = registry.get(connector.node.technology).connector_type(connector.connector_type)
    fields: list[str] = []
    if name is not None:
        connector.name = _check_name(name)
        fields.append("name")
    if config is not _UNSET:
        connector.config = registry.validate(ctype.config_schema, config, what="connector configuration",
                                             prefix="config")
        fields.append("config")
    if product_filter is not _UNSET:
        connector.product_filter = registry.validate(ProductFilter, product_filter, what="product filter",
                                                     prefix="product_filter")
        fields.append("product_filter")
    if order_filter is not _UNSET:
        connector.order_filter = registry.validate(OrderFilter, order_filter, what="order filter",
                                                   prefix="order_filter")
        fields.append("order_filter")
    if output_node is not _UNSET:
        _check_output_node(connector.tenant_id, output_node)
        connector.output_node = output_node
        fields.append("output_node")
    for flag, value in (("simulate", simulate), ("differential", differential), ("enabled", enabled)):
        if value is not None:
            setattr(connector, flag, value)
            fields.append(flag)
    _check_options(ctype, simulate=connector.simulate, differential=connector.differential)
    fingerprint = connector_fingerprint(ctype.key, connector.config, connector.product_filter,
                                        connector.order_filter)
    reset = fingerprint != connector.config_fingerprint
    if reset:
        connector.config_fingerprint = fingerprint
        fields.append("config_fingerprint")
    if not fields:
        return connector
    with transaction.atomic(using=HOST):
        _unique_name(lambda: connector.save(update_fields=[*fields, "modified_at"]), what="connector",
                     name=connector.name)
        if reset:
            # Deleted rather than left stale: the fingerprint check would also catch it, but a
            # missing watermark is what a person reading the data expects after a change.
            Watermark.objects.for_tenant(connector.tenant_id).filter(connector=connector).delete()
    logger.info("connector updated", extra={"event": "integration.connector_updated",
                                            "connector": str(connector.pk), "fields": sorted(set(fields)),
                                            "watermark_reset": reset, "actor": actor_label(actor)})
    return connector


def _refuse_if_active(tenant_id: uuid.UUID, what: str, **target: Any) -> None:
    if Run.objects.for_tenant(tenant_id).filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING], **target).exists():
        raise IntegrationError(IntegrationErrorCode.ALREADY_RUNNING,
                               f"the {what} is queued or running; cancel the run or wait for it to end")


def do_delete_connector(connector: Connector, *, actor: Any) -> None:
    """Delete a connector with its runs, watermark and export references; refused while a
    procedure lists it or a run of it is active."""
    with transaction.atomic(using=HOST):
        connector = Connector.objects.for_tenant(connector.tenant_id).select_for_update().get(pk=connector.pk)
        procedures = sorted(Procedure.objects.for_tenant(connector.tenant_id)
                            .filter(steps__connector=connector).values_list("name", flat=True).distinct())
        if procedures:
            raise IntegrationError(IntegrationErrorCode.IN_USE,
                                   f"procedures run this connector: {', '.join(procedures[:10])}; "
                                   "remove it from them first", field="connector_id")
        _refuse_if_active(connector.tenant_id, "connector", connector=connector)
        connector.delete()
    logger.info("connector deleted", extra={"event": "integration.connector_deleted",
                                            "tenant_id": str(connector.tenant_id), "connector": str(connector.pk),
                                            "actor": actor_label(actor)})


# --- procedures ---------------------------------------------------------------------------------


def _check_interval(interval_minutes: Any) -> int:
    if isinstance(interval_minutes, bool) or not isinstance(interval_minutes, int) \
            or not 1 <= interval_minutes <= 60 * 24 * 31:
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE,
                               "the interval is a whole number of minutes from 1 to 44640",
                               field="interval_minutes")
    return interval_minutes


def _set_steps(procedure: Procedure, connectors: Sequence[Connector]) -> None:
    seen: set[uuid.UUID] = set()
    for index, connector in enumerate(connectors):
        if connector.tenant_id != procedure.tenant_id:
            raise IntegrationError(IntegrationErrorCode.NOT_FOUND, "no such connector",
                                   field=f"connector_ids.{index}")
        if connector.pk in seen:
            raise IntegrationError(IntegrationErrorCode.INVALID_VALUE,
                                   f"connector {connector.name!r} appears twice", field=f"connector_ids.{index}")
        seen.add(connector.pk)
    ProcedureStep.objects.for_tenant(procedure.tenant_id).filter(procedure=procedure).delete()
    ProcedureStep.objects.bulk_create([
        ProcedureStep(tenant_id=procedure.tenant_id, procedure=procedure, connector=c, position=i)
        for i, c in enumerate(connectors)
    ])


def _check_alerts(alert_emails: Any, delay_alert_minutes: Any) -> tuple[list[str], int | None]:
    clean = registry.validate(ProcedureAlerts, {"alert_emails": alert_emails or [],
                                                "delay_alert_minutes": delay_alert_minutes},
                              what="alerts", prefix="procedure")
    return clean["alert_emails"], clean["delay_alert_minutes"]


def do_create_procedure(tenant: LocalTenant, name: str, connectors: Sequence[Connector], *,
                        interval_minutes: int = 60, windows: Any = None, enabled: bool = True,
                        alert_emails: Any = None, delay_alert_minutes: Any = None, actor: Any) -> Procedure:
    """Create a procedure running ``connectors`` in this order; first due at once."""
    name = _check_name(name)
    clean_windows = registry.validate(ProcedureWindows, {"windows": windows or []}, what="time windows",
                                      prefix="procedure")["windows"]
    emails, delay = _check_alerts(alert_emails, delay_alert_minutes)
    procedure = Procedure(tenant=tenant, name=name, interval_minutes=_check_interval(interval_minutes),
                          windows=clean_windows, enabled=enabled, next_run_at=timezone.now() if enabled else None,
                          alert_emails=emails, delay_alert_minutes=delay)
    with transaction.atomic(using=HOST):
        _unique_name(lambda: procedure.save(force_insert=True), what="procedure", name=name)
        _set_steps(procedure, connectors)
    logger.info("procedure created", extra={"event": "integration.procedure_created", "tenant": tenant.slug,
                                            "procedure": str(procedure.pk), "actor": actor_label(actor)})
    return procedure


def do_update_procedure(procedure: Procedure, *, name: str | None = None, connectors: Sequence[Connector] | None = None,
                        interval_minutes: int | None = None, windows: Any = _UNSET, enabled: bool | None = None,
                        alert_emails: Any = _UNSET, delay_alert_minutes: Any = _UNSET, actor: Any) -> Procedure:
    """Change a procedure; ``connectors`` replaces the ordered steps (reordering included)."""
    fields: list[str] = []
    if alert_emails is not _UNSET or delay_alert_minutes is not _UNSET:
        procedure.alert_emails, procedure.delay_alert_minutes = _check_alerts(
            procedure.alert_emails if alert_emails is _UNSET else alert_emails,
            procedure.delay_alert_minutes if delay_alert_minutes is _UNSET else delay_alert_minutes)
        fields += ["alert_emails", "delay_alert_minutes"]
    if name is not None:
        procedure.name = _check_name(name)
        fields.append("name")
    if interval_minutes is not None:
        procedure.interval_minutes = _check_interval(interval_minutes)
        fields.append("interval_minutes")
    if windows is not _UNSET:
        procedure.windows = registry.validate(ProcedureWindows, {"windows": windows or []}, what="time windows",
                                              prefix="procedure")["windows"]
        fields.append("windows")
    if enabled is not None:
        procedure.enabled = enabled
        fields.append("enabled")
        if enabled and procedure.next_run_at is None:
            procedure.next_run_at = timezone.now()
            fields.append("next_run_at")
    with transaction.atomic(using=HOST):
        if fields:
            _unique_name(lambda: procedure.save(update_fields=[*fields, "modified_at"]), what="procedure",
                         name=procedure.name)
        if connectors is not None:
            _set_steps(procedure, connectors)
    logger.info("procedure updated", extra={"event": "integration.procedure_updated",
                                            "procedure": str(procedure.pk), "actor": actor_label(actor)})
    return procedure


def do_delete_procedure(procedure: Procedure, *, actor: Any) -> None:
    """Delete a procedure with its steps and runs (its connectors stay); refused while it runs."""
    with transaction.atomic(using=HOST):
        procedure = Procedure.objects.for_tenant(procedure.tenant_id).select_for_update().get(pk=procedure.pk)
        _refuse_if_active(procedure.tenant_id, "procedure", procedure=procedure)
        procedure.delete()
    logger.info("procedure deleted", extra={"event": "integration.procedure_deleted",
                                            "tenant_id": str(procedure.tenant_id), "procedure": str(procedure.pk),
                                            "actor": actor_label(actor)})


class StepChange(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    UP = "up"
    DOWN = "down"


def do_change_procedure_step(procedure: Procedure, change: StepChange | str, connector: Connector, *,
                             actor: Any) -> list[Connector]:
    """Add a connector at the end, remove it, or move it one place up or down; return the new order.

    The procedure row is locked, so two people editing the steps at once apply one after the other.
    """
    try:
        change = StepChange(change)
    except ValueError:
        raise IntegrationError(IntegrationErrorCode.INVALID_VALUE, "the change is add, remove, up or down",
                               field="change") from None
    if connector.tenant_id != procedure.tenant_id:
        raise IntegrationError(IntegrationErrorCode.NOT_FOUND, "no such connector", field="connector_id")
    with transaction.atomic(using=HOST):
        Procedure.objects.for_tenant(procedure.tenant_id).select_for_update().filter(pk=procedure.pk).first()
        order = [step.connector for step in ProcedureStep.objects.for_tenant(procedure.tenant_id)
                 .filter(procedure=procedure).select_related("connector").order_by("position")]
        ids = [c.pk for c in order]
        if change == StepChange.ADD:
            order.append(connector)  # a duplicate is refused by _set_steps with a clear message
        elif connector.pk not in ids:
            raise IntegrationError(IntegrationErrorCode.NOT_FOUND,
                                   f"connector {connector.name!r} is not a step of this procedure",
                                   field="connector_id")
        else:
            index = ids.index(connector.pk)
            if change == StepChange.REMOVE:
                del order[index]
            else:
                other = index - 1 if change == StepChange.UP else index + 1
                if 0 <= other < len(order):
                    order[index], order[other] = order[other], order[index]
        _set_steps(procedure, order)
    logger.info("procedure steps changed", extra={"event": "integration.procedure_steps_changed",
                                                  "procedure": str(procedure.pk), "change": str(change),
                                                  "connector": str(connector.pk), "actor": actor_label(actor)})
    return order


# --- runs ---------------------------------------------------------------------------------------


def add_log_line(run: Run, message: str, *, level: str = LogLevel.INFO) -> None:
    RunLogLine.objects.create(tenant_id=run.tenant_id, run=run, at=timezone.now(), level=level,
                              message=message[:4000])


def do_enqueue_run(*, connector: Connector | None = None, procedure: Procedure | None = None,
                   trigger: str = RunTrigger.MANUAL, actor: Any, max_attempts: int = 3) -> Run:
    """Queue a run of a connector or a procedure and wake a worker after commit.

    A second active run of the same target is refused by the database (partial unique index),
    whoever races: the error is ``already_running``.
    """
    if (connector is None) == (procedure is None):
        raise ValueError("give exactly one of connector or procedure")
    target: Connector | Procedure = connector or procedure  # type: ignore[assignment]
    if connector is not None and not (connector.enabled and connector.node.enabled):
        what = "connector" if not connector.enabled else f"node {connector.node.name!r} of the connector"
        raise IntegrationError(IntegrationErrorCode.DISABLED, f"the {what} is disabled; enable it to run")
    run = Run(tenant_id=target.tenant_id, connector=connector, procedure=procedure, trigger=trigger,
              actor=actor_label(actor), simulate=bool(connector and connector.simulate), max_attempts=max_attempts)
    try:
        with transaction.atomic(using=HOST):
            run.save(force_insert=True)
            add_log_line(run, f"Queued ({RunTrigger(trigger).label}) by {run.actor}.")
            transaction.on_commit(lambda: wake_worker(run.pk), using=HOST)
    except IntegrityError:
        raise IntegrationError(IntegrationErrorCode.ALREADY_RUNNING,
                               f"{target.name!r} is already queued or running") from None
    return run


def wake_worker(run_id: uuid.UUID) -> None:
    from bindery.integration.tasks import execute_run_job

    execute_run_job(str(run_id))


def do_cancel_run(run: Run, *, actor: Any) -> Run:
    """Cancel a queued run at once; ask a running one to stop at its next checkpoint."""
    with transaction.atomic(using=HOST):
        run = Run.objects.for_tenant(run.tenant_id).select_for_update().get(pk=run.pk)
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.finished_at = timezone.now()
            run.cancel_requested = True
            run.save(update_fields=["status", "finished_at", "cancel_requested", "modified_at"])
            add_log_line(run, f"Cancelled before it started by {actor_label(actor)}.", level=LogLevel.WARNING)
        elif run.status == RunStatus.RUNNING:
            if not run.cancel_requested:
                run.cancel_requested = True
                run.save(update_fields=["cancel_requested", "modified_at"])
                Run.objects.for_tenant(run.tenant_id).filter(parent=run).update(cancel_requested=True)
                add_log_line(run, f"Cancellation requested by {actor_label(actor)}; stopping at the next checkpoint.",
                             level=LogLevel.WARNING)
        else:
            raise IntegrationError(IntegrationErrorCode.NOT_CANCELLABLE, f"the run has already {run.status}",
                                   field="status")
    return run


# --- bindings -----------------------------------------------------------------------------------


def do_bind(node: Node, entity_kind: str, external_id: str, hub_id: uuid.UUID) -> Binding:
    """Bind an external id to a hub id, idempotently; concurrent binders end with one row.

    The unique constraints decide the race: the loser's insert fails and it reads the winner's
    row. A different hub id already bound to the external id is a conflict, never overwritten.
    """
    existing = Binding.objects.for_tenant(node.tenant_id).filter(node=node, entity_kind=entity_kind,
                                                                 external_id=external_id).first()
    if existing is None:
        try:
            with transaction.atomic(using=HOST):
                return Binding.objects.create(tenant_id=node.tenant_id, node=node, entity_kind=entity_kind,
                                              external_id=external_id, hub_id=hub_id, synced_at=timezone.now())
        except IntegrityError:
            existing = Binding.objects.for_tenant(node.tenant_id).filter(
                node=node, entity_kind=entity_kind, external_id=external_id).first()
            if existing is None:
                raise IntegrationError(IntegrationErrorCode.ALREADY_EXISTS,
                                       f"hub {entity_kind} {hub_id} is bound to another external id",
                                       field="external_id") from None
    if existing.hub_id != hub_id:
        raise IntegrationError(IntegrationErrorCode.ALREADY_EXISTS,
                               f"external {entity_kind} {external_id!r} is bound to another hub id",
                               field="external_id", errors=[FieldError("external_id", "bound elsewhere")])
    Binding.objects.for_tenant(node.tenant_id).filter(pk=existing.pk).update(synced_at=timezone.now())
    return existing


def do_bind_many(node: Node, entity_kind: str, pairs: Sequence[tuple[str, uuid.UUID]]) -> list[str]:
    """Bind many external ids at once (one page of a run); return the external ids that conflict.

    Set-based: one read of what exists, one ``INSERT ... ON CONFLICT DO NOTHING`` for the rest,
    one read-back. The unique constraints still decide every race; a pair whose external id or
    hub id is bound to something else is returned, never overwritten.
    """
    if not pairs:
        return []
    wanted = dict(pairs)
    scope = Binding.objects.for_tenant(node.tenant_id).filter(node=node, entity_kind=entity_kind)
    existing = dict(scope.filter(external_id__in=list(wanted)).values_list("external_id", "hub_id"))
    now = timezone.now()
    missing = [Binding(tenant_id=node.tenant_id, node=node, entity_kind=entity_kind, external_id=external_id,
                       hub_id=hub_id, synced_at=now)
               for external_id, hub_id in wanted.items() if external_id not in existing]
    if missing:
        Binding.objects.bulk_create(missing, ignore_conflicts=True)
        existing = dict(scope.filter(external_id__in=list(wanted)).values_list("external_id", "hub_id"))
    conflicts = [external_id for external_id, hub_id in wanted.items() if existing.get(external_id) != hub_id]
    good = [external_id for external_id in wanted if external_id not in conflicts]
    scope.filter(external_id__in=good).update(synced_at=now)
    return conflicts


def do_set_fingerprints(node: Node, entity_kind: str, aspect: str, values: dict[uuid.UUID, str]) -> None:
    """Record, per bound hub record, a fingerprint of what was last sent for one aspect (e.g. images)."""
    if not values:
        return
    scope = Binding.objects.for_tenant(node.tenant_id).filter(node=node, entity_kind=entity_kind)
    rows = list(scope.filter(hub_id__in=list(values)).only("pk", "fingerprints", "hub_id"))
    for row in rows:
        row.fingerprints = {**(row.fingerprints or {}), aspect: values[row.hub_id]}
    scope.bulk_update(rows, ["fingerprints"])


def do_unbind(node: Node, entity_kind: str, external_ids: Sequence[str]) -> int:
    """Forget bindings whose remote record is gone (deleted on the other side); return rows removed."""
    if not external_ids:
        return 0
    removed, _ = Binding.objects.for_tenant(node.tenant_id).filter(
        node=node, entity_kind=entity_kind, external_id__in=list(external_ids)).delete()
    return removed


def do_record_export(connector: Connector, entity_kind: str, hub_id: uuid.UUID, *, run: Run | None = None) -> bool:
    """Record that ``connector`` exported this object ("export once"); return False if it already had.

    The unique constraint decides a race between two runs: the second insert does nothing.
    """
    row = ExportReference(tenant_id=connector.tenant_id, connector=connector, entity_kind=entity_kind,
                          hub_id=hub_id, run=run)
    ExportReference.objects.bulk_create([row], ignore_conflicts=True)
    return ExportReference.objects.for_tenant(connector.tenant_id).filter(pk=row.pk).exists()


def do_record_exports(connector: Connector, entity_kind: str, hub_ids: Sequence[uuid.UUID], *,
                      run: Run | None = None) -> None:
    """Record many exports at once (one published file); ones already recorded stay as they were."""
    rows = [ExportReference(tenant_id=connector.tenant_id, connector=connector, entity_kind=entity_kind,
                            hub_id=hub_id, run=run) for hub_id in hub_ids]
    ExportReference.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def do_advance_watermark(run: Run, connector: Connector, *, since: dt.datetime, fingerprint: str) -> None:
    """Set the connector's watermark; call only inside the transaction that marks the run succeeded."""
    Watermark.objects.for_tenant(connector.tenant_id).update_or_create(
        tenant_id=connector.tenant_id, connector=connector,
        defaults={"since": since, "config_fingerprint": fingerprint, "run": run},
    )


def bump_counters(run: Run, **counts: int) -> None:
    """Add to a run's counters in the database (F expressions: concurrent-safe)."""
    updates = {f"{name}_count": F(f"{name}_count") + value for name, value in counts.items() if value}
    if updates:
        Run.objects.for_tenant(run.tenant_id).filter(pk=run.pk).update(**updates)
