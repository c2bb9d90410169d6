"""Filter forms of the audit pages. GET forms: they only read."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from audit.models import ActivityEvent
from audit.selectors import AuditLogFilters, audit_actors_for
from core.dates import validate_calendar_date
from sessions_app.models import Engagement


class DateRangeForm(forms.Form):
    date_from = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )
    date_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError("The range ends before it starts.")
        return cleaned


class AuditLogFilterForm(DateRangeForm):
    actor: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Anyone"
    )
    verb = forms.ChoiceField(required=False, label="What happened")
    session: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any session"
    )

    def __init__(self, *args: Any, engagement: Engagement, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].queryset = audit_actors_for(engagement)  # type: ignore[attr-defined]
        self.fields["verb"].choices = [("", "Anything"), *ActivityEvent.Verb.choices]  # type: ignore[attr-defined]
        self.fields["session"].queryset = engagement.sessions.order_by("-period_start", "-id")  # type: ignore[attr-defined]
        self.order_fields(["actor", "verb", "session", "date_from", "date_to"])

    def filters(self) -> AuditLogFilters:
        """The filters to apply; an invalid form filters nothing rather than failing."""
        if not self.is_valid():
            return AuditLogFilters()
        data = self.cleaned_data
        return AuditLogFilters(
            actor_id=data["actor"].pk if data.get("actor") else None,
            verb=data.get("verb") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            session_id=data["session"].pk if data.get("session") else None,
        )


class AsOfForm(forms.Form):
    at = forms.DateTimeField(
        label="As of",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=[
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M:%S.%f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d",
        ],
        validators=[validate_calendar_date],
    )

    def clean_at(self) -> datetime.datetime:
        at = self.cleaned_data["at"]
        if at > timezone.now():
            raise forms.ValidationError("Pick a moment in the past.")
        return at
