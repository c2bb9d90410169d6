from __future__ import annotations

from django import forms


class LinesMatchForm(forms.Form):
    card_line = forms.IntegerField(widget=forms.HiddenInput)
    receipt_line = forms.IntegerField(label="Receipt")
    note = forms.CharField(max_length=2000, label="Why these belong together")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class LinesUnmatchForm(forms.Form):
    card_line = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(max_length=2000, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class ChaseFilterForm(forms.Form):
    employee = forms.CharField(required=False)
    q = forms.CharField(required=False, label="Search")
    sort = forms.CharField(required=False)
