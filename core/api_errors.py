"""The API's one error format, `{"error": {"code", "message", "details"}}`, for every 4xx.

Services raise DomainErrors; DRF raises its own exceptions while parsing, authenticating
and validating; Django raises Http404/PermissionDenied from the permission helpers and
SuspiciousOperation for oversized or malformed requests. All of them end here, and the
schema class below documents the same format on every operation."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import DomainError, InvalidFile


class ApiError:
    """What one error answer says; built from whichever exception was raised."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        details: Any = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.code, self.status, self.message, self.details = code, status, message, details
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message, "details": self.details}
        return {"error": {**error, **self.extra}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Anything not recognised stays a 500: that is a bug."""
    error = api_error_for(exc)
    if error is None:
        return None
    set_rollback()
    return Response(error.body(), status=error.status, headers=error.headers)


def api_error_for(exc: Exception) -> ApiError | None:
    if isinstance(exc, DomainError):
        return _domain_error(exc)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_error(exc.detail)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return _validation_error(detail)
    if isinstance(exc, Http404):
        return ApiError("not_found", 404, _text(exc, "Not found."))
    if isinstance(exc, PermissionDenied):
        return ApiError("permission_denied", 403, _text(exc, "You may not do this."))
    if isinstance(exc, RequestDataTooBig):
        return ApiError("request_too_large", 400, "The request body is too large.")
    if isinstance(exc, SuspiciousOperation):
        return ApiError("bad_request", 400, _text(exc, "The request could not be read."))
    if isinstance(exc, exceptions.APIException):
        return _drf_error(exc)
    return None


def _domain_error(exc: DomainError) -> ApiError:
    extra = {"error_count": exc.error_count} if isinstance(exc, InvalidFile) else None
    return ApiError(exc.code, exc.http_status, exc.message, exc.details, extra=extra)


def _validation_error(detail: Any) -> ApiError:
    if isinstance(detail, dict):
        fields = ", ".join(str(name) for name in detail)
        message = f"Invalid input: {fields}." if fields else "Invalid input."
    else:
        detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        message = "Invalid input."
    return ApiError("invalid", 400, message, _plain(detail))


def _drf_error(exc: exceptions.APIException) -> ApiError:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    details = None
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = f"{int(wait)}"
        details = {"wait_seconds": int(wait)}
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return ApiError(str(code), exc.status_code, str(exc.detail), details, headers=headers)


def _plain(detail: Any) -> Any:
    """ErrorDetail strings and nested containers as plain JSON values."""
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list | tuple):
        return [_plain(value) for value in detail]
    return str(detail)


def _text(exc: Exception, default: str) -> str:
    return str(exc.args[0]) if exc.args and exc.args[0] else default


API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown URLs under /api/ answer in the API's format, not with an HTML page, whatever
    the method: exempt from CSRF, since it changes nothing and a POST to a mistyped path
    should learn that the path is wrong, not that a token is missing."""
    return json_error_response(ApiError("not_found", 404, "No such API endpoint."))


# --- Django's error views: JSON under /api/, the usual pages elsewhere -----------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(ApiError("bad_request", 400, "The request could not be read."))
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        message = _text(exception, "You may not do this.") if exception else "You may not do this."
        return json_error_response(ApiError("permission_denied", 403, message))
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error_response(ApiError("not_found", 404, "Not found."))
    return defaults.page_not_found(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        message = "Something went wrong on our side; the request id identifies it in the logs."
        return json_error_response(ApiError("server_error", 500, message))
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the API's format for a session-authenticated script."""
    if is_api_request(request):
        message = f"CSRF verification failed: {reason}" if reason else "CSRF verification failed."
        return json_error_response(ApiError("csrf_failed", 403, message))
    return csrf_views.csrf_failure(request, reason=reason)


# --- OpenAPI --------------------------------------------------------------------------------------


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. session_closed, invalid_file.")
    message = serializers.CharField(help_text="A sentence a person can act on.")
    details = serializers.JSONField(
        allow_null=True,
        help_text="invalid: field → messages; invalid_file: list of {line, column, value, "
        "message}; job_active: {job, job_url}; otherwise an object or null.",
    )
    error_count = serializers.IntegerField(
        required=False, help_text="invalid_file only: how many errors the file has in all."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    "400": "invalid (field errors in details), invalid_file (details: line, column, value, "
    "message), parse_error, request_too_large",
    "401": "not_authenticated or authentication_failed",
    "403": "permission_denied: a viewer asking to change something, or a staff-only endpoint",
    "404": "not_found: no such object, or one of an engagement you are not a member of",
    "406": "not_acceptable",
    "409": "session_closed, job_active, nothing_to_export, confirm_required, stale_version, "
    "duplicate_file, invalid_state, card_replace_not_allowed",
    "415": "unsupported_media_type",
    "429": "throttled (details.wait_seconds)",
}
ERROR_STATUSES_READ = ("400", "401", "403", "404", "406", "429")
ERROR_STATUSES_WRITE = (*ERROR_STATUSES_READ, "409", "415")


class ErrorDocumentingAutoSchema(AutoSchema):
    """Every operation documents the error format for the statuses it can answer with."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        statuses = ERROR_STATUSES_READ if self.method == "GET" else ERROR_STATUSES_WRITE
        for status in statuses:
            if status not in bodies:
                body = self._get_response_for_code(
                    ErrorSerializer, status, ["application/json"], direction
                )
                bodies[status] = {**body, "description": ERROR_DESCRIPTIONS[status]}
        return bodies
