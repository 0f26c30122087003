"""Forms of the console's integration editing pages (the schema-driven parts are in schema_forms)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from bindery.control.models import LocalTenant
from bindery.integration.models import Node

WEEKDAYS = [("0", "Mon"), ("1", "Tue"), ("2", "Wed"), ("3", "Thu"), ("4", "Fri"), ("5", "Sat"), ("6", "Sun")]
MAX_WINDOWS = 50


class NodeForm(forms.Form):
    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True, help_text="a disabled node's connectors do not run")
    forget_credentials = forms.BooleanField(
        required=False, label="Forget the stored credentials",
        help_text="remove every stored credential (the blank fields below are then not kept)")


class ConnectorForm(forms.Form):
    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)
    simulate = forms.BooleanField(required=False, help_text="dry run: compute and log, write nothing outside")
    differential = forms.BooleanField(required=False, help_text="only items changed since the last success")
    output_node = forms.ChoiceField(required=False, label="Output web-server node",
                                    help_text="where the connector publishes its files, if it does")

    def __init__(self, tenant: LocalTenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        nodes = Node.objects.for_tenant(tenant).filter(technology="web_server").order_by("name")
        field = self.fields["output_node"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—"), *((str(n.pk), n.name) for n in nodes.values_list("pk", "name", named=True))]


class ProcedureForm(forms.Form):
    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True, help_text="a paused procedure is not scheduled")
    interval_minutes = forms.IntegerField(label="Every (minutes)", initial=60,
                                          help_text="from 1 to 44640 (31 days)")
    alert_emails = forms.CharField(required=False, max_length=3000, label="Alert e-mails",
                                   help_text="who is e-mailed when a run fails or is late; one per line",
                                   widget=forms.Textarea(attrs={"rows": 2}))
    delay_alert_minutes = forms.IntegerField(required=False, label="Late after (minutes)",
                                             help_text="alert when a run is still unfinished after this long")

    def emails(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["alert_emails"].splitlines() if line.strip()]


def _hhmm(value: dt.time | None) -> str:
    return value.strftime("%H:%M") if value else ""


class WindowForm(forms.Form):
    """One weekday time window (UTC); a row left empty is ignored."""

    weekdays = forms.MultipleChoiceField(choices=WEEKDAYS, required=False, widget=forms.CheckboxSelectMultiple)
    start = forms.TimeField(required=False, input_formats=["%H:%M"], label="From (UTC)",
                            widget=forms.TimeInput(format="%H:%M", attrs={"placeholder": "HH:MM"}))
    end = forms.TimeField(required=False, input_formats=["%H:%M"], label="To (UTC)",
                          widget=forms.TimeInput(format="%H:%M", attrs={"placeholder": "HH:MM"}))

    def window(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("weekdays") and not data.get("start") and not data.get("end"):
            return None
        return {"weekdays": [int(d) for d in data.get("weekdays") or []], "start": _hhmm(data.get("start")),
                "end": _hhmm(data.get("end"))}


WindowFormSet = forms.formset_factory(WindowForm, extra=1, max_num=MAX_WINDOWS, validate_max=True,
                                      absolute_max=MAX_WINDOWS)


def window_initial(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"weekdays": [str(d) for d in w.get("weekdays", [])], "start": w.get("start", ""),
             "end": w.get("end", "")} for w in windows]
