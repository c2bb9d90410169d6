from __future__ import annotations

from django import forms

from chasing.models import DEFAULT_ESCALATION_DAYS, DEFAULT_QUIET_PERIOD_DAYS


class DirectoryUploadForm(forms.Form):
    file = forms.FileField(
        label="Directory file (CSV or XLSX)",
        help_text="Columns employee_id, email, manager_email; one header row.",
    )


class ChasingSettingsForm(forms.Form):
    quiet_period_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        initial=DEFAULT_QUIET_PERIOD_DAYS,
        label="Quiet period (days)",
        help_text="Who was asked for the same charges within this period is not asked again.",
    )
    escalation_days = forms.IntegerField(
        min_value=1,
        max_value=365,
        initial=DEFAULT_ESCALATION_DAYS,
        label="Escalate after (days)",
        help_text="Charges still unmatched this long after the first request go to the manager.",
    )


class ReminderForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Note to the employees",
    )
    force = forms.BooleanField(
        required=False, label="Ask again even those asked during the quiet period"
    )


class SubscriptionForm(forms.Form):
    email = forms.EmailField(label="Email")
