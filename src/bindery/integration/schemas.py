"""Schemas of the engine's own options: product and order filters, procedure time windows."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db.models import Q, QuerySet
from pydantic import Field, field_validator, model_validator

from bindery.integration.registry import StrictSchema


class ProductFilter(StrictSchema):
    """Which products a connector handles; every given condition must hold (AND)."""

    skus: list[str] | None = Field(default=None, max_length=10_000)
    sku_prefix: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=1000, description="path key; its subtree matches")
    tags_any: list[str] | None = Field(default=None, max_length=100)
    include_deleted: bool = False
    include_variants: bool = True

    def apply(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.include_deleted:
            queryset = queryset.filter(deleted=False)
        if not self.include_variants:
            queryset = queryset.filter(parent__isnull=True)
        if self.skus is not None:
            queryset = queryset.filter(sku__in=self.skus)
        if self.sku_prefix:
            queryset = queryset.filter(sku__startswith=self.sku_prefix)
        if self.category:
            queryset = queryset.filter(Q(category_links__category__path_key=self.category)
                                       | Q(category_links__category__path_key__startswith=self.category + "|"))
            queryset = queryset.distinct()
        if self.tags_any:
            tagged = Q()
            for tag in self.tags_any:
                # SQLite has no JSON containment; the stored list's JSON text holds the quoted tag
                tagged |= Q(tags__contains=[tag]) if _supports_json_contains() else Q(tags__icontains=json.dumps(tag))
            queryset = queryset.filter(tagged)
        return queryset


def _supports_json_contains() -> bool:
    from django.db import connection

    return bool(connection.features.supports_json_field_contains)


class OrderFilter(StrictSchema):
    """Which orders a connector handles."""

    statuses: list[str] | None = Field(default=None, max_length=100,
                                       description="normalized statuses (new, shipped ...) or channel status codes")
    created_from: dt.datetime | None = None
    marked: bool | None = None

    def apply(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.statuses is not None:
            queryset = queryset.filter(Q(normalized_status__in=self.statuses) | Q(status__code__in=self.statuses))
        if self.created_from is not None:
            queryset = queryset.filter(created_on_channel__gte=self.created_from)
        if self.marked is not None:
            queryset = queryset.filter(is_marked=self.marked)
        return queryset


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class TimeWindow(StrictSchema):
    """Run only on these weekdays (Monday = 0), from ``start`` up to ``end`` (UTC, HH:MM)."""

    weekdays: list[int] = Field(min_length=1, max_length=7)
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _order(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def contains(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` (UTC) is inside; a window whose end is before its start crosses midnight."""
        minute = moment.hour * 60 + moment.minute
        start = int(self.start[:2]) * 60 + int(self.start[3:])
        end = int(self.end[:2]) * 60 + int(self.end[3:])
        if start < end:
            return moment.weekday() in self.weekdays and start <= minute < end
        # crossing midnight: the evening part belongs to the listed day, the morning part to the next
        if minute >= start:
            return moment.weekday() in self.weekdays
        return minute < end and (moment.weekday() - 1) % 7 in self.weekdays


class ProcedureWindows(StrictSchema):
    windows: list[TimeWindow] = Field(default_factory=list, max_length=50)


def in_windows(windows: list[dict[str, Any]], moment: dt.datetime) -> bool:
    """Whether a procedure with these stored windows may run at ``moment``; no windows = always."""
    if not windows:
        return True
    return any(TimeWindow.model_validate(w).contains(moment) for w in windows)


class ProcedureAlerts(StrictSchema):
    """Who hears about failed and late runs."""

    alert_emails: list[str] = Field(default_factory=list, max_length=10)
    delay_alert_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 7)

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        for address in value:
            try:
                validate_email(address)
            except ValidationError:
                raise ValueError("each alert address must be an e-mail address") from None
        return sorted({address.lower() for address in value})
