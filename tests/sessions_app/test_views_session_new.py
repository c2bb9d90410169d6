"""New session form: files validated before anything is stored; a mapping form saves an
import profile when the columns cannot be detected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import ActivityEvent
from sessions_app.models import ImportProfile, ProcessingSession, ReceiptVersion
from tests.pages import HTMX
from tests.samples import fixture_file

pytestmark = pytest.mark.django_db
URL = reverse("sessions_app:session_new")
PROFILE_URL = reverse("sessions_app:import_profile_new")
HTMX_FORM = {**HTMX, "HX-Target": "session-form"}


def _form(engagement: Any, **files: Any) -> dict[str, Any]:
    return {
        "engagement": engagement.pk,
        "name": "October 2026",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "tolerance": "1.00",
        "card_file": fixture_file("car_2026_10.csv"),
        "receipts_file": fixture_file("receipts_2026_10_v1.csv"),
        **files,
    }


def test_it_shows_the_form(operator_client: Client, engagement: Any) -> None:
    response = operator_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="card_file"' in html
    assert 'enctype="multipart/form-data"' in html
    assert engagement.name in html


def test_it_creates_the_session_and_goes_to_its_page(
    operator_client: Client, engagement: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(URL, _form(engagement))
    session = ProcessingSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions_app:session_detail", args=[session.pk])
    assert session.status == ProcessingSession.Status.COMPLETED
    assert session.revisions.count() == 8


def test_it_redirects_htmx_with_a_client_redirect(
    operator_client: Client, engagement: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(URL, _form(engagement), headers=HTMX_FORM)
    session = ProcessingSession.objects.get()
    assert response["HX-Redirect"] == reverse("sessions_app:session_detail", args=[session.pk])


def test_it_lists_every_file_error_and_stores_nothing(
    operator_client: Client, engagement: Any
) -> None:
    response = operator_client.post(
        URL, _form(engagement, receipts_file=fixture_file("receipts_bad.csv")), headers=HTMX_FORM
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" not in html
    # Only the problems are replaced: the form keeps the files the operator chose.
    assert response["HX-Retarget"] == "#session-problems"
    assert html.lstrip().startswith('<div id="session-problems"')
    assert "has 3 errors; nothing was stored" in html
    assert "<code>12.3.4</code>" in html
    assert "<code>ten dollars</code>" in html
    assert ProcessingSession.objects.count() == 0
    assert ReceiptVersion.objects.count() == 0
    assert not ActivityEvent.objects.filter(verb=ActivityEvent.Verb.SESSION_CREATED).exists()


def test_it_offers_a_mapping_form_when_columns_are_missing(
    operator_client: Client, engagement: Any
) -> None:
    odd = SimpleUploadedFile("bank.csv", b"Holder,Card Ref,Charge\nAlice,C-1,10.00\n")
    response = operator_client.post(URL, _form(engagement, card_file=odd))
    html = response.content.decode()
    assert response.status_code == 422
    assert "Map the columns of this file" in html
    assert '<option value="Card Ref">Card Ref</option>' in html
    assert 'name="profile_field" value="card_profile"' in html
    assert ProcessingSession.objects.count() == 0


def test_the_mapping_form_saves_a_profile_that_reads_the_file(
    operator_client: Client, engagement: Any, django_capture_on_commit_callbacks: Any
) -> None:
    response = operator_client.post(
        PROFILE_URL,
        {
            "engagement": engagement.pk,
            "profile_field": "card_profile",
            "headers": json.dumps(["Holder", "Card Ref", "Charge"]),
            "next": URL,
            "name": "Bank card export",
            "column_employee_id": "Card Ref",
            "column_employee_name": "Holder",
            "column_amount": "Charge",
        },
    )
    profile = ImportProfile.objects.get(engagement=engagement)
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?card_profile={profile.pk}&engagement={engagement.pk}"
    page = operator_client.get(response["Location"]).content.decode()
    assert f'<option value="{profile.pk}" selected>' in page
    odd = SimpleUploadedFile("bank.csv", b"Holder,Card Ref,Charge\nAlice,C-1,10.00\n")
    with django_capture_on_commit_callbacks(execute=True):
        created = operator_client.post(
            URL, _form(engagement, card_file=odd, card_profile=profile.pk)
        )
    assert created.status_code == 302
    assert ProcessingSession.objects.get().card_row_count == 1


def test_the_mapping_page_opens_prefilled_from_the_file_headers(
    operator_client: Client, engagement: Any
) -> None:
    response = operator_client.get(
        PROFILE_URL,
        {"header": ["Emp ID", "Spent"], "engagement": engagement.pk, "profile_field": "profile"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="Emp ID" selected>Emp ID</option>' in html
    assert '<option value="Spent">Spent</option>' in html


def test_the_mapping_form_shows_a_refused_profile(operator_client: Client, engagement: Any) -> None:
    response = operator_client.post(
        PROFILE_URL,
        {
            "engagement": engagement.pk,
            "profile_field": "card_profile",
            "headers": json.dumps(["A", "B"]),
            "name": "Broken",
            "date_format": "not a format",
        },
    )
    assert response.status_code == 422
    assert ImportProfile.objects.count() == 0


def test_it_refuses_viewers(client: Client, viewer: Any, engagement: Any) -> None:
    client.force_login(viewer)
    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(engagement)).status_code == 403
    assert client.post(PROFILE_URL, {"engagement": engagement.pk}).status_code == 403


def test_it_refuses_another_engagement(client: Client, outsider: Any, engagement: Any) -> None:
    client.force_login(outsider)
    response = client.post(URL, _form(engagement))
    # The form only offers the user's own engagements: a foreign one is not a valid choice.
    assert response.status_code == 422
    assert ProcessingSession.objects.count() == 0
    profile = client.get(PROFILE_URL, {"engagement": engagement.pk, "header": ["A"]})
    assert profile.status_code == 404
    assert client.post(PROFILE_URL, {"engagement": engagement.pk, "name": "x"}).status_code == 404


def test_invalid_fields_show_the_form_again(operator_client: Client, engagement: Any) -> None:
    response = operator_client.post(
        URL, _form(engagement, name="", period_end="2026-09-01"), headers=HTMX_FORM
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith('<div id="session-form">')
    assert "This field is required." in html


def test_a_period_ending_before_it_starts_is_refused(
    operator_client: Client, engagement: Any
) -> None:
    response = operator_client.post(URL, _form(engagement, period_end="2026-09-01"))
    assert response.status_code == 422
    assert "The period ends before it starts." in response.content.decode()
    assert ProcessingSession.objects.count() == 0


def test_it_refuses_other_methods(operator_client: Client) -> None:
    assert operator_client.put(URL).status_code == 405
    assert operator_client.delete(PROFILE_URL).status_code == 405
