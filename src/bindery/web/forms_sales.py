"""Forms of the console's sales pages."""

from __future__ import annotations

from typing import Any

from django import forms

from bindery.sales.models import NormalizedStatus, ShipmentStatus

SEARCH_MAX = 200


class CustomerFilterForm(forms.Form):
    q = forms.CharField(max_length=SEARCH_MAX, required=False, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "Name, company or e-mail", "type": "search"}))


class DateInput(forms.DateInput):
    input_type = "date"


class OrderFilterForm(forms.Form):
    q = forms.CharField(max_length=SEARCH_MAX, required=False, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "Order number, key or e-mail", "type": "search"}))
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any status"), *NormalizedStatus.choices])
    marked = forms.ChoiceField(required=False, label="Marked",
                               choices=[("", "Marked or not"), ("yes", "Marked"), ("no", "Not marked")])
    date_from = forms.DateField(required=False, label="From", widget=DateInput)
    date_to = forms.DateField(required=False, label="To", widget=DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class MarkForm(forms.Form):
    marked = forms.TypedChoiceField(choices=[("1", "mark"), ("0", "unmark")], coerce=lambda v: v == "1")


class ShipmentForm(forms.Form):
    carrier = forms.CharField(max_length=100)
    tracking_number = forms.CharField(max_length=100, required=False, label="Tracking number")
    service = forms.CharField(max_length=100, required=False)
    weight_kg = forms.DecimalField(min_value=0, max_value=10**8 - 1, max_digits=12, decimal_places=4,
                                   required=False, label="Weight (kg)")
    shipped_at = forms.DateTimeField(required=False, label="Shipped at",
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    status = forms.ChoiceField(choices=ShipmentStatus.choices, initial=ShipmentStatus.SHIPPED)
