"""Per-route and per-field exclusions, declared beside the route they loosen.

A product's ``description_html`` is meant to hold HTML, so its routes say so::

    @router.post("/products", ...)
    @waf_exclude(fields={"description_html": ["xss"]})
    def upsert_product(request, payload): ...

The middleware resolves the URL before inspecting the request and applies the exclusions of
the view (for django-ninja, of the operation that serves the request's method). Excluding a
family for a field only skips that family's rules for that field: every other rule still
looks at it, and every other field is inspected in full.

Routes that take bulk bodies (thousands of products in one JSON or XML document) declare it
the same way, with :func:`waf_bulk`: a larger inspection budget per MiB of body and a larger
cap on the number of values. A request the firewall cannot inspect in full within its route's
limits is refused, never let through; only a route that says ``uninspected="pass"`` beside
itself lets such a request go on (with a security event saying what was not inspected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bindery.security.waf.decode import Field
from bindery.security.waf.rules import Family

ATTRIBUTE = "_bindery_waf_exclusion"
V = TypeVar("V", bound=Callable[..., Any])


def _names(items: Iterable[str]) -> frozenset[str]:
    names = frozenset(str(item) for item in items)
    for name in names:
        if name not in Family.__members__.values() and "-" not in name:
            raise ValueError(f"{name!r} is neither a firewall family nor a rule id")
    return names


@dataclass(frozen=True)
class Exclusion:
    """What the firewall skips on one route: families or rule ids, for the route or for fields."""

    skip: frozenset[str] = frozenset()  # for every value of the request
    fields: Mapping[str, frozenset[str]] = field(default_factory=dict)  # by parameter name or JSON path
    budget_per_mib: float = 0.0  # extra seconds of inspection (CPU time) per MiB of body: bulk routes
    max_values: int = 0  # values a request may carry (0: the firewall's default)
    uninspected: str = "refuse"  # a request not inspected in full: "refuse" (413) or, declared, "pass"

    def skipped_for(self, value: Field) -> frozenset[str]:
        """Return the families and rule ids that do not apply to this value."""
        if not self.fields:
            return self.skip
        extra = self.fields.get(value.name) or (self.fields.get(value.path) if value.path else None)
        return self.skip | extra if extra else self.skip

    def merged(self, other: Exclusion) -> Exclusion:
        fields = dict(self.fields)
        for name, skipped in other.fields.items():
            fields[name] = fields.get(name, frozenset()) | skipped
        return Exclusion(skip=self.skip | other.skip, fields=fields,
                         budget_per_mib=max(self.budget_per_mib, other.budget_per_mib),
                         max_values=max(self.max_values, other.max_values),
                         uninspected="pass" if "pass" in (self.uninspected, other.uninspected) else "refuse")


NOTHING = Exclusion()


def waf_exclude(*, skip: Iterable[str] = (), fields: Mapping[str, Iterable[str]] | None = None) -> Callable[[V], V]:
    """Declare, beside a view or API operation, which firewall families or rules it does not need.

    ``skip`` applies to the whole request; ``fields`` maps a parameter name (form field, JSON key
    at any depth, or a dotted JSON path) to the families or rule ids skipped for it.
    """
    exclusion = Exclusion(skip=_names(skip), fields={name: _names(items) for name, items in (fields or {}).items()})

    def decorate(view: V) -> V:
        return _declare(view, exclusion)

    return decorate


def _declare(view: V, exclusion: Exclusion) -> V:
    previous = getattr(view, ATTRIBUTE, None)
    setattr(view, ATTRIBUTE, previous.merged(exclusion) if previous else exclusion)
    return view


BULK_MS_PER_MIB = 800.0  # ~300 ms of CPU per MiB of products measured (bench/waf_bulk.py), with headroom
BULK_MAX_VALUES = 1_000_000  # 10 MiB at ten bytes a value


def waf_bulk(*, ms_per_mib: float = BULK_MS_PER_MIB, max_values: int = BULK_MAX_VALUES,
             uninspected: str = "refuse") -> Callable[[V], V]:
    """Declare, beside a route that takes bulk bodies, how much inspection its requests may cost.

    The request's budget becomes the firewall's base budget plus ``ms_per_mib`` milliseconds of
    CPU time per MiB of body, and it may carry up to ``max_values`` values (names and values,
    before de-duplication). ``uninspected="pass"`` lets a request that still cannot be inspected
    in full go on; the default refuses it with 413 and an incident id.
    """
    if ms_per_mib < 0 or max_values < 1:
        raise ValueError("ms_per_mib must be >= 0 and max_values >= 1")
    if uninspected not in ("refuse", "pass"):
        raise ValueError("uninspected must be 'refuse' or 'pass'")
    exclusion = Exclusion(budget_per_mib=ms_per_mib / 1000, max_values=max_values, uninspected=uninspected)

    def decorate(view: V) -> V:
        return _declare(view, exclusion)

    return decorate


def _declared(function: Any) -> Exclusion | None:
    seen = 0
    while function is not None and seen < 10:
        found = getattr(function, ATTRIBUTE, None)
        if found is not None:
            return found if isinstance(found, Exclusion) else None
        function = getattr(function, "__wrapped__", None)
        seen += 1
    return None


def _ninja_operations(view: Any) -> list[Any] | None:
    """Return the operations behind a django-ninja path view, or None for a plain Django view.

    django-ninja routes one URL to a closure over its ``PathView``; the operations (one per
    method) hold the functions the routes decorated. tests/security/test_waf_exclusions.py
    proves this still finds the product routes' exclusions after an upgrade.
    """
    for cell in getattr(view, "__closure__", None) or ():
        try:
            content = cell.cell_contents
        except ValueError:
            continue
        operations = getattr(content, "operations", None)
        if isinstance(operations, list):
            return operations
    return None


def for_view(view: Any, method: str) -> Exclusion:
    """Return the exclusions declared on the view (for ninja, on the operation for ``method``)."""
    operations = _ninja_operations(view)
    if operations is None:
        return _declared(view) or NOTHING
    for operation in operations:
        if method.upper() in getattr(operation, "methods", ()):
            return _declared(getattr(operation, "view_func", None)) or NOTHING
    return NOTHING
