"""Console forms built from the pydantic schemas that technologies declare.

One builder serves every technology's node settings, credentials and connector configuration
(and the engine's own product and order filters): each top-level property of the model's JSON
schema becomes a Django field by its type. Nested objects and lists of objects (a file
import's column mapping) are edited as JSON text. These forms only turn what a browser sends
into values (lines into lists, JSON text into objects); the schema validation inside the
integration actions decides, and its field errors are put back on these fields
(:func:`add_integration_error`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from pydantic import BaseModel

from bindery.integration.errors import IntegrationError

TEXT_MAX = 20_000  # no schema field takes more; a bigger paste is refused before validation
JSON_MAX = 100_000
LINES_MAX = 2_000


@dataclass(frozen=True)
class SchemaField:
    name: str
    kind: str  # text, long_text, secret, bool, tristate, choice, multi, lines, json
    label: str
    help: str
    required: bool
    nullable: bool
    default: Any
    choices: tuple[str, ...] = ()
    max_length: int | None = None


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Follow ``$ref`` and unwrap ``X | None``; return (schema, nullable)."""
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    if "anyOf" in prop:
        options = [_resolve(option, defs)[0] for option in prop["anyOf"]]
        real = [option for option in options if option.get("type") != "null"]
        nullable = len(real) < len(options)
        outer = {k: v for k, v in prop.items() if k != "anyOf"}
        # one real type: use it; several (a number or a decimal string): plain text, the schema decides
        inner = real[0] if len(real) == 1 else {"type": "string"}
        return {**inner, **outer}, nullable
    return prop, False


def _kind(prop: dict[str, Any], defs: dict[str, Any], secret: bool) -> tuple[str, tuple[str, ...]]:
    kind = prop.get("type")
    if secret and kind in ("string", None):
        return "secret", ()
    if prop.get("format") == "password" or prop.get("writeOnly"):
        return "secret", ()
    if "enum" in prop:
        return "choice", tuple(str(v) for v in prop["enum"])
    if kind == "boolean":
        return "bool", ()
    if kind in ("string", "integer", "number"):
        long = (prop.get("maxLength") or 0) > 500
        return ("long_text" if long else "text"), ()
    if kind == "array":
        items, _ = _resolve(prop.get("items", {}), defs)
        if "enum" in items:
            return "multi", tuple(str(v) for v in items["enum"])
        if items.get("type") in ("string", "integer", "number"):
            return "lines", ()
    return "json", ()


def describe(schema: type[BaseModel], *, secret: bool = False) -> list[SchemaField]:
    """The form fields of a schema, in declaration order; ``secret`` makes every text field masked."""
    described = schema.model_json_schema()
    defs = described.get("$defs", {})
    required = set(described.get("required", []))
    fields = []
    for name, raw in described.get("properties", {}).items():
        prop, nullable = _resolve(raw, defs)
        kind, choices = _kind(prop, defs, secret)
        if kind == "bool" and nullable:  # None ("any") differs from False: a check box cannot say it
            kind = "tristate"
        fields.append(SchemaField(name=name, kind=kind, label=prop.get("title") or name.replace("_", " "),
                                  help=prop.get("description", ""), required=name in required, nullable=nullable,
                                  default=prop.get("default"), choices=choices, max_length=prop.get("maxLength")))
    return fields


def _django_field(field: SchemaField, *, keep_secret: bool) -> forms.Field:
    help_text = field.help
    if field.kind == "bool":
        return forms.BooleanField(required=False, label=field.label, help_text=help_text)
    if field.kind == "tristate":
        return forms.ChoiceField(required=False, label=field.label, help_text=help_text,
                                 choices=[("", "any"), ("true", "yes"), ("false", "no")])
    if field.kind == "choice":
        blank = [("", "—")] if field.nullable or (not field.required and field.default is None) else []
        return forms.ChoiceField(required=False, label=field.label, help_text=help_text,
                                 choices=[*blank, *((c, c) for c in field.choices)])
    if field.kind == "multi":
        return forms.MultipleChoiceField(required=False, label=field.label, help_text=help_text,
                                         choices=[(c, c) for c in field.choices],
                                         widget=forms.CheckboxSelectMultiple)
    if field.kind == "secret":
        hint = "Stored encrypted and never shown again." + (" Leave blank to keep the stored value."
                                                             if keep_secret else "")
        return forms.CharField(required=False, label=field.label, max_length=TEXT_MAX, strip=False,
                               help_text=f"{help_text} {hint}".strip(),
                               widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
    if field.kind == "lines":
        return forms.CharField(required=False, label=field.label, max_length=TEXT_MAX,
                               help_text=f"{help_text} One per line.".strip(),
                               widget=forms.Textarea(attrs={"rows": 3}))
    if field.kind == "json":
        return forms.CharField(required=False, label=field.label, max_length=JSON_MAX,
                               help_text=f"{help_text} JSON.".strip(),
                               widget=forms.Textarea(attrs={"rows": 6, "class": "code"}))
    widget = forms.Textarea(attrs={"rows": 4}) if field.kind == "long_text" else forms.TextInput
    return forms.CharField(required=False, label=field.label, max_length=TEXT_MAX, help_text=help_text,
                           widget=widget)


class SchemaForm(forms.Form):
    """A form over one schema; ``payload()`` is the dict handed to the integration action."""

    schema_fields: list[SchemaField] = []

    def __init__(self, schema: type[BaseModel], *args: Any, secret: bool = False, keep_secret: bool = False,
                 stored: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.schema_fields = describe(schema, secret=secret)
        kwargs.setdefault("initial", _initial(self.schema_fields, stored))
        super().__init__(*args, **kwargs)
        for field in self.schema_fields:
            self.fields[field.name] = _django_field(field, keep_secret=keep_secret)
            if field.required and field.kind != "bool" and not keep_secret:
                self.fields[field.name].label = f"{field.label} *"

    def payload(self) -> dict[str, Any]:
        """The given values; blank ones are left out so that the schema's default applies."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for field in self.schema_fields:
            value = data.get(field.name)
            if field.kind == "bool":
                out[field.name] = bool(value)
            elif field.kind == "tristate":
                if value:
                    out[field.name] = value == "true"
            elif field.kind == "multi":
                out[field.name] = list(value or [])
            elif field.kind == "lines":
                lines = [line.strip() for line in (value or "").splitlines() if line.strip()]
                if lines or not field.nullable:
                    out[field.name] = lines
            elif value not in (None, ""):
                out[field.name] = value
        return out

    def secrets_given(self) -> dict[str, Any]:
        """Only the fields typed in (for "leave blank to keep")."""
        return {name: value for name, value in self.payload().items() if value not in ("", None)}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field in self.schema_fields:
            if field.kind == "lines" and isinstance(data.get(field.name), str) \
                    and data[field.name].count("\n") >= LINES_MAX:
                self.add_error(field.name, f"at most {LINES_MAX} lines")
            if field.kind == "json" and data.get(field.name):
                try:
                    data[field.name] = json.loads(data[field.name])
                except ValueError as exc:
                    self.add_error(field.name, f"not valid JSON: {str(exc)[:120]}")
        return data


def _initial(fields: list[SchemaField], stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored values (or the schema's defaults) as the form shows them; secrets never."""
    initial: dict[str, Any] = {}
    for field in fields:
        if field.kind == "secret":
            continue
        value = (stored or {}).get(field.name, field.default) if stored is not None else field.default
        if value is None:
            continue
        if field.kind == "lines":
            value = "\n".join(str(v) for v in value)
        elif field.kind == "tristate":
            value = "true" if value else "false"
        elif field.kind == "json":
            value = json.dumps(value, indent=2, ensure_ascii=False)
        initial[field.name] = value
    return initial


def add_integration_error(error: IntegrationError, forms_by_prefix: dict[str, forms.Form],
                          main: forms.Form) -> None:
    """Put each field error of a refused write on the form field it names.

    ``config.mapping.sku.column`` goes to the ``mapping`` field of the form for ``config`` (with
    the rest of the path in the message); a field no form shows goes on ``main`` as a whole-form
    error, so nothing is silently lost.
    """
    for item in error.errors or [None]:  # type: ignore[list-item]
        path = (item.field if item else error.field) or ""
        message = item.message if item else error.message
        head, _, rest = path.partition(".")
        target = forms_by_prefix.get(head)
        if target is not None and rest:
            name, _, deeper = rest.partition(".")
            if name in target.fields:
                target.add_error(name, f"{deeper}: {message}" if deeper else message)
                continue
        for segment in path.split("."):
            name = segment[:-3] if segment.endswith("_id") and segment[:-3] in main.fields else segment
            if name in main.fields:
                main.add_error(name, message)
                break
        else:
            main.add_error(None, f"{path}: {message}" if path and path not in message else message)
