"""The hub's category tree → WooCommerce product categories (docs/woocommerce.md, "Categories").

Identity: a hub category's shop id is its ``category`` binding on the node. An unbound hub
category is matched to a shop category of the same name (case-insensitive, as MySQL compares)
under the same parent, so the shop's own categories are reused, never duplicated; only what the
shop does not have is created, one tree level at a time so parents exist before their children.
A bound category whose name or parent differs on the shop (a rename in the hub) is updated in
place. Nothing is ever deleted on the shop. Creates are safe to resend: WooCommerce answers
``term_exists`` with the existing id (``data.resource_id``), which is then bound.
"""

from __future__ import annotations

import html
import uuid
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from bindery.catalog.models import Category
from bindery.catalog.models.categories import PATH_SEPARATOR
from bindery.integration.actions import do_unbind
from bindery.integration.http import HttpClient
from bindery.integration.models import Binding, LogLevel
from bindery.integration.runner import RunContext
from bindery.technologies.woocommerce.client import BATCH_MAX, pages

CATEGORY = "category"
PATH = "/products/categories"
_WOULD_CREATE = -1  # simulate mode: the id a category would get


@dataclass
class _Remote:
    id: int
    name: str  # unescaped: WordPress stores "&" as "&amp;"
    parent: int


def _shop_categories(client: HttpClient) -> dict[int, _Remote]:
    remote: dict[int, _Remote] = {}
    for _page, _total, rows in pages(client, PATH, {"orderby": "id", "order": "asc"}):
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("id"), int):
                remote[row["id"]] = _Remote(row["id"], html.unescape(str(row.get("name") or "")),
                                            int(row.get("parent") or 0))
    return remote


def sync_categories(ctx: RunContext, client: HttpClient, language: str) -> dict[uuid.UUID, int]:
    """Make the shop hold the hub's category tree of ``language``; return hub id → shop id."""
    hub = list(Category.objects.for_tenant(ctx.tenant.pk).filter(language=language)
               .only("pk", "parent_id", "name", "path_key"))
    if not hub:
        return {}
    hub.sort(key=lambda c: (c.path_key.count(PATH_SEPARATOR), c.path_key))
    remote = _shop_categories(client)
    bound = dict(Binding.objects.for_tenant(ctx.tenant.pk).filter(node=ctx.node, entity_kind=CATEGORY)
                 .values_list("hub_id", "external_id"))
    gone = [external for external in bound.values() if not external.isdigit() or int(external) not in remote]
    if gone:  # deleted on the shop: bound again below (matched by name or created)
        ctx.log(f"{len(gone)} bound categories no longer exist on the shop; they are published again.",
                level=LogLevel.WARNING)
        if not ctx.simulate:
            do_unbind(ctx.node, CATEGORY, gone)
    resolved = {hub_id: int(external) for hub_id, external in bound.items() if external not in gone}
    taken = set(resolved.values())
    by_place: dict[tuple[int, str], int] = {}
    for category in sorted(remote.values(), key=lambda r: r.id):  # the oldest wins a tie, as on every run
        by_place.setdefault((category.parent, category.name.casefold()), category.id)
    stats: Counter[str] = Counter()
    for _depth, level in groupby(hub, key=lambda c: c.path_key.count(PATH_SEPARATOR)):
        creates: list[tuple[Category, dict[str, Any]]] = []
        updates: list[tuple[Category, dict[str, Any]]] = []
        matches: list[tuple[str, uuid.UUID]] = []
        for category in level:
            parent = 0 if category.parent_id is None else resolved.get(category.parent_id)
            if parent is None:
                ctx.fail_item(f"category {category.path_key}", "parent_not_published",
                              "its parent category could not be published")
                continue
            if parent == _WOULD_CREATE:
                resolved[category.pk] = _WOULD_CREATE
                ctx.log(f"Would create category {category.path_key}.")
                continue
            shop_id = resolved.get(category.pk)
            if shop_id is not None:
                current = remote[shop_id]
                if current.name != category.name or current.parent != parent:
                    updates.append((category, {"id": shop_id, "name": category.name, "parent": parent}))
                else:
                    stats["unchanged"] += 1
                continue
            match = by_place.get((parent, category.name.casefold()))
            if match is not None and match not in taken:
                matches.append((str(match), category.pk))
                resolved[category.pk] = match
                taken.add(match)
                continue
            creates.append((category, {"name": category.name, "parent": parent}))
        ctx.bind_many(CATEGORY, matches)
        stats["matched"] += len(matches)
        _send(ctx, client, creates, updates, resolved, taken, stats)
        ctx.checkpoint()
    ctx.log(f"Categories: {stats['created']} created, {stats['updated']} updated, {stats['matched']} matched to "
            f"the shop's, {stats['unchanged']} unchanged.")
    return {hub_id: shop_id for hub_id, shop_id in resolved.items() if shop_id != _WOULD_CREATE}


def _send(ctx: RunContext, client: HttpClient, creates: list[tuple[Category, dict[str, Any]]],
          updates: list[tuple[Category, dict[str, Any]]], resolved: dict[uuid.UUID, int], taken: set[int],
          stats: Counter[str]) -> None:
    """Create and update one level in batches of at most 100; bind what was created or already there."""
    items = [("create", c, b) for c, b in creates] + [("update", c, b) for c, b in updates]
    for start in range(0, len(items), BATCH_MAX):
        chunk = items[start:start + BATCH_MAX]
        if ctx.simulate:
            for action, category, _body in chunk:
                ctx.log(f"Would {action} category {category.path_key}.")
                if action == "create":
                    resolved[category.pk] = _WOULD_CREATE
            continue
        payload: dict[str, list[dict[str, Any]]] = {}
        for action, _category, body in chunk:
            payload.setdefault(action, []).append(body)
        # Idempotent: a create the shop already applied comes back as term_exists with its id.
        answer = client.post(PATH + "/batch", json_body=payload, idempotent=True).json()
        bound: list[tuple[str, uuid.UUID]] = []
        for action in ("create", "update"):
            sent = [c for a, c, _b in chunk if a == action]
            results = (answer.get(action) or []) if isinstance(answer, dict) else []
            for category, result in zip(sent, results, strict=False):
                shop_id = _result_id(result)
                own = resolved.get(category.pk)
                # A term_exists id already bound to another hub category is a clash, not a match.
                if shop_id is not None and (shop_id == own or shop_id not in taken):
                    if action == "update":
                        stats["updated"] += 1
                    else:
                        stats["matched" if result.get("error") else "created"] += 1
                        bound.append((str(shop_id), category.pk))
                    resolved[category.pk] = shop_id
                    taken.add(shop_id)
                    continue
                error = result.get("error") if isinstance(result, dict) else None
                error = error if isinstance(error, dict) else {"message": "no result"}
                ctx.fail_item(f"category {category.path_key}", str(error.get("code") or "remote_error")[:50],
                              str(error.get("message") or "refused by the shop"))
            for category in sent[len(results):]:
                ctx.fail_item(f"category {category.path_key}", "no_result", "the shop answered no result")
        ctx.bind_many(CATEGORY, bound)


def _result_id(result: Any) -> int | None:
    """The shop id a batch item ended at: its id, or the existing category's on ``term_exists``."""
    if not isinstance(result, dict):
        return None
    error = result.get("error")
    if not error:
        return result.get("id") if isinstance(result.get("id"), int) and result["id"] > 0 else None
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(error, dict) and error.get("code") == "term_exists" and isinstance(data, dict):
        existing = data.get("resource_id")
        return existing if isinstance(existing, int) and existing > 0 else None
    return None
