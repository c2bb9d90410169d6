"""A schemathesis check loaded by tests/schemathesis_run.sh (SCHEMATHESIS_HOOKS): every
error answer of the API is JSON in the error format, whatever was sent (SPEC §9, §13)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def error_answers_are_json(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code < 400:
        return
    content_type = _header(response.headers, "content-type")
    if not content_type.startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} answered as {content_type or 'no content type'}, not JSON"
        )
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssertionError(f"{response.status_code} body is not the error format") from exc
    if not isinstance(error.get("code"), str) or not error["code"]:
        raise AssertionError(f"{response.status_code} error has no code")


def _header(headers: Any, name: str) -> str:
    """Schemathesis keeps headers as a mapping of lists; the names' case varies."""
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list | tuple) else str(value)
    return ""
