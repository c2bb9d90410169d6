"""What every admin action of Closebook shares: read-only model admins, the intermediate
page that asks for a reason, and one message per item saying what happened to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.errors import DomainError, NothingToDo


class ReadOnlyAdminMixin:
    """Rows written only by domain operations: admins look, filter and act through the
    actions (which call the services), never edit by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        # simple-history's "revert to this version" would bypass the services.
        return True


@dataclass(frozen=True)
class ItemOutcome:
    label: str
    ok: bool
    text: str
    skipped: bool = False


def report_outcomes(
    modeladmin: admin.ModelAdmin, request: HttpRequest, outcomes: Iterable[ItemOutcome]
) -> None:
    """One message per item (success, skipped or refused), so nothing fails silently."""
    for outcome in outcomes:
        if outcome.ok:
            level = messages.SUCCESS
        elif outcome.skipped:
            level = messages.WARNING
        else:
            level = messages.ERROR
        modeladmin.message_user(request, f"{outcome.label}: {outcome.text}", level)


def skipped(label: str, refusal: NothingToDo) -> ItemOutcome:
    """The one way every action reports an item it had nothing to do for."""
    return ItemOutcome(label=label, ok=False, skipped=True, text=f"skipped, {refusal.skip_note}.")


def outcome_of(label: str, operation: Callable[[], Any], success: str) -> ItemOutcome:
    """Run one service call for one item: a NothingToDo refusal is reported as skipped, any
    other domain error becomes that item's message."""
    try:
        operation()
    except NothingToDo as exc:
        return skipped(label, exc)
    except DomainError as exc:
        return ItemOutcome(label=label, ok=False, text=exc.message)
    return ItemOutcome(label=label, ok=True, text=success)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on every item and in the audit log.",
    )


def reason_confirmation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    apply: Callable[[str], None],
    skipped: Iterable[Model] = (),
    skip_note: str = "",
) -> HttpResponse | None:
    """Django's intermediate page for an action: the first post shows the page asking for
    a reason; the second (with `post`) calls `apply(reason)` and returns to the list."""
    form = ReasonForm(request.POST if request.POST.get("post") else None)
    if form.is_valid():
        apply(form.cleaned_data["reason"].strip())
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "queryset": queryset,
        "skipped": {obj.pk for obj in skipped},
        "skip_note": skip_note,
        "form": form,
        "opts": modeladmin.model._meta,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/closebook/reason_confirmation.html", context)
