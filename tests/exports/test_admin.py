"""Export batches in the admin: read-only, download, void through the intermediate page,
verify stored files."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from audit.models import ActivityEvent
from exports.models import ExportBatch
from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision
from tests.pages import admin_messages

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:exports_exportbatch_changelist"


def _batch(session: Any, actor: Any) -> ExportBatch:
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=actor)
    return batch


def test_it_keeps_export_batches_read_only(admin_client, operator, make_session):
    batch = _batch(make_session(), operator)
    change = reverse("admin:exports_exportbatch_change", args=[batch.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"reason": "edited"}).status_code == 403
    assert admin_client.get(reverse("admin:exports_exportbatch_add")).status_code == 403
    assert (
        admin_client.get(reverse("admin:exports_exportbatch_delete", args=[batch.pk])).status_code
        == 403
    )
    lines = reverse("admin:exports_exportline_changelist")
    assert admin_client.get(lines).status_code == 200
    assert admin_client.get(reverse("admin:exports_exportline_add")).status_code == 403


def test_it_downloads_the_identical_bytes_and_records_it(admin_client, operator, make_session):
    batch = _batch(make_session(), operator)
    response = admin_client.get(reverse("admin:exports_exportbatch_download", args=[batch.pk]))
    assert response.status_code == 200
    with default_storage.open(batch.file.name, "rb") as handle:
        assert response.content == handle.read()
    assert batch.batch_code in response["Content-Disposition"]
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.EXPORT_DOWNLOADED)
    assert event.actor.username == "admin"


def test_it_asks_for_a_reason_then_voids_newest_first(
    admin_client, operator, make_session, upload_receipts
):
    session = make_session()
    first = _batch(session, operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    second = _batch(session, operator)  # includes E1001 again: first cannot go alone

    page = admin_client.post(
        reverse(CHANGELIST), {"action": "void", "_selected_action": [first.pk]}
    )
    assert "Void these batches" in page.content.decode()
    refused = admin_client.post(
        reverse(CHANGELIST),
        {"action": "void", "_selected_action": [first.pk], "post": "yes", "reason": "wrong"},
        follow=True,
    )
    assert any("cannot be voided" in message for message in admin_messages(refused))
    first.refresh_from_db()
    assert not first.is_void

    both = admin_client.post(
        reverse(CHANGELIST),
        {
            "action": "void",
            "_selected_action": [first.pk, second.pk],
            "post": "yes",
            "reason": "pVault rejected the file",
        },
        follow=True,
    )
    messages = admin_messages(both)
    assert sum("voided; its employees are back" in message for message in messages) == 2
    assert ExportBatch.objects.filter(status="void").count() == 2
    e1002 = EmployeeRevision.objects.get(session=session, employee_id="E1002")
    assert e1002.exported_car_amount is None
    voided = ActivityEvent.objects.filter(verb=ActivityEvent.Verb.EXPORT_VOIDED)
    assert {event.actor.username for event in voided} == {"admin"}

    again = admin_client.post(
        reverse(CHANGELIST),
        {"action": "void", "_selected_action": [first.pk], "post": "yes", "reason": "x"},
        follow=True,
    )
    assert f"{first.batch_code}: skipped, already void." in admin_messages(again)


def test_it_verifies_stored_files_and_reports_mismatches(admin_client, operator, make_session):
    session = make_session()
    good = _batch(session, operator)
    bad, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)
    with default_storage.open(bad.file.name, "wb") as handle:
        handle.write(b"tampered")

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "verify", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    messages = admin_messages(response)
    assert f"{good.batch_code}: file verified (sha256 and size)." in messages
    assert any(m.startswith(f"{bad.batch_code}: mismatch") for m in messages)
    assert "2 files checked, 1 failed verification." in messages
