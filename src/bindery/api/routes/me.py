"""Who am I: the calling token, its tenant and scopes (integrations check their setup with it)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema

from bindery.security.models import ApiToken

router = Router(tags=["token"])


class MeOut(Schema):
    tenant: str
    token_name: str
    token_prefix: str
    scopes: list[str]
    expires_at: dt.datetime | None


@router.get("/me", response=MeOut, summary="Describe the calling token")
def me(request: HttpRequest) -> MeOut:
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    return MeOut(tenant=token.tenant.slug, token_name=token.name, token_prefix=token.display_prefix,
                 scopes=list(token.scopes), expires_at=token.expires_at)
