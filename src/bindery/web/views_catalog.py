"""Console pages for the catalog: products (list, detail, edit, stock, prices, delete),
categories, price lists and warehouses, each list with a CSV export.

Reads are scoped with ``for_tenant`` or the catalog's access helpers; writes go through the
catalog actions with the signed-in user as actor (so change logs name them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from bindery.accounts.models import User
from bindery.accounts.permissions import Area
from bindery.catalog.access import access_product_by_id
from bindery.catalog.actions import (
    do_create_category,
    do_create_price_list,
    do_create_warehouse,
    do_delete_product,
    do_set_price,
    do_set_stock,
    do_upsert_product,
)
from bindery.catalog.errors import CatalogError, NotFound
from bindery.catalog.models import (
    Category,
    Price,
    PriceList,
    Product,
    ProductCategory,
    ProductImage,
    StockLevel,
    Warehouse,
)
from bindery.catalog.payloads import ProductData
from bindery.control.models import LocalTenant
from bindery.security.waf.exclusions import waf_exclude
from bindery.web.csv_export import CHUNK_SIZE, csv_response
from bindery.web.forms_catalog import (
    CategoryForm,
    PriceForm,
    PriceListForm,
    ProductEditForm,
    ProductFilterForm,
    StockForm,
    WarehouseForm,
)
from bindery.web.paging import paginate, query_without_page
from bindery.web.permissions import can_write, console_view


def add_action_error(form: forms.Form, error: CatalogError) -> None:
    """Show a refused write on the field it names, or on the form when it names none of its fields."""
    field = (error.field or "").rsplit(".", 1)[-1].split("[", 1)[0]
    form.add_error(field if field in form.fields else None, error.message)


def product_or_404(user: User, product_id: uuid.UUID) -> Product:
    """Return the tenant's product (deleted ones too) or raise Http404."""
    try:
        return access_product_by_id(user.tenant, product_id, for_write=False)
    except NotFound:
        raise Http404("no such product") from None


# Products


def _filtered_products(tenant: LocalTenant, form: ProductFilterForm) -> QuerySet[Any]:  # annotated rows
    """Top-level products matching the filter form (variants are found through their parent)."""
    products = Product.objects.for_tenant(tenant)
    variants = products.filter(parent=OuterRef("pk")).order_by().values("parent")
    queryset = products.filter(parent__isnull=True).annotate(
        variant_count=Coalesce(Subquery(variants.annotate(n=Count("pk")).values("n")), 0,
                               output_field=IntegerField()),
    )
    data = form.cleaned_data if form.is_valid() else {}
    if query := data.get("q"):
        match = Q(sku__icontains=query) | Q(name__icontains=query) | Q(barcode__icontains=query)
        queryset = queryset.filter(match | Exists(variants.filter(match)))
    if category := data.get("category"):
        links = ProductCategory.objects.for_tenant(tenant).filter(product=OuterRef("pk"), category_id=category)
        queryset = queryset.filter(Exists(links))
    deleted = data.get("deleted", "")
    if deleted == "":
        queryset = queryset.filter(deleted=False)
    elif deleted == "only":
        queryset = queryset.filter(deleted=True)
    stock = data.get("stock", "")
    if stock == "yes":
        queryset = queryset.filter(quantity_available__gt=0)
    elif stock == "no":
        queryset = queryset.filter(quantity_available__lte=0)
    return queryset.order_by("sku")


@console_view(Area.CATALOG)
def product_list(request: HttpRequest, user: User) -> HttpResponse:
    form = ProductFilterForm(user.tenant, request.GET or None)
    page = paginate(request, _filtered_products(user.tenant, form))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "web/catalog/product_list.html", {
        "form": form, "page": page, "query": query_without_page(request),
        "filtered": bool(form.is_bound and any(form.data.get(k) for k in form.fields)),
        "any_products": page.paginator.count > 0 or Product.objects.for_tenant(user.tenant).exists(),
    }, status=status)


@console_view(Area.CATALOG)
def product_export(request: HttpRequest, user: User) -> HttpResponseBase:
    form = ProductFilterForm(user.tenant, request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "web/catalog/product_list.html", {"form": form, "page": None}, status=400)
    rows = _filtered_products(user.tenant, form).values_list(
        "sku", "name", "barcode", "manufacturer", "mpn", "supplier", "quantity_available", "quantity_arriving",
        "variant_count", "deleted", "modified_at",
    ).iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "products.csv",
                        ["sku", "name", "barcode", "manufacturer", "mpn", "supplier", "quantity_available",
                         "quantity_arriving", "variants", "deleted", "modified_at"], rows)


def _detail_context(user: User, product: Product, **forms_: Any) -> dict[str, Any]:
    tenant = user.tenant
    variants = list(Product.objects.for_tenant(tenant).filter(parent=product).order_by("sku"))
    parent = (Product.objects.for_tenant(tenant).filter(pk=product.parent_id).first()
              if product.parent_id else None)
    return {
        "product": product,
        "parent": parent,
        "variants": variants,
        "prices": Price.objects.for_tenant(tenant).filter(product=product).select_related("price_list")
        .order_by("price_list__name", "min_quantity"),
        "stock_levels": StockLevel.objects.for_tenant(tenant).filter(product=product).select_related("warehouse")
        .order_by("warehouse__key"),
        "categories": ProductCategory.objects.for_tenant(tenant).filter(product=product).select_related("category")
        .order_by("category__path_key"),
        "images": ProductImage.objects.for_tenant(tenant).filter(product=product).order_by("position", "url"),
        "can_write": can_write(user, Area.CATALOG),
        "stock_form": forms_.get("stock_form") or StockForm(tenant),
        "price_form": forms_.get("price_form") or PriceForm(tenant),
    }


@console_view(Area.CATALOG, load=product_or_404)
def product_detail(request: HttpRequest, user: User, product: Product) -> HttpResponse:
    return render(request, "web/catalog/product_detail.html", _detail_context(user, product))


@console_view(Area.CATALOG, methods=("GET", "POST"), load=product_or_404)
@waf_exclude(fields={"description_html": ["xss"]})  # HTML by design, sanitized where rendered
def product_edit(request: HttpRequest, user: User, product: Product) -> HttpResponse:
    initial = {name: getattr(product, name) for name in ProductEditForm.base_fields}
    form = ProductEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_upsert_product(user.tenant, ProductData(sku=product.sku, **form.cleaned_data), actor=user)
        except CatalogError as error:
            add_action_error(form, error)
        else:
            messages.success(request, f"Product {product.sku} saved.")
            return redirect("web:product_detail", product_id=product.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/catalog/product_edit.html", {"product": product, "form": form}, status=status)


@console_view(Area.CATALOG, methods=("POST",), load=product_or_404)
def product_set_stock(request: HttpRequest, user: User, product: Product) -> HttpResponse:
    form = StockForm(user.tenant, request.POST)
    if form.is_valid():
        warehouse: Warehouse = form.cleaned_data["warehouse"]
        try:
            do_set_stock(user.tenant, product, form.cleaned_data["quantity"], warehouse=warehouse, actor=user)
        except CatalogError as error:
            add_action_error(form, error)
        else:
            messages.success(request, f"Stock of {product.sku} in {warehouse.key} set.")
            return redirect("web:product_detail", product_id=product.pk)
    return render(request, "web/catalog/product_detail.html", _detail_context(user, product, stock_form=form),
                  status=400)


@console_view(Area.CATALOG, methods=("POST",), load=product_or_404)
def product_set_price(request: HttpRequest, user: User, product: Product) -> HttpResponse:
    form = PriceForm(user.tenant, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        price_list: PriceList = data["price_list"]
        try:
            do_set_price(user.tenant, product, price_list, net=data["net"], gross=data["gross"],
                         vat_rate=data["vat_rate"], min_quantity=data["min_quantity"], actor=user)
        except CatalogError as error:
            add_action_error(form, error)
        else:
            messages.success(request, f"Price of {product.sku} in {price_list.name} set.")
            return redirect("web:product_detail", product_id=product.pk)
    return render(request, "web/catalog/product_detail.html", _detail_context(user, product, price_form=form),
                  status=400)


@console_view(Area.CATALOG, methods=("POST",), load=product_or_404)
def product_delete(request: HttpRequest, user: User, product: Product) -> HttpResponse:
    changed = do_delete_product(user.tenant, product, actor=user)
    messages.success(request, f"Product {product.sku} deleted." if changed else f"{product.sku} was already deleted.")
    return redirect("web:product_detail", product_id=product.pk)


# Categories, price lists, warehouses: a list, a create form and an export each.


def _reference_page(request: HttpRequest, user: User, *, template: str, form: forms.Form,
                    queryset: QuerySet, create: Any, created: str) -> HttpResponse:
    if request.method == "POST" and form.is_valid():
        try:
            obj = create(form.cleaned_data)
        except CatalogError as error:
            add_action_error(form, error)
        else:
            messages.success(request, created.format(obj))
            return redirect(request.path)
    status = 400 if request.method == "POST" else 200
    return render(request, template, {"form": form, "page": paginate(request, queryset),
                                      "query": query_without_page(request), "can_write": can_write(user, Area.CATALOG)},
                  status=status)


def _categories(tenant: LocalTenant) -> QuerySet[Any]:  # annotated rows
    return (Category.objects.for_tenant(tenant).annotate(product_count=Count("product_links"))
            .order_by("path_key", "language"))


@console_view(Area.CATALOG, methods=("GET", "POST"))
def category_list(request: HttpRequest, user: User) -> HttpResponse:
    form = CategoryForm(request.POST if request.method == "POST" else None)
    return _reference_page(
        request, user, template="web/catalog/category_list.html", form=form, queryset=_categories(user.tenant),
        create=lambda d: do_create_category(user.tenant, d["path_key"], language=d["language"], actor=user),
        created="Category {} created.")


@console_view(Area.CATALOG)
def category_export(request: HttpRequest, user: User) -> HttpResponseBase:
    rows = _categories(user.tenant).values_list("path_key", "name", "language", "product_count", "created_at")
    return csv_response(user.tenant_id, "categories.csv", ["path_key", "name", "language", "products", "created_at"],
                        rows.iterator(chunk_size=CHUNK_SIZE))


def _price_lists(tenant: LocalTenant) -> QuerySet[Any]:  # annotated rows
    return PriceList.objects.for_tenant(tenant).annotate(price_count=Count("prices")).order_by("name")


@console_view(Area.CATALOG, methods=("GET", "POST"))
def price_list_list(request: HttpRequest, user: User) -> HttpResponse:
    form = PriceListForm(request.POST if request.method == "POST" else None)
    return _reference_page(
        request, user, template="web/catalog/price_list_list.html", form=form, queryset=_price_lists(user.tenant),
        create=lambda d: do_create_price_list(user.tenant, d["name"], d["currency"],
                                              relationship=d["relationship"], actor=user),
        created="Price list {} created.")


@console_view(Area.CATALOG)
def price_list_export(request: HttpRequest, user: User) -> HttpResponseBase:
    rows = _price_lists(user.tenant).values_list("name", "currency", "relationship", "price_count", "created_at")
    return csv_response(user.tenant_id, "price-lists.csv",
                        ["name", "currency", "relationship", "prices", "created_at"],
                        rows.iterator(chunk_size=CHUNK_SIZE))


def _warehouses(tenant: LocalTenant) -> QuerySet[Any]:  # annotated rows
    return Warehouse.objects.for_tenant(tenant).annotate(stock_count=Count("stock_levels")).order_by("key")


@console_view(Area.CATALOG, methods=("GET", "POST"))
def warehouse_list(request: HttpRequest, user: User) -> HttpResponse:
    form = WarehouseForm(request.POST if request.method == "POST" else None)
    return _reference_page(
        request, user, template="web/catalog/warehouse_list.html", form=form, queryset=_warehouses(user.tenant),
        create=lambda d: do_create_warehouse(user.tenant, d["key"], name=d["name"], kind=d["kind"], actor=user),
        created="Warehouse {} created.")


@console_view(Area.CATALOG)
def warehouse_export(request: HttpRequest, user: User) -> HttpResponseBase:
    rows: Iterator[Any] = _warehouses(user.tenant).values_list(
        "key", "name", "kind", "stock_count", "created_at").iterator(chunk_size=CHUNK_SIZE)
    return csv_response(user.tenant_id, "warehouses.csv", ["key", "name", "kind", "stock_levels", "created_at"], rows)
