"""Who or what caused a write: recorded in change logs and audit events."""

from __future__ import annotations

from typing import Any


def actor_label(actor: Any) -> str:
    """Return a short, stable description such as ``user:<id>``, ``token:<id>`` or ``system:demo``.

    Actions take the actor as a keyword-only argument; strings pass through (``"system:..."``,
    ``"run:<id>"``), model instances are described by their kind and primary key.
    """
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:100]
    # request.user is a lazy proxy; its class name would say "simplelazyobject", not "user".
    kind = getattr(actor, "actor_kind", None) or actor.__class__.__name__.lower()
    pk = getattr(actor, "pk", None)
    return f"{kind}:{pk}" if pk is not None else kind
