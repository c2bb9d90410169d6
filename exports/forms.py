"""The export dialog's form. It parses input only; export rules live in exports.services."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django import forms

from exports.models import ExportBatch

SCOPES = [
    ("delta", "Delta: new and changed employees only (recommended)"),
    ("all", "All: every employee of the type, including those already exported"),
]


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class ExportForm(forms.Form):
    export_type = forms.ChoiceField(
        choices=ExportBatch.ExportType.choices,
        initial=ExportBatch.ExportType.PVAULT,
        widget=forms.RadioSelect,
        label="Type",
    )
    scope = forms.ChoiceField(choices=SCOPES, initial="delta", widget=forms.RadioSelect)
    file_format = forms.ChoiceField(
        choices=[("csv", "CSV"), ("xlsx", "XLSX (exceptions reports only)")],
        initial="csv",
        label="File format",
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when the export sends employees that were already exported: "
        "giving it confirms the repeat.",
    )
    # A retried submission (double click, lost answer) gives back the same batch.
    idempotency_key = forms.CharField(max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", new_idempotency_key())


def export_choice(data: Mapping[str, Any]) -> tuple[str, bool]:
    """(export_type, delta_only) as the dialog stands, for the live preview; anything
    unknown reads as the recommended pVault delta export."""
    export_type = data.get("export_type")
    if export_type not in ExportBatch.ExportType.values:
        export_type = ExportBatch.ExportType.PVAULT
    return str(export_type), data.get("scope") != "all"
