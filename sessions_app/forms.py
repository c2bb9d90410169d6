"""Forms of the operator pages. They parse input only; every rule lives in the services."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet

from core.dates import validate_calendar_date
from core.errors import DomainError
from sessions_app.ingestion import ROLE_LABELS, ROLES
from sessions_app.ingestion.columns import REQUIRED_ROLES, match_columns
from sessions_app.ingestion.profile import ImportSettings
from sessions_app.models import (
    EmployeeRevision,
    Engagement,
    ImportProfile,
    ProcessingSession,
    ReceiptVersion,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MAX_FILTER_TEXT = 100


class EngagementProfileChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ImportProfile) -> str:
        return f"{obj.name} ({obj.engagement.name})"


def _profiles_of(engagements: Sequence[Engagement]) -> QuerySet[ImportProfile]:
    return ImportProfile.objects.filter(engagement__in=engagements).select_related("engagement")


def _choices_from(field: forms.Field, queryset: QuerySet[Any]) -> None:
    """Limit a model choice field to what the user may pick."""
    assert isinstance(field, forms.ModelChoiceField)
    field.queryset = queryset


class SessionCreateForm(forms.Form):
    engagement = forms.ModelChoiceField(queryset=Engagement.objects.none(), empty_label=None)
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    period_start = forms.DateField(widget=DATE_INPUT, validators=[validate_calendar_date])
    period_end = forms.DateField(widget=DATE_INPUT, validators=[validate_calendar_date])
    tolerance = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.00"),
        initial=Decimal("0.00"),
        help_text="Employees whose receipts are within this amount of their charges match.",
    )
    card_file = forms.FileField(
        label="Card statement (CAR)", help_text="CSV or XLSX from the bank, one header row."
    )
    card_profile = EngagementProfileChoiceField(
        queryset=ImportProfile.objects.none(),
        required=False,
        empty_label="Detect the columns",
        label="Card statement import profile",
    )
    receipts_file = forms.FileField(
        required=False, label="Receipts report", help_text="Optional: it can be added later."
    )
    receipts_profile = EngagementProfileChoiceField(
        queryset=ImportProfile.objects.none(),
        required=False,
        empty_label="Detect the columns",
        label="Receipts import profile",
    )

    def __init__(self, *args: Any, engagements: Sequence[Engagement], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices_from(
            self.fields["engagement"],
            Engagement.objects.filter(pk__in=[engagement.pk for engagement in engagements]),
        )
        for name in ("card_profile", "receipts_profile"):
            _choices_from(self.fields[name], _profiles_of(engagements))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        engagement = cleaned.get("engagement")
        for name in ("card_profile", "receipts_profile"):
            profile = cleaned.get(name)
            if (
                profile is not None
                and engagement is not None
                and profile.engagement_id != (engagement.pk)
            ):
                self.add_error(name, f"This profile belongs to {profile.engagement.name}.")
        return cleaned


class ColumnMappingForm(forms.Form):
    """Says which header of the file plays which role, and saves it as an import profile.
    The file's headers travel in a hidden field, so the form can be re-shown with errors."""

    engagement = forms.IntegerField(widget=forms.HiddenInput)
    # The field of the form that sent us here which should select the new profile.
    profile_field = forms.ChoiceField(
        choices=[(name, name) for name in ("card_profile", "receipts_profile", "profile")],
        widget=forms.HiddenInput,
    )
    headers = forms.CharField(widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=100, label="Profile name")
    delimiter = forms.ChoiceField(
        required=False,
        choices=[("", "Detect"), (",", "Comma"), (";", "Semicolon"), ("tab", "Tab"), ("|", "Pipe")],
    )
    encoding = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Detect"),
            ("utf-8", "UTF-8"),
            ("windows-1252", "Windows-1252"),
            ("iso-8859-1", "ISO-8859-1"),
        ],
    )
    skip_lines = forms.IntegerField(
        required=False, min_value=0, label="Lines before the header", help_text="Empty: find it"
    )
    decimal_separator = forms.ChoiceField(
        required=False,
        choices=[("", "Detect"), *ImportProfile.DecimalSeparator.choices],
    )
    date_format = forms.CharField(
        required=False, max_length=30, help_text="For example dd/mm/yy; empty: detect"
    )
    charges_negative = forms.BooleanField(
        required=False, label="Charges are negative in this file (some bank exports)"
    )
    replace_existing = forms.BooleanField(
        required=False, label="Replace the engagement's existing profile of this name"
    )
    unassigned_employee_id = forms.CharField(
        required=False,
        max_length=100,
        label="Employee id for charges without one",
        help_text="e.g. UNASSIGNED: such charges then show up as an exception; "
        "empty: a charge without an employee id refuses the file",
    )

    def __init__(
        self,
        *args: Any,
        headers: Sequence[str] = (),
        suggestion: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            headers = _headers_from_json(self.data.get("headers", ""))
        else:
            self.initial.setdefault("headers", json.dumps(list(headers)))
            # The columns the aliases recognise are pre-selected; for the others, the
            # mapping proposed from the file's content.
            recognised = match_columns(list(headers), {})
            for role, index in recognised.items():
                self.initial.setdefault(f"column_{role}", headers[index])
            taken = {headers[index] for index in recognised.values()}
            for role, header in (suggestion or {}).items():
                free = header in headers and header not in taken
                if role in ROLES and role not in recognised and free:
                    self.initial.setdefault(f"column_{role}", header)
        choices = [("", "Not in this file / detect")] + [(h, h) for h in headers if h]
        for role in ROLES:
            self.fields[f"column_{role}"] = forms.ChoiceField(
                required=False, choices=choices, label=f"Column for {ROLE_LABELS[role]}"
            )
            self.fields[f"also_{role}"] = forms.CharField(
                required=False,
                max_length=1000,
                widget=forms.Textarea(attrs={"rows": 2}),
                label=f"Other headers for {ROLE_LABELS[role]}",
                help_text="One per line: how other files of the family name it (e.g. a "
                "misspelt month); the first found wins",
            )
        self.file_headers = list(headers)

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"column_{role}"] for role in ROLES]

    def clean(self) -> dict[str, Any]:
        """This page exists because the file's columns were not recognised: the columns
        without which no line can be read must be named here."""
        cleaned = super().clean() or {}
        for role in REQUIRED_ROLES:
            if not cleaned.get(f"column_{role}"):
                self.add_error(
                    f"column_{role}",
                    f"Choose the column that holds the {ROLE_LABELS[role]}: "
                    "without it no line of the file can be read.",
                )
        return cleaned

    def alternative_fields(self) -> list[forms.BoundField]:
        return [self[f"also_{role}"] for role in ROLES]

    def _column(self, role: str) -> str | list[str]:
        """The role's header, followed by its alternatives when there are any."""
        data = self.cleaned_data
        texts = [data.get(f"column_{role}", "")]
        texts += [text.strip() for text in data.get(f"also_{role}", "").splitlines()]
        texts = [text for text in dict.fromkeys(texts) if text]
        return texts if len(texts) > 1 else (texts[0] if texts else "")

    def profile_data(self) -> dict[str, Any]:
        """The import profile as import_profile_save takes it (SPEC §13)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "delimiter": data["delimiter"],
            "encoding": data["encoding"],
            "skip_lines": data["skip_lines"],
            "columns": {role: self._column(role) for role in ROLES},
            "decimal_separator": data["decimal_separator"],
            "date_format": data["date_format"],
            "charges_negative": data["charges_negative"],
            "unassigned_employee_id": data["unassigned_employee_id"],
        }


def _headers_from_json(raw: str) -> list[str]:
    try:
        headers = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(headers, list):
        return []
    return [str(header) for header in headers][:200]


class ReceiptUploadForm(forms.Form):
    file = forms.FileField(label="Receipts file", help_text="CSV or XLSX from the expense tool.")
    mode = forms.ChoiceField(
        choices=ReceiptVersion.Mode.choices,
        initial=ReceiptVersion.Mode.REPLACE,
        widget=forms.RadioSelect,
    )
    profile = EngagementProfileChoiceField(
        queryset=ImportProfile.objects.none(),
        required=False,
        empty_label="Detect the columns",
        label="Import profile",
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    preview = forms.BooleanField(
        required=False,
        initial=True,
        label="Preview before applying",
        help_text="See what changes per employee, then apply or discard.",
    )
    force = forms.BooleanField(required=False, label="Store it anyway")

    def __init__(self, *args: Any, session: ProcessingSession, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices_from(self.fields["profile"], _profiles_of([session.engagement]))


class CardReplaceForm(forms.Form):
    file = forms.FileField(
        label="Corrected card statement (CAR)",
        help_text="CSV or XLSX from the bank; its lines take the place of the current ones.",
    )
    profile = EngagementProfileChoiceField(
        queryset=ImportProfile.objects.none(),
        required=False,
        empty_label="Detect the columns",
        label="Import profile",
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the statement is replaced; kept in the audit trail.",
    )
    force = forms.BooleanField(required=False, label="Replace it anyway")

    def __init__(self, *args: Any, session: ProcessingSession, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices_from(self.fields["profile"], _profiles_of([session.engagement]))


class ReceiptReapplyForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)


class SessionCloseForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded on the session and in the audit trail.",
    )
    close_anyway = forms.BooleanField(
        required=False,
        label="Close anyway, without exporting what is pending",
        help_text="The pending figures are recorded with the reason.",
    )


class RevisionResolveForm(forms.Form):
    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Resolution note",
        help_text="Why this exception is accepted as it is.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class SessionSwitchForm(forms.Form):
    session = forms.IntegerField()


class SessionFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=MAX_FILTER_TEXT, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ProcessingSession.Status.choices]
    )
    engagement = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"status": "", "search": "", "engagement": ""}
        data = self.cleaned_data
        return {
            "status": data["status"],
            "search": data["q"].strip(),
            "engagement": data["engagement"].strip(),
        }


CHANGE_CHOICES = [
    ("", "Any change"),
    ("new", "New"),
    ("changed", "Changed"),
    ("unchanged", "Unchanged"),
    ("not_ready", "Not ready"),
]
EXPORTED_CHOICES = [("", "Exported or not"), ("yes", "Exported"), ("no", "Not exported")]
EMPLOYEE_SORTS = {
    "employee_id": "Employee",
    "employee_name": "Name",
    "car_amount": "Card total",
    "receipt_amount": "Receipts",
    "difference": "Difference",
    "status": "Status",
    "change": "Change",
}


class EmployeeFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=MAX_FILTER_TEXT, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *EmployeeRevision.Status.choices]
    )
    change = forms.ChoiceField(required=False, choices=CHANGE_CHOICES)
    exported = forms.ChoiceField(required=False, choices=EXPORTED_CHOICES)
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def filters(self) -> dict[str, str]:
        """The filter values, with anything unknown read as 'no filter' rather than an error:
        a hand-edited address should still show the table."""
        values = {"q": "", "status": "", "change": "", "exported": "", "sort": "employee_id"}
        self.is_valid()
        for name in values:
            value = getattr(self, "cleaned_data", {}).get(name)
            if value:
                values[name] = str(value).strip()
        if values["sort"].lstrip("-") not in EMPLOYEE_SORTS:
            values["sort"] = "employee_id"
        return values


class ImportProfileAdminForm(forms.ModelForm):
    """Checks the settings as the parser reads them, so a bad value is a form error.
    Each column may be one header or a list of alternatives: {"employee_id": ["Division",
    "Divison"]}."""

    class Meta:
        model = ImportProfile
        fields = [
            "engagement",
            "name",
            "delimiter",
            "encoding",
            "skip_lines",
            "columns",
            "decimal_separator",
            "date_format",
            "charges_negative",
            "unassigned_employee_id",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            ImportSettings.from_dict({**data, "columns": data.get("columns") or {}})
        except DomainError as error:
            raise forms.ValidationError(error.message) from error
        return data
