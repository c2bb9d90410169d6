"""The API's one error format, `{"error": {"code", "message", "details"}}`, for every 4xx.

Services raise DomainErrors; DRF raises its own exceptions while parsing, authenticating
and validating; Django raises Http404/PermissionDenied from the permission helpers and
SuspiciousOperation for oversized or malformed requests. All of them end here, and the
schema class below documents the same format on every operation."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
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


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown URLs under /api/ answer in the API's format, not with an HTML page."""
    error = ApiError("not_found", 404, "No such API endpoint.")
    return JsonResponse(error.body(), status=404)


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
