"""Every model an admin needs: its changelist renders (with filters, search and date
hierarchy), audit rows are read-only, history views show what changed."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from audit.models import ActivityEvent
from audit.services import activity_event_record

pytestmark = pytest.mark.django_db


def test_it_renders_the_changelist_of_every_registered_model(admin_client, operator, make_session):
    make_session()
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(url)
        assert response.status_code == 200, url
        if model_admin.search_fields:
            assert admin_client.get(url, {"q": "E1001"}).status_code == 200, url


def test_it_registers_the_models_admins_need(admin_client):
    registered = {model._meta.label for model in admin.site._registry}
    assert {
        "sessions_app.Engagement",
        "sessions_app.Membership",
        "sessions_app.ImportProfile",
        "sessions_app.ProcessingSession",
        "sessions_app.ReceiptVersion",
        "sessions_app.CardTransaction",
        "sessions_app.ReceiptLine",
        "sessions_app.EmployeeRevision",
        "exports.ExportBatch",
        "exports.ExportLine",
        "recalc.RecalcJob",
        "audit.ActivityEvent",
        "audit.Notification",
    } <= registered


@pytest.mark.parametrize(
    "label",
    [
        "exports.ExportBatch",
        "exports.ExportLine",
        "audit.ActivityEvent",
        "recalc.RecalcJob",
        "sessions_app.CardTransaction",
        "sessions_app.ReceiptLine",
    ],
)
def test_it_keeps_written_records_read_only(rf, admin_user, label):
    model_admin = next(
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.label == label
    )
    request = rf.get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


def test_it_finds_every_event_of_one_request_by_its_id(admin_client, engagement):
    activity_event_record(verb="session_updated", message="renamed", engagement=engagement)
    event = ActivityEvent.objects.get()
    ActivityEvent.objects.filter(pk=event.pk).update(request_id="req-7f3a")
    response = admin_client.get(reverse("admin:audit_activityevent_changelist"), {"q": "req-7f3a"})
    assert "renamed" in response.content.decode()
    change = reverse("admin:audit_activityevent_change", args=[event.pk])
    assert admin_client.post(change, {"message": "forged"}).status_code == 403


def test_it_creates_engagements_and_memberships_through_the_services(admin_client, operator):
    response = admin_client.post(reverse("admin:sessions_app_engagement_add"), {"name": "Beta Ltd"})
    assert response.status_code == 302
    created = ActivityEvent.objects.get(verb="engagement_created")
    assert created.actor.username == "admin"
    assert created.engagement.slug == "beta-ltd"

    response = admin_client.post(
        reverse("admin:sessions_app_membership_add"),
        {"user": operator.pk, "engagement": created.engagement.pk, "role": "viewer"},
    )
    assert response.status_code == 302
    granted = ActivityEvent.objects.get(verb="membership_granted", engagement=created.engagement)
    assert granted.details == {"user": "olivia", "role": "viewer"}


def test_it_shows_revision_history_diffs_in_the_admin(admin_client, make_session, upload_receipts):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    revision = session.revisions.get(employee_id="E1001")
    page = admin_client.get(
        reverse("admin:sessions_app_employeerevision_history", args=[revision.pk])
    ).content.decode()
    assert "receipts v2 applied" in page
    assert "155.00" in page and "155.75" in page
    assert "olivia" in page


def test_it_links_the_admin_home_to_audit_and_analytics(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("audit:analytics") in page
    assert 'id="closebook-audit-links"' in page
    assert "Processing sessions" in page  # the usual app list is still there
