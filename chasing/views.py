"""Operator pages of chasing: the directory, receipt requests of a session, report
subscribers and the weekly report preview. Access through get_engagement_for /
get_session_for; every write is a service; a domain error becomes the page's own message."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chasing.forms import ChasingSettingsForm, DirectoryUploadForm, ReminderForm, SubscriptionForm
from chasing.models import ReportSubscription
from chasing.selectors import (
    chasing_settings_for,
    contacts_for,
    receipt_requests_for,
    reminder_plan,
    subscriptions_for,
)
from chasing.services import (
    chasing_settings_save,
    employee_contacts_import,
    receipt_requests_send,
    report_subscription_create,
    report_subscription_delete,
    weekly_report_build,
    weekly_report_send_now,
)
from chasing.services.reports import report_context
from core.errors import DomainError, InvalidFile
from core.htmx import domain_status, htmx_fragment
from sessions_app.access import get_engagement_for, get_session_for, role_in
from sessions_app.models import Membership

CONTACTS = "chasing/contacts.html"
REMINDERS = "chasing/reminders.html"
SUBSCRIPTIONS = "chasing/subscriptions.html"
WEEKLY = "chasing/weekly_report.html"
CONTACTS_PAGE_SIZE = 100
REQUESTS_PAGE_SIZE = 50


def _operates(user: Any, engagement_id: int) -> bool:
    return role_in(user, engagement_id) == Membership.Role.OPERATOR


# --- Directory --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def contacts_page(request: Any, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug, write=request.method == "POST")
    form = DirectoryUploadForm(request.POST or None, request.FILES or None)
    summary, error, status = None, None, 200
    if request.method == "POST" and form.is_valid():
        try:
            summary = employee_contacts_import(
                engagement=engagement, data=form.cleaned_data["file"].read(), actor=request.user
            )
        except InvalidFile as refused:
            error, status = refused, 422
    elif request.method == "POST":
        status = 422
    settings = chasing_settings_for(engagement)
    context = {
        "engagement": engagement,
        "form": form,
        "summary": summary,
        "error": error,
        "settings_form": ChasingSettingsForm(
            initial={
                "quiet_period_days": settings.quiet_period_days,
                "escalation_days": settings.escalation_days,
            }
        ),
        "can_write": _operates(request.user, engagement.pk),
        "page": Paginator(contacts_for(engagement), CONTACTS_PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
    }
    fragment = htmx_fragment(request, ["directory-upload", "contacts"])
    template = f"{CONTACTS}#{fragment}" if fragment else CONTACTS
    return render(request, template, context, status=status)


@login_required
@require_POST
def chasing_settings_page(request: Any, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug, write=True)
    form = ChasingSettingsForm(request.POST)
    if form.is_valid():
        chasing_settings_save(engagement=engagement, actor=request.user, **form.cleaned_data)
        messages.success(request, "Chasing settings saved.")
    else:
        messages.error(request, "The settings were not saved: " + form.errors.as_text())
    return redirect("chasing:contacts", slug=engagement.slug)


# --- Receipt requests of a session ---------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def reminders_page(request: Any, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk, write=True)
    form = ReminderForm(request.POST if request.method == "POST" else request.GET or None)
    force = bool(form.is_valid() and form.cleaned_data["force"])
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            outcome = receipt_requests_send(
                session=session,
                actor=request.user,
                note=form.cleaned_data["note"],
                force=force,
            )
        except DomainError as refused:
            messages.error(request, refused.message)
            status = domain_status(refused)
        else:
            messages.success(request, _sent_message(outcome.as_dict()))
            return redirect("chasing:reminders", pk=session.pk)
    context = {
        "session": session,
        "form": form,
        "plan": None
        if session.is_closed
        else reminder_plan(session=session, force=force, now=timezone.now()),
        "page": Paginator(receipt_requests_for(session), REQUESTS_PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
    }
    fragment = htmx_fragment(request, ["reminder-preview", "receipt-requests"])
    template = f"{REMINDERS}#{fragment}" if fragment else REMINDERS
    return render(request, template, context, status=status)


def _sent_message(outcome: dict[str, Any]) -> str:
    parts = [f"Receipt requests queued for {outcome['sent']} employees"]
    if outcome["skipped_no_contact"]:
        parts.append(f"{len(outcome['skipped_no_contact'])} skipped without a contact")
    if outcome["skipped_recent"]:
        parts.append(f"{len(outcome['skipped_recent'])} skipped as asked recently")
    return "; ".join(parts) + "."


# --- Weekly report --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def subscriptions_page(request: Any, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug, write=request.method == "POST")
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report_subscription_create(
                engagement=engagement, email=form.cleaned_data["email"], actor=request.user
            )
        except DomainError as refused:
            form.add_error("email", refused.message)
        else:
            messages.success(request, f"{form.cleaned_data['email']} will get the weekly report.")
            return redirect("chasing:subscriptions", slug=engagement.slug)
    context = {
        "engagement": engagement,
        "form": form,
        "subscriptions": subscriptions_for(engagement).select_related("created_by"),
        "can_write": _operates(request.user, engagement.pk),
    }
    status = 422 if request.method == "POST" else 200
    return render(request, SUBSCRIPTIONS, context, status=status)


@login_required
@require_POST
def subscription_delete(request: Any, slug: str, subscription_pk: int) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug, write=True)
    subscription = get_object_or_404(ReportSubscription, pk=subscription_pk, engagement=engagement)
    report_subscription_delete(subscription=subscription, actor=request.user)
    messages.success(request, f"{subscription.email} no longer gets the weekly report.")
    return redirect("chasing:subscriptions", slug=engagement.slug)


@login_required
@require_GET
def weekly_report_preview(request: Any, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug)
    report = weekly_report_build(engagement=engagement)
    context = {
        **report_context(report),
        "engagement": engagement,
        "subscriber_count": subscriptions_for(engagement).count(),
        "can_write": _operates(request.user, engagement.pk),
    }
    return render(request, WEEKLY, context)


@login_required
@require_POST
def weekly_report_send(request: Any, slug: str) -> HttpResponse:
    engagement = get_engagement_for(request.user, slug, write=True)
    sent = weekly_report_send_now(engagement=engagement, actor=request.user)
    if sent:
        messages.success(request, f"The weekly report is on its way to {sent} subscribers.")
    else:
        messages.error(request, "Nobody subscribes to this engagement's weekly report yet.")
    return redirect(reverse("chasing:weekly_report", args=[engagement.slug]))
