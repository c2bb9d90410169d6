"""The audit pages: engagement log (filters, pagination, CSV), session timeline, a session
as of a moment, and an employee's revision history with diffs."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from sessions_app.models import EmployeeRevision, ProcessingSession, ReceiptVersion
from sessions_app.services import revision_resolve, session_update

pytestmark = pytest.mark.django_db


def _log_url(slug: str = "acme-corp") -> str:
    return reverse("audit:engagement_log", args=[slug])


def _events(engagement: Any, actor: Any, count: int, **kwargs: Any) -> None:
    for number in range(count):
        activity_event_record(
            verb=kwargs.get("verb", ActivityEvent.Verb.SESSION_UPDATED),
            message=f"event {number}",
            actor=actor,
            engagement=engagement,
            session=kwargs.get("session"),
        )


def _age_history(session: Any, *, hours: int) -> None:
    """Move what happened so far back in time, so an "as of" between then and now is a
    moment with whole seconds (the form's precision)."""
    shift = F("history_date") - datetime.timedelta(hours=hours)
    ProcessingSession.history.filter(id=session.pk).update(history_date=shift)
    EmployeeRevision.history.filter(session_id=session.pk).update(history_date=shift)
    ReceiptVersion.history.filter(session_id=session.pk).update(history_date=shift)


# --- Engagement audit log -------------------------------------------------------------------


def test_it_lists_the_engagements_events_newest_first(client, engagement, operator, make_session):
    make_session()
    client.force_login(operator)
    response = client.get(_log_url())
    assert response.status_code == 200
    verbs = [event.verb for event in response.context["page"]]
    assert verbs[0] == "job_finished"
    assert verbs[-1] == "session_created"
    page = response.content.decode()
    assert "<html" in page
    assert "<td>olivia</td>" in page


def test_it_answers_htmx_with_the_results_fragment_only(client, engagement, operator, make_session):
    make_session()
    client.force_login(operator)
    response = client.get(_log_url(), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<section id="audit-log"')


def test_it_filters_by_verb_actor_session_and_dates(
    client, engagement, operator, viewer, make_session
):
    session = make_session()
    _events(engagement, viewer, 3, verb=ActivityEvent.Verb.EXPORT_DOWNLOADED, session=session)
    client.force_login(viewer)
    response = client.get(_log_url(), {"verb": "export_downloaded", "actor": viewer.pk})
    rows = response.context["page"].object_list
    assert len(rows) == 3
    assert {event.actor_label for event in rows} == {"victor"}

    response = client.get(_log_url(), {"session": session.pk, "verb": "session_created"})
    assert [event.verb for event in response.context["page"]] == ["session_created"]

    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = client.get(_log_url(), {"date_from": tomorrow.isoformat()})
    assert response.context["page"].paginator.count == 0
    today = timezone.localdate().isoformat()
    response = client.get(_log_url(), {"date_from": today, "date_to": today})
    assert (
        response.context["page"].paginator.count
        == ActivityEvent.objects.filter(engagement=engagement).count()
    )


def test_it_says_when_the_date_range_is_backwards(client, operator):
    client.force_login(operator)
    response = client.get(_log_url(), {"date_from": "2026-11-02", "date_to": "2026-11-01"})
    assert response.status_code == 200
    assert "The range ends before it starts." in response.content.decode()


def test_it_pages_the_log_fifty_rows_at_a_time(client, engagement, operator):
    _events(engagement, operator, 120)
    client.force_login(operator)
    first = client.get(_log_url())
    assert len(first.context["page"].object_list) == 50
    last = client.get(_log_url(), {"page": 3})
    assert [event.message for event in last.context["page"]][-1] == "event 0"
    assert "Page 3 of 3" in last.content.decode()


@pytest.mark.parametrize("event_count", [5, 120])
def test_it_reads_the_log_in_a_fixed_number_of_queries(
    client, engagement, operator, make_session, event_count, django_assert_max_num_queries
):
    session = make_session()
    _events(engagement, operator, event_count, session=session)
    client.force_login(operator)
    client.get(_log_url())  # warm the session/auth caches
    with django_assert_max_num_queries(14):
        response = client.get(_log_url(), {"verb": "session_updated"})
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        fragment = client.get(_log_url(), headers={"HX-Request": "true"})
    assert fragment.status_code == 200


def test_it_downloads_the_filtered_rows_as_csv(client, engagement, operator, make_session):
    make_session()
    _events(engagement, operator, 2, verb=ActivityEvent.Verb.EXPORT_DOWNLOADED)
    client.force_login(operator)
    response = client.get(
        reverse("audit:engagement_log_csv", args=["acme-corp"]), {"verb": "export_downloaded"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2
    assert {row["verb"] for row in rows} == {"export_downloaded"}
    assert rows[0]["actor"] == "olivia"


def test_it_neutralises_formulas_in_csv_text_cells(client, engagement, operator):
    activity_event_record(
        verb=ActivityEvent.Verb.LOGIN_FAILED,
        message='=HYPERLINK("http://evil")',
        actor_label="+cmd",
        engagement=engagement,
    )
    client.force_login(operator)
    response = client.get(reverse("audit:engagement_log_csv", args=["acme-corp"]))
    row = next(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["message"].startswith("'=")
    assert row["actor"] == "'+cmd"


def test_it_hides_another_engagements_log(client, engagement, outsider):
    client.force_login(outsider)
    assert client.get(_log_url()).status_code == 404
    assert client.get(reverse("audit:engagement_log_csv", args=["acme-corp"])).status_code == 404


def test_it_refuses_post_on_the_log(client, operator):
    client.force_login(operator)
    assert client.post(_log_url()).status_code == 405


def test_it_sends_anonymous_visitors_to_login(client, engagement):
    response = client.get(_log_url())
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- Session timeline -----------------------------------------------------------------------


def test_it_tells_the_session_story_oldest_first(client, operator, viewer, make_session):
    session = make_session()
    client.force_login(viewer)
    response = client.get(reverse("audit:session_timeline", args=[session.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Session created") < page.index("Job started") < page.index("Job finished")


def test_it_renders_the_timeline_fragment_for_htmx(client, operator, make_session):
    session = make_session()
    client.force_login(operator)
    response = client.get(
        reverse("audit:session_timeline", args=[session.pk]), headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert "<html" not in page
    assert f'id="timeline-{session.pk}"' in page


def test_it_hides_another_engagements_timeline(client, outsider, make_session):
    session = make_session()
    client.force_login(outsider)
    assert client.get(reverse("audit:session_timeline", args=[session.pk])).status_code == 404
    assert client.post(reverse("audit:session_timeline", args=[session.pk])).status_code == 405


# --- A session as of a moment ---------------------------------------------------------------


def test_it_shows_the_session_as_it_stood_before_a_change(client, operator, make_session):
    session = make_session()
    _age_history(session, hours=1)
    before = timezone.now() - datetime.timedelta(minutes=30)
    session_update(session=session, name="October 2026 (renamed)", actor=operator)
    client.force_login(operator)
    url = reverse("audit:session_as_of", args=[session.pk])

    then = client.get(url, {"at": timezone.localtime(before).strftime("%Y-%m-%dT%H:%M:%S")})
    assert then.status_code == 200
    snapshot = then.context["snapshot"]
    assert snapshot.session.name == "October 2026"
    assert len(snapshot.revisions) == 8
    assert snapshot.car_total == sum(
        EmployeeRevision.objects.filter(session=session).values_list("car_amount", flat=True)
    )

    now = client.get(url, {"at": timezone.localtime().strftime("%Y-%m-%dT%H:%M:%S.%f")})
    assert now.context["snapshot"].session.name == "October 2026 (renamed)"
    assert now.context["snapshot"].change_reason == "session updated: name"


def test_it_shows_each_receipt_version_in_the_state_it_had_then(client, operator, make_session):
    session = make_session()
    _age_history(session, hours=1)
    applied_at = ReceiptVersion.history.get(session_id=session.pk, state="applied").history_date
    uploaded_at = ReceiptVersion.history.get(session_id=session.pk, state="pending").history_date
    ReceiptVersion.history.filter(session_id=session.pk, state="applied").update(
        history_date=applied_at + datetime.timedelta(minutes=10)
    )
    client.force_login(operator)
    url = reverse("audit:session_as_of", args=[session.pk])
    at = timezone.localtime(uploaded_at + datetime.timedelta(minutes=5))

    before = client.get(url, {"at": at.strftime("%Y-%m-%dT%H:%M:%S")}).content.decode()
    now = client.get(url, {"at": timezone.localtime().strftime("%Y-%m-%dT%H:%M:%S")})

    assert "v1 · Replace (complete report) · Waiting for the recalculation" in before
    page = now.content.decode()
    assert "v1 · Replace (complete report) · Applied" in page
    assert "Waiting for the recalculation" not in page
    # The same money format as the live page, the currency beside the totals.
    assert "<dt>Card total</dt><dd>3,087.03 USD</dd>" in " ".join(page.split())
    assert 'step="1"' in page  # a time with seconds is accepted by the browser too


def test_it_says_the_session_did_not_exist_yet(client, operator, make_session):
    session = make_session()
    client.force_login(operator)
    response = client.get(
        reverse("audit:session_as_of", args=[session.pk]),
        {"at": "2020-01-01T00:00"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert "<html" not in page
    assert "did not exist yet" in page


def test_it_refuses_a_moment_in_the_future(client, operator, make_session):
    session = make_session()
    client.force_login(operator)
    response = client.get(
        reverse("audit:session_as_of", args=[session.pk]), {"at": "2999-01-01T00:00"}
    )
    assert "Pick a moment in the past." in response.content.decode()


def test_it_hides_another_engagements_session_as_of(client, outsider, make_session):
    session = make_session()
    client.force_login(outsider)
    url = reverse("audit:session_as_of", args=[session.pk])
    assert client.get(url, {"at": "2026-01-01T00:00"}).status_code == 404


# --- Employee revision history --------------------------------------------------------------


def test_it_shows_each_revision_with_what_changed(client, operator, make_session, upload_receipts):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    e1005 = EmployeeRevision.objects.get(session=session, employee_id="E1005")
    revision_resolve(
        revision=e1005, note="hotel receipt", expected_version=e1005.version, actor=operator
    )
    e1001 = EmployeeRevision.objects.get(session=session, employee_id="E1001")
    client.force_login(operator)

    response = client.get(reverse("audit:revision_history", args=[session.pk, "E1001"]))
    steps = response.context["steps"]
    assert len(steps) == 2
    newest = steps[0]
    assert newest.reason == "receipts v2 applied"
    assert newest.user == "olivia"
    receipts = next(change for change in newest.changes if change.field == "receipt_amount")
    assert (receipts.old, receipts.new) == ("155.00", "155.75")
    page = response.content.decode()
    assert "155.00" in page and "155.75" in page
    assert e1001.version == 2

    resolved = client.get(reverse("audit:revision_history", args=[session.pk, "E1005"]))
    newest = resolved.context["steps"][0]
    assert newest.reason == "resolved by operator"
    changed = {change.field: (change.old, change.new) for change in newest.changes}
    assert changed["status"] == ("Excess receipts", "Resolved")
    assert changed["resolution_note"] == ("—", "hotel receipt")
    assert changed["resolved_by"] == ("—", "olivia")


def test_it_renders_the_revision_history_fragment_for_htmx(client, operator, make_session):
    session = make_session()
    client.force_login(operator)
    response = client.get(
        reverse("audit:revision_history", args=[session.pk, "E1001"]),
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert "<html" not in page
    assert "First calculated" in page


def test_it_answers_404_for_an_unknown_employee_or_engagement(
    client, operator, outsider, make_session
):
    session = make_session()
    client.force_login(operator)
    assert (
        client.get(reverse("audit:revision_history", args=[session.pk, "NOPE"])).status_code == 404
    )
    client.force_login(outsider)
    url = reverse("audit:revision_history", args=[session.pk, "E1001"])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 405


def test_the_revision_diff_reads_amounts_with_the_session_currency(
    client, operator, make_session, upload_receipts
):
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    client.force_login(operator)
    response = client.get(reverse("audit:revision_history", args=[session.pk, "E1001"]))
    page = " ".join(response.content.decode().split())
    assert '<td class="old">155.00 USD</td>' in page
    assert '<td class="new">155.75 USD</td>' in page
