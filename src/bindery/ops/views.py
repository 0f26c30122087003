from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from bindery import __version__
from bindery.ops.health import host_health


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the databases and the queue answer, 503 when one of them does not."""
    health = host_health()
    health["version"] = __version__
    return JsonResponse(health, status=503 if health["status"] == "error" else 200)
