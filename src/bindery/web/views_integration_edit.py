"""Console pages that create, change and delete nodes, connectors and procedures.

The forms are built from the technologies' declared schemas (:mod:`bindery.web.schema_forms`);
every write goes through :mod:`bindery.integration.actions`, as the API and CLI do, and a
refused write shows the action's field errors on the fields they name, with nothing saved.
Credentials are write-only: the forms never show them back, and a blank field keeps what is
stored. Edit pages double as detail pages: a role that may only read sees them disabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from bindery.accounts.models import User
from bindery.accounts.permissions import Area
from bindery.control.routers import HOST
from bindery.integration import registry
from bindery.integration.access import access_connector_by_id, access_node_by_id
from bindery.integration.actions import (
    do_change_node_credentials,
    do_change_procedure_step,
    do_create_connector,
    do_create_node,
    do_create_procedure,
    do_delete_connector,
    do_delete_node,
    do_delete_procedure,
    do_update_connector,
    do_update_node,
    do_update_procedure,
    masked_credentials,
)
from bindery.integration.errors import IntegrationError
from bindery.integration.models import Connector, Node, Procedure, ProcedureStep
from bindery.integration.schemas import OrderFilter, ProductFilter
from bindery.web.forms_integration import ConnectorForm, NodeForm, ProcedureForm, WindowFormSet, window_initial
from bindery.web.permissions import can_write, console_view
from bindery.web.schema_forms import SchemaForm, add_integration_error
from bindery.web.views_integration import connector_or_404, node_or_404, procedure_or_404


def _post(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _all_valid(*forms_: forms.BaseForm | forms.BaseFormSet) -> bool:
    return all([f.is_valid() for f in forms_])  # a list, so every form shows its errors


# --- nodes --------------------------------------------------------------------------------------


@console_view(Area.INTEGRATION)
def node_list(request: HttpRequest, user: User) -> HttpResponse:
    nodes = list(Node.objects.for_tenant(user.tenant).order_by("name"))
    counts: dict[uuid.UUID, int] = {}
    for node_id in Connector.objects.for_tenant(user.tenant).values_list("node_id", flat=True):
        counts[node_id] = counts.get(node_id, 0) + 1
    for node in nodes:
        node.connector_count = counts.get(node.pk, 0)
        node.masked = masked_credentials(node)
    return render(request, "web/integration/node_list.html",
                  {"nodes": nodes, "technologies": registry.all_technologies(),
                   "can_write": can_write(user, Area.INTEGRATION)})


def _technology_or_none(key: str) -> registry.Technology | None:
    try:
        return registry.get(key)
    except IntegrationError:
        return None


@console_view(Area.INTEGRATION, methods=("GET", "POST"), write=True)
def node_create(request: HttpRequest, user: User) -> HttpResponse:
    key = (request.POST.get("technology") or request.GET.get("technology") or "")[:50]
    tech = _technology_or_none(key) if key else None
    if tech is None:  # first choose what to connect
        status = 400 if key else 200
        return render(request, "web/integration/node_choose.html",
                      {"technologies": registry.all_technologies(), "unknown": key if key else ""}, status=status)
    form = NodeForm(_post(request))
    del form.fields["forget_credentials"]
    settings = SchemaForm(tech.settings_schema, _post(request), prefix="settings")
    credentials = SchemaForm(tech.credentials_schema, _post(request), prefix="credentials", secret=True)
    if request.method == "POST" and _all_valid(form, settings, credentials):
        try:
            node = do_create_node(user.tenant, form.cleaned_data["name"], tech.key, settings=settings.payload(),
                                  credentials=credentials.secrets_given(), actor=user)
            if not form.cleaned_data["enabled"]:
                do_update_node(node, enabled=False, actor=user)
        except IntegrationError as error:
            add_integration_error(error, {"settings": settings, "credentials": credentials}, form)
        else:
            messages.success(request, f"Node {node.name} created.")
            return redirect("web:node_edit", node_id=node.pk)
    return render(request, "web/integration/node_form.html",
                  {"tech": tech, "form": form, "settings": settings, "credentials": credentials, "node": None,
                   "can_write": True}, status=400 if request.method == "POST" else 200)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=node_or_404)
def node_edit(request: HttpRequest, user: User, node: Node) -> HttpResponse:
    tech = _technology_or_none(node.technology)
    if tech is None:
        messages.error(request, f"The technology {node.technology!r} of this node is not installed.")
        return redirect("web:nodes")
    form = NodeForm(_post(request), initial={"name": node.name, "enabled": node.enabled})
    settings = SchemaForm(tech.settings_schema, _post(request), prefix="settings", stored=node.settings)
    credentials = SchemaForm(tech.credentials_schema, _post(request), prefix="credentials", secret=True,
                             keep_secret=bool(node.credential_fields))
    if request.method == "POST" and _all_valid(form, settings, credentials):
        data = form.cleaned_data
        try:
            with transaction.atomic(using=HOST):  # all or nothing: a refused secret keeps the new name unsaved
                node = access_node_by_id(user.tenant, node.pk, for_write=True)
                do_update_node(node, name=data["name"], settings=settings.payload(), enabled=data["enabled"],
                               actor=user)
                if data["forget_credentials"]:
                    do_update_node(node, credentials=credentials.secrets_given(), actor=user)
                else:
                    do_change_node_credentials(node, credentials.secrets_given(), actor=user)
        except IntegrationError as error:
            add_integration_error(error, {"settings": settings, "credentials": credentials}, form)
            node.refresh_from_db()
        else:
            messages.success(request, f"Node {node.name} saved.")
            return redirect("web:node_edit", node_id=node.pk)
    connectors = Connector.objects.for_tenant(user.tenant).filter(node=node).order_by("name")
    return render(request, "web/integration/node_form.html",
                  {"tech": tech, "form": form, "settings": settings, "credentials": credentials, "node": node,
                   "masked": masked_credentials(node), "connectors": connectors,
                   "can_write": can_write(user, Area.INTEGRATION)},
                  status=400 if request.method == "POST" else 200)


def _delete_with_confirmation(request: HttpRequest, user: User, obj: Node | Connector | Procedure, *,
                              delete: Callable[..., Any], what: str, list_url: str, consequences: str
                              ) -> HttpResponse:
    """The shared delete flow: a confirmation page, then the action; a refusal goes back to the object."""
    edit_url = f"web:{what}_edit"
    key: dict[str, Any] = {f"{what}_id": obj.pk}
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            delete(obj, actor=user)
        except IntegrationError as error:
            messages.error(request, error.message)
            return redirect(edit_url, **key)
        messages.success(request, f"{what.capitalize()} {obj.name} deleted.")
        return redirect(list_url)
    status = 400 if request.method == "POST" else 200  # a POST reaching here lacked the confirmation
    return render(request, "web/integration/confirm_delete.html",
                  {"what": what, "name": obj.name, "consequences": consequences,
                   "back": reverse(edit_url, kwargs=key)}, status=status)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=node_or_404, write=True)
def node_delete(request: HttpRequest, user: User, node: Node) -> HttpResponse:
    return _delete_with_confirmation(request, user, node, delete=do_delete_node, what="node",
                                     list_url="web:nodes",
                                     consequences="Its bindings (which external ids match which hub rows) and "
                                                  "its webhook inbox are deleted too. Hub products and orders stay.")


# --- connectors ---------------------------------------------------------------------------------


def _connector_forms(request: HttpRequest, user: User, ctype: registry.ConnectorType,
                     connector: Connector | None) -> tuple[ConnectorForm, SchemaForm, SchemaForm, SchemaForm]:
    initial: dict[str, Any] = {"enabled": True}
    if connector is not None:
        initial = {"name": connector.name, "enabled": connector.enabled, "simulate": connector.simulate,
                   "differential": connector.differential,
                   "output_node": str(connector.output_node_id) if connector.output_node_id else ""}
    form = ConnectorForm(user.tenant, _post(request), initial=initial)
    config = SchemaForm(ctype.config_schema, _post(request), prefix="config",
                        stored=connector.config if connector else None)
    products = SchemaForm(ProductFilter, _post(request), prefix="product_filter",
                          stored=connector.product_filter if connector else None)
    orders = SchemaForm(OrderFilter, _post(request), prefix="order_filter",
                        stored=connector.order_filter if connector else None)
    return form, config, products, orders


def _output_node(user: User, value: str) -> Node | None:
    return access_node_by_id(user.tenant, value, for_write=False) if value else None


def _connector_page(request: HttpRequest, user: User, *, node: Node, ctype: registry.ConnectorType,
                    connector: Connector | None, forms_: tuple[Any, ...], status: int) -> HttpResponse:
    form, config, products, orders = forms_
    return render(request, "web/integration/connector_form.html",
                  {"node": node, "ctype": ctype, "connector": connector, "form": form, "config": config,
                   "product_filter": products, "order_filter": orders,
                   "can_write": can_write(user, Area.INTEGRATION)}, status=status)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=node_or_404, write=True)
def connector_create(request: HttpRequest, user: User, node: Node) -> HttpResponse:
    tech = _technology_or_none(node.technology)
    key = (request.POST.get("connector_type") or request.GET.get("type") or "")[:50]
    ctype = None
    if tech is not None and key:
        try:
            ctype = tech.connector_type(key)
        except IntegrationError:
            ctype = None
    if ctype is None:
        return render(request, "web/integration/connector_choose.html",
                      {"node": node, "tech": tech, "unknown": key}, status=400 if key else 200)
    forms_ = _connector_forms(request, user, ctype, None)
    form, config, products, orders = forms_
    if request.method == "POST" and _all_valid(*forms_):
        data = form.cleaned_data
        try:
            connector = do_create_connector(
                user.tenant, data["name"], node, ctype.key, config=config.payload(), simulate=data["simulate"],
                differential=data["differential"], product_filter=products.payload(),
                order_filter=orders.payload(), output_node=_output_node(user, data["output_node"]), actor=user)
            if not data["enabled"]:
                do_update_connector(connector, enabled=False, actor=user)
        except IntegrationError as error:
            add_integration_error(error, {"config": config, "product_filter": products, "order_filter": orders},
                                  form)
        else:
            messages.success(request, f"Connector {connector.name} created.")
            return redirect("web:connector_edit", connector_id=connector.pk)
    return _connector_page(request, user, node=node, ctype=ctype, connector=None, forms_=forms_,
                           status=400 if request.method == "POST" else 200)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=connector_or_404)
def connector_edit(request: HttpRequest, user: User, connector: Connector) -> HttpResponse:
    try:
        ctype = registry.get(connector.node.technology).connector_type(connector.connector_type)
    except IntegrationError as error:
        messages.error(request, error.message)
        return redirect("web:connectors")
    forms_ = _connector_forms(request, user, ctype, connector)
    form, config, products, orders = forms_
    if request.method == "POST" and _all_valid(*forms_):
        data = form.cleaned_data
        try:
            with transaction.atomic(using=HOST):
                locked = access_connector_by_id(user.tenant, connector.pk, for_write=True)
                do_update_connector(
                    locked, name=data["name"], config=config.payload(), simulate=data["simulate"],
                    differential=data["differential"], product_filter=products.payload(),
                    order_filter=orders.payload(), output_node=_output_node(user, data["output_node"]),
                    enabled=data["enabled"], actor=user)
        except IntegrationError as error:
            add_integration_error(error, {"config": config, "product_filter": products, "order_filter": orders},
                                  form)
        else:
            messages.success(request, f"Connector {locked.name} saved.")
            return redirect("web:connector_edit", connector_id=connector.pk)
    return _connector_page(request, user, node=connector.node, ctype=ctype, connector=connector, forms_=forms_,
                           status=400 if request.method == "POST" else 200)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=connector_or_404, write=True)
def connector_delete(request: HttpRequest, user: User, connector: Connector) -> HttpResponse:
    return _delete_with_confirmation(request, user, connector, delete=do_delete_connector, what="connector",
                                     list_url="web:connectors",
                                     consequences="Its runs and logs, its watermark and its export references are "
                                                  "deleted too. Hub data it wrote stays.")


# --- procedures ---------------------------------------------------------------------------------


def _procedure_forms(request: HttpRequest, procedure: Procedure | None) -> tuple[ProcedureForm, Any]:
    initial: dict[str, Any] = {"enabled": True, "interval_minutes": 60}
    windows: list[dict[str, Any]] = []
    if procedure is not None:
        initial = {"name": procedure.name, "enabled": procedure.enabled,
                   "interval_minutes": procedure.interval_minutes,
                   "alert_emails": "\n".join(procedure.alert_emails or []),
                   "delay_alert_minutes": procedure.delay_alert_minutes}
        windows = procedure.windows or []
    form = ProcedureForm(_post(request), initial=initial)
    formset = WindowFormSet(_post(request), initial=window_initial(windows), prefix="window")
    return form, formset


def _windows(formset: Any) -> list[dict[str, Any]]:
    return [w for w in (f.window() for f in formset.forms) if w is not None]


def _procedure_error(error: IntegrationError, form: ProcedureForm, formset: Any) -> None:
    """Window errors go on their row; the rest on the procedure form."""
    rest = []
    for item in error.errors:
        parts = item.field.split(".")
        if len(parts) >= 3 and parts[1] == "windows" and parts[2].isdigit():
            index = int(parts[2])
            rows = [f for f in formset.forms if f.window() is not None]
            if index < len(rows):
                name = parts[3] if len(parts) > 3 and parts[3] in rows[index].fields else None
                rows[index].add_error(name, item.message)
                continue
        rest.append(item)
    if rest or not error.errors:
        add_integration_error(IntegrationError(error.code, error.message, field=error.field, errors=rest),
                              {}, form)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), write=True)
def procedure_create(request: HttpRequest, user: User) -> HttpResponse:
    form, formset = _procedure_forms(request, None)
    if request.method == "POST" and _all_valid(form, formset):
        data = form.cleaned_data
        try:
            procedure = do_create_procedure(
                user.tenant, data["name"], [], interval_minutes=data["interval_minutes"],
                windows=_windows(formset), enabled=data["enabled"], alert_emails=form.emails(),
                delay_alert_minutes=data["delay_alert_minutes"], actor=user)
        except IntegrationError as error:
            _procedure_error(error, form, formset)
        else:
            messages.success(request, f"Procedure {procedure.name} created. Add its connectors below.")
            return redirect("web:procedure_edit", procedure_id=procedure.pk)
    return render(request, "web/integration/procedure_form.html",
                  {"form": form, "formset": formset, "procedure": None, "can_write": True},
                  status=400 if request.method == "POST" else 200)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=procedure_or_404)
def procedure_edit(request: HttpRequest, user: User, procedure: Procedure) -> HttpResponse:
    form, formset = _procedure_forms(request, procedure)
    if request.method == "POST" and _all_valid(form, formset):
        data = form.cleaned_data
        try:
            with transaction.atomic(using=HOST):
                locked = Procedure.objects.for_tenant(user.tenant).select_for_update().get(pk=procedure.pk)
                do_update_procedure(locked, name=data["name"], interval_minutes=data["interval_minutes"],
                                    windows=_windows(formset), enabled=data["enabled"],
                                    alert_emails=form.emails(), delay_alert_minutes=data["delay_alert_minutes"],
                                    actor=user)
        except IntegrationError as error:
            _procedure_error(error, form, formset)
        else:
            messages.success(request, f"Procedure {locked.name} saved.")
            return redirect("web:procedure_edit", procedure_id=procedure.pk)
    steps = list(ProcedureStep.objects.for_tenant(user.tenant).filter(procedure=procedure)
                 .select_related("connector", "connector__node").order_by("position"))
    in_use = {step.connector_id for step in steps}
    addable = [c for c in Connector.objects.for_tenant(user.tenant).select_related("node").order_by("name")
               if c.pk not in in_use]
    return render(request, "web/integration/procedure_form.html",
                  {"form": form, "formset": formset, "procedure": procedure, "steps": steps, "addable": addable,
                   "can_write": can_write(user, Area.INTEGRATION)},
                  status=400 if request.method == "POST" else 200)


@console_view(Area.INTEGRATION, methods=("POST",), load=procedure_or_404)
def procedure_steps(request: HttpRequest, user: User, procedure: Procedure) -> HttpResponse:
    """Add, remove or move one step (plain forms: one button each, no script needed)."""
    try:
        connector = access_connector_by_id(user.tenant, request.POST.get("connector", "")[:100], for_write=False)
        do_change_procedure_step(procedure, request.POST.get("change", "")[:20], connector, actor=user)
    except IntegrationError as error:
        messages.error(request, error.message)
    return redirect("web:procedure_edit", procedure_id=procedure.pk)


@console_view(Area.INTEGRATION, methods=("GET", "POST"), load=procedure_or_404, write=True)
def procedure_delete(request: HttpRequest, user: User, procedure: Procedure) -> HttpResponse:
    return _delete_with_confirmation(request, user, procedure, delete=do_delete_procedure, what="procedure",
                                     list_url="web:procedures",
                                     consequences="Its steps and its runs with their logs are deleted too. "
                                                  "Its connectors stay.")
