"""Export dialog: live preview, delta and full exports, the reason for repeats, idempotent
submits, downloads."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import ActivityEvent
from exports.models import ExportBatch
from exports.services import export_batch_create
from sessions_app.services import session_close
from tests.pages import HTMX

pytestmark = pytest.mark.django_db


def _new(session: Any) -> str:
    return reverse("exports:export_new", args=[session.pk])


def _preview(session: Any) -> str:
    return reverse("exports:export_preview", args=[session.pk])


def test_it_shows_the_export_page_with_the_delta_preview(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.get(_new(session))
    html = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "<html" in html
    assert "Delta: new and changed employees only (recommended)" in html
    assert "<div><dt>Employees in the file</dt><dd><strong>4</strong></dd></div>" in html
    assert "<strong>1,484.75</strong>" in html
    assert 'name="idempotency_key"' in html


def test_it_opens_as_a_dialog_for_htmx(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    html = operator_client.get(_new(session), headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="modal">')
    assert "<html" not in html


def test_the_live_preview_follows_type_and_scope(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    delta = operator_client.get(_preview(session), {"export_type": "pvault"}, headers=HTMX)
    html = delta.content.decode()
    assert html.lstrip().startswith('<section id="export-preview"')
    assert "Nothing new to export" in html
    full = operator_client.get(
        _preview(session), {"export_type": "pvault", "scope": "all"}, headers=HTMX
    ).content.decode()
    batch = ExportBatch.objects.get()
    assert "4 employees were already exported" in full
    assert f"<strong>{batch.batch_code}</strong> (4 employees)" in full
    exceptions = operator_client.get(
        _preview(session), {"export_type": "exceptions"}, headers=HTMX
    ).content.decode()
    assert "<strong>4</strong>" in exceptions


def test_the_preview_without_javascript_is_the_export_page(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    response = operator_client.get(_preview(session), {"export_type": "exceptions"})
    assert response["Location"] == f"{_new(session)}?export_type=exceptions"
    page = operator_client.get(response["Location"]).content.decode()
    assert 'value="exceptions" id="id_export_type_1" required checked' in page


def test_it_generates_a_delta_export_and_offers_the_download(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    form = {
        "export_type": "pvault",
        "scope": "delta",
        "file_format": "csv",
        "idempotency_key": "k1",
    }
    response = operator_client.post(_new(session), form, headers=HTMX)
    batch = ExportBatch.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert "session-changed" in response["HX-Trigger"]
    assert f"<strong>{batch.batch_code}</strong> created: 4 employees, 1,484.75 in total." in html
    assert reverse("exports:batch_download", args=[batch.pk]) in html
    history = operator_client.get(
        reverse("sessions_app:session_detail", args=[session.pk]),
        headers={**HTMX, "HX-Target": "export-history"},
    ).content.decode()
    assert batch.batch_code in history


def test_a_repeated_submit_returns_the_same_batch(
    operator_client: Client, make_session: Any
) -> None:
    session = make_session()
    form = {
        "export_type": "pvault",
        "scope": "delta",
        "file_format": "csv",
        "idempotency_key": "k2",
    }
    first = operator_client.post(_new(session), form)
    second = operator_client.post(_new(session), form)
    assert first.status_code == second.status_code == 302
    assert ExportBatch.objects.count() == 1


def test_a_full_export_repeating_employees_needs_a_reason(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    form = {"export_type": "pvault", "scope": "all", "file_format": "csv", "idempotency_key": "k3"}
    refused = operator_client.post(_new(session), form, headers=HTMX)
    html = refused.content.decode()
    assert refused.status_code == 409
    assert html.lstrip().startswith('<form id="export-form"')
    assert "needs a confirmation and a reason" in html
    assert 'value="k3"' in html  # the retry keeps its idempotency key
    assert ExportBatch.objects.count() == 1
    confirmed = operator_client.post(
        _new(session), {**form, "reason": "pVault lost the October load"}, headers=HTMX
    )
    assert confirmed.status_code == 200
    batch = ExportBatch.objects.latest("id")
    assert batch.reason == "pVault lost the October load"
    assert batch.employee_count == 4


def test_nothing_to_export_is_a_warning_not_a_file(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    form = {
        "export_type": "pvault",
        "scope": "delta",
        "file_format": "csv",
        "idempotency_key": "k4",
    }
    response = operator_client.post(_new(session), form, headers=HTMX)
    assert response.status_code == 409
    assert "Nothing new to export" in response.content.decode()
    assert ExportBatch.objects.count() == 1


def test_a_download_gives_the_stored_file_named_after_the_batch(
    client: Client, viewer: Any, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    client.force_login(viewer)
    response = client.get(reverse("exports:batch_download", args=[batch.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{batch.batch_code}.csv"'
    assert hashlib.sha256(response.content).hexdigest() == batch.sha256
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["employee_id"] for row in rows] == ["E1001", "E1002", "E1005", "E1007"]
    assert ActivityEvent.objects.filter(verb=ActivityEvent.Verb.EXPORT_DOWNLOADED).exists()


def test_a_closed_session_still_downloads_but_refuses_new_exports(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    session_close(session=session, reason="done", actor=operator)
    download = operator_client.get(reverse("exports:batch_download", args=[batch.pk]))
    assert download.status_code == 200
    form = {
        "export_type": "exceptions",
        "scope": "all",
        "file_format": "csv",
        "idempotency_key": "k5",
    }
    response = operator_client.post(_new(session), form)
    assert response.status_code == 409
    assert "was closed on" in response.content.decode()


def test_a_tampered_file_is_not_served(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    with batch.file.storage.open(batch.file.name, "wb") as handle:
        handle.write(b"employee_id,amount\nE1001,0.00\n")
    response = operator_client.get(reverse("exports:batch_download", args=[batch.pk]))
    assert response.status_code == 500
    assert "no longer matches its sha256" in response.content.decode()


def test_viewers_cannot_export(client: Client, viewer: Any, make_session: Any) -> None:
    session = make_session()
    client.force_login(viewer)
    assert client.get(_new(session)).status_code == 403
    form = {
        "export_type": "pvault",
        "scope": "delta",
        "file_format": "csv",
        "idempotency_key": "k6",
    }
    assert client.post(_new(session), form).status_code == 403
    assert client.get(_preview(session), headers=HTMX).status_code == 200
    assert ExportBatch.objects.count() == 0


def test_another_engagement_sees_nothing(
    client: Client, outsider: Any, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    client.force_login(outsider)
    assert client.get(_new(session)).status_code == 404
    assert client.get(_preview(session), headers=HTMX).status_code == 404
    assert client.get(reverse("exports:batch_download", args=[batch.pk])).status_code == 404


def test_it_refuses_other_methods(
    operator_client: Client, make_session: Any, operator: Any
) -> None:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    assert operator_client.put(_new(session)).status_code == 405
    assert operator_client.post(_preview(session)).status_code == 405
    assert (
        operator_client.post(reverse("exports:batch_download", args=[batch.pk])).status_code == 405
    )
