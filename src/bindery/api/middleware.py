"""Keep the API's error shape for answers Django gives before or around ninja.

Unknown API paths (Django's 404), methods a route does not have (405) and unexpected crashes
(500) would otherwise come back as HTML; integrations parse JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from bindery.api.errors import ApiErrorCode

API_PREFIX = "/api/"
logger = logging.getLogger("bindery.api")

_REPLACED = {
    404: (ApiErrorCode.NOT_FOUND, "no such API path"),
    405: ("method_not_allowed", "this path does not accept the method"),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code not in _REPLACED:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = _REPLACED[response.status_code]
        shaped = JsonResponse({"code": str(code), "message": message}, status=response.status_code)
        if "Allow" in response:
            shaped["Allow"] = response["Allow"]
        return shaped

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        logger.exception("unhandled API error", extra={"event": "api.error", "path": request.path})
        return JsonResponse({"code": "internal_error", "message": "an unexpected error occurred; "
                             f"quote request id {getattr(request, 'request_id', '?')} to support"}, status=500)
