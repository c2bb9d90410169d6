"""`{% load closebook_words %}` then `{{ code|words }}`: the stored codes of statuses, change
kinds, version states and modes as the words people read (SPEC §15: "Missing receipts",
never `missing_receipts`)."""

from __future__ import annotations

from typing import Any

from django import template

from sessions_app.models import EmployeeRevision, ReceiptVersion

register = template.Library()

CHANGE_WORDS = {
    "new": "New",
    "changed": "Changed",
    "unchanged": "Unchanged",
    "not_ready": "Not ready",
    "removed": "Removed",
}
WORDS: dict[str, str] = {
    **dict(EmployeeRevision.Status.choices),
    **dict(ReceiptVersion.State.choices),
    ReceiptVersion.Mode.REPLACE: "Replace",
    ReceiptVersion.Mode.APPEND: "Append",
    **CHANGE_WORDS,
}


@register.filter(name="words")
def words(code: Any) -> str:
    """The label of a known code; an unknown one loses its underscores."""
    text = "" if code is None else str(code)
    if text in WORDS:
        return WORDS[text]
    lowered = text.lower()  # export lines store change types as NEW / CHANGED
    if lowered in CHANGE_WORDS:
        return CHANGE_WORDS[lowered]
    return text.replace("_", " ").capitalize()
