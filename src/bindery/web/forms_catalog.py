"""Forms of the console's catalog pages: they validate at the edge; actions do the writing."""

from __future__ import annotations

from typing import Any

from django import forms

from bindery.catalog.models import (
    BarcodeType,
    Category,
    PriceList,
    PriceListRelationship,
    Warehouse,
    WarehouseKind,
    WeightUnit,
)
from bindery.catalog.models.fields import is_currency
from bindery.control.models import LocalTenant

SEARCH_MAX = 200


class ProductFilterForm(forms.Form):
    q = forms.CharField(max_length=SEARCH_MAX, required=False, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "SKU, name or barcode", "type": "search"}))
    category = forms.ChoiceField(required=False, label="Category")
    deleted = forms.ChoiceField(required=False, label="Deleted",
                                choices=[("", "Not deleted"), ("only", "Deleted only"), ("all", "All")])
    stock = forms.ChoiceField(required=False, label="Stock",
                              choices=[("", "Any stock"), ("yes", "In stock"), ("no", "Out of stock")])

    def __init__(self, tenant: LocalTenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        categories = Category.objects.for_tenant(tenant).order_by("path_key", "language").values_list("pk", "path_key")
        field = self.fields["category"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Any category"), *((str(pk), key) for pk, key in categories)]


class ProductEditForm(forms.Form):
    """The main fields of a product; blank text clears a field."""

    name = forms.CharField(max_length=255, required=False)
    barcode = forms.CharField(max_length=64, required=False)
    barcode_type = forms.ChoiceField(choices=BarcodeType.choices, required=False)
    manufacturer = forms.CharField(max_length=255, required=False)
    mpn = forms.CharField(max_length=100, required=False, label="MPN")
    supplier = forms.CharField(max_length=255, required=False)
    supplier_code = forms.CharField(max_length=100, required=False)
    short_description = forms.CharField(max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    description_html = forms.CharField(max_length=100_000, required=False, label="Description (HTML)",
                                       widget=forms.Textarea(attrs={"rows": 6}))
    notes = forms.CharField(max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    weight = forms.DecimalField(min_value=0, required=False, max_digits=18, decimal_places=4)
    weight_unit = forms.ChoiceField(choices=WeightUnit.choices)
    featured = forms.BooleanField(required=False)


class StockForm(forms.Form):
    warehouse = forms.ChoiceField(label="Warehouse")
    quantity = forms.DecimalField(label="Quantity", max_digits=18, decimal_places=4)

    def __init__(self, tenant: LocalTenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warehouses = {str(w.pk): w for w in Warehouse.objects.for_tenant(tenant).order_by("key")}
        field = self.fields["warehouse"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(pk, str(w)) for pk, w in self.warehouses.items()]

    def clean_warehouse(self) -> Warehouse:
        return self.warehouses[self.cleaned_data["warehouse"]]


class PriceForm(forms.Form):
    price_list = forms.ChoiceField(label="Price list")
    net = forms.DecimalField(min_value=0, required=False, max_digits=18, decimal_places=4)
    gross = forms.DecimalField(min_value=0, required=False, max_digits=18, decimal_places=4)
    vat_rate = forms.DecimalField(min_value=0, max_value=100, max_digits=7, decimal_places=4, initial=0,
                                  label="VAT rate (%)")
    min_quantity = forms.DecimalField(min_value=0, initial=1, label="From quantity", max_digits=18, decimal_places=4)

    def __init__(self, tenant: LocalTenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.price_lists = {str(p.pk): p for p in PriceList.objects.for_tenant(tenant).order_by("name")}
        field = self.fields["price_list"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(pk, str(p)) for pk, p in self.price_lists.items()]

    def clean_price_list(self) -> PriceList:
        return self.price_lists[self.cleaned_data["price_list"]]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and data.get("net") is None and data.get("gross") is None:
            raise forms.ValidationError("Give a net or a gross price (or both).", code="required")
        return data


class CategoryForm(forms.Form):
    path_key = forms.CharField(max_length=1000, label="Path",
                               help_text="Names from the root joined by |, e.g. Clothes|Shirts.")
    language = forms.CharField(max_length=10, required=False)


class WarehouseForm(forms.Form):
    key = forms.CharField(max_length=100, help_text="How sources and channels name this warehouse.")
    name = forms.CharField(max_length=100, required=False)
    kind = forms.ChoiceField(choices=WarehouseKind.choices, initial=WarehouseKind.OWN)


class PriceListForm(forms.Form):
    name = forms.CharField(max_length=100)
    currency = forms.CharField(max_length=3, min_length=3, help_text="ISO 4217 code, e.g. EUR.")
    relationship = forms.ChoiceField(choices=PriceListRelationship.choices, initial=PriceListRelationship.OWN)

    def clean_currency(self) -> str:
        code = str(self.cleaned_data["currency"]).upper()
        if not is_currency(code):
            raise forms.ValidationError("Not an ISO 4217 currency code.", code="currency")
        return code
