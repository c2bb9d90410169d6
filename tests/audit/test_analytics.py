"""Analytics (SPEC §11) on a small fixture whose figures were computed by hand: the page,
its CSV downloads, and GET /api/v1/analytics/sessions/ agree with them."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.analytics import session_analytics
from audit.charts import distinct_labels
from audit.models import ActivityEvent
from exports.models import ExportBatch, ExportLine
from sessions_app.models import Engagement, ProcessingSession
from tests.factories import EmployeeRevisionFactory, ProcessingSessionFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
S = EmployeeRevisionFactory._meta.model.Status


def at(day: str, hour: int = 0) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _session(engagement: Any, name: str, created: datetime.datetime, status: str, **kw: Any):
    statuses = kw.pop("statuses", [])
    session = ProcessingSessionFactory(engagement=engagement, name=name, status=status, **kw)
    ProcessingSession.objects.filter(pk=session.pk).update(created_at=created)
    for index, employee_status in enumerate(statuses):
        EmployeeRevisionFactory(
            session=session,
            employee_id=f"E{index}",
            status=employee_status,
            resolution_note="accepted" if employee_status == S.RESOLVED else "",
        )
    session.refresh_from_db()
    return session


def _batch(session: Any, code: str, created: datetime.datetime, **fields: Any) -> ExportBatch:
    adjustments = fields.pop("adjustments", [])
    batch = ExportBatch.objects.create(
        session=session,
        batch_code=code,
        period=code[3:10],
        sequence=int(code[-3:]),
        **fields,
    )
    ExportBatch.objects.filter(pk=batch.pk).update(created_at=created)
    revisions = list(session.revisions.order_by("employee_id"))
    for revision, adjustment in zip(revisions, adjustments, strict=False):
        ExportLine.objects.create(
            batch=batch,
            revision=revision,
            employee_id=revision.employee_id,
            car_amount=adjustment,
            receipt_amount=adjustment,
            status=revision.status,
            adjustment_amount=adjustment,
        )
    return batch


def _event(verb: str, actor: Any, engagement: Any, when: datetime.datetime) -> None:
    event = ActivityEvent.objects.create(
        verb=verb,
        message=verb,
        actor=actor,
        actor_label=actor.username if actor else "system",
        engagement=engagement,
    )
    ActivityEvent.objects.filter(pk=event.pk).update(occurred_at=when)


@pytest.fixture
def figures_fixture(engagement: Any, operator: Any, viewer: Any, outsider: Any) -> dict[str, Any]:
    other = Engagement.objects.get(slug="other-co")
    s1 = _session(
        engagement,
        "September",
        at("2026-10-05", 10),
        "completed",
        statuses=[S.MATCHED, S.MATCHED, S.MATCHED, S.MISSING_RECEIPTS],
    )
    s2 = _session(
        engagement,
        "October",
        at("2026-11-02", 9),
        "closed",
        closed_at=at("2026-11-10"),
        statuses=[S.MATCHED, S.MATCHED, S.RESOLVED, S.EXCESS_RECEIPTS, S.NO_CARD_ACTIVITY],
    )
    _session(engagement, "November", at("2026-11-20", 8), "processing")
    s4 = _session(
        other,
        "Other October",
        at("2026-11-03"),
        "failed",
        statuses=[S.MISSING_RECEIPTS, S.MISSING_RECEIPTS],
    )
    pvault, exceptions = ExportBatch.ExportType.PVAULT, ExportBatch.ExportType.EXCEPTIONS
    _batch(
        s1,
        "PV-2026-09-001",
        at("2026-10-06", 16),
        export_type=pvault,
        employee_count=3,
        total_amount=Decimal("1000.50"),
        adjustments=[Decimal("600.25"), Decimal("400.25")],
    )
    _batch(
        s1,
        "EX-2026-09-001",
        at("2026-10-07"),
        export_type=exceptions,
        employee_count=1,
        total_amount=Decimal("89.99"),
    )
    _batch(
        s2,
        "PV-2026-10-001",
        at("2026-11-03", 12),
        export_type=pvault,
        employee_count=3,
        total_amount=Decimal("2500.00"),
        adjustments=[Decimal("2500.00")],
    )
    _batch(
        s2,
        "PV-2026-10-002",
        at("2026-11-04"),
        export_type=pvault,
        employee_count=1,
        total_amount=Decimal("100.00"),
        status="void",
        void_reason="sent twice",
        adjustments=[Decimal("100.00")],
    )
    _batch(
        s4,
        "PV-2026-10-003",
        at("2026-11-05"),
        export_type=pvault,
        employee_count=1,
        total_amount=Decimal("50.00"),
        adjustments=[Decimal("50.00")],
    )
    _event("session_created", operator, engagement, at("2026-10-05", 10))
    _event("session_created", operator, engagement, at("2026-11-02", 9))
    _event("export_generated", operator, engagement, at("2026-11-03", 12))
    _event("employee_resolved", operator, engagement, at("2026-11-03", 13))
    _event("receipts_uploaded", viewer, engagement, at("2026-11-04"))
    _event("job_finished", None, engagement, at("2026-11-04"))
    _event("session_created", outsider, other, at("2026-11-03"))
    return {"engagement": engagement, "other": other}


def _status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {row["status"]: row["count"] for row in rows if row["count"]}


def test_it_computes_the_operators_figures_by_hand(figures_fixture):
    result = session_analytics(engagements=Engagement.objects.filter(slug="acme-corp"))

    assert _status_counts(result.sessions_by_status) == {
        "completed": 1,
        "closed": 1,
        "processing": 1,
    }
    assert (result.exception_rate["employees"], result.exception_rate["exceptions"]) == (9, 3)
    assert result.exception_rate["rate_percent"] == Decimal("33.3")
    assert [row["rate_percent"] for row in result.exception_rate["sessions"]] == [
        Decimal("25.0"),
        Decimal("40.0"),
        Decimal("0.0"),
    ]
    assert result.exports_per_week == [
        {
            "week_start": datetime.date(2026, 10, 5),
            "pvault_batches": 1,
            "exceptions_batches": 1,
            "void_batches": 0,
            "employees_exported": 3,
            "amount_exported": Decimal("1000.50"),
            "gross_amount_exported": Decimal("1000.50"),
        },
        {
            "week_start": datetime.date(2026, 11, 2),
            "pvault_batches": 2,
            "exceptions_batches": 0,
            "void_batches": 1,
            "employees_exported": 3,
            "amount_exported": Decimal("2500.00"),
            "gross_amount_exported": Decimal("2500.00"),
        },
    ]
    first = result.time_to_first_export
    assert [row["hours"] for row in first["sessions"]] == [Decimal("30.0"), Decimal("27.0"), None]
    assert (first["exported_sessions"], first["not_exported"]) == (2, 1)
    assert (first["average_hours"], first["median_hours"], first["max_hours"]) == (
        Decimal("28.5"),
        Decimal("28.5"),
        Decimal("30.0"),
    )
    activity = {row["username"]: row for row in result.operator_activity}
    assert set(activity) == {"olivia", "victor"}
    assert activity["olivia"]["events"] == 4
    assert activity["olivia"]["sessions_created"] == 2
    assert activity["olivia"]["exports_generated"] == 1
    assert activity["olivia"]["employees_resolved"] == 1
    assert activity["victor"]["receipts_uploaded"] == 1


def test_it_limits_every_figure_to_the_date_range(figures_fixture):
    result = session_analytics(
        engagements=Engagement.objects.filter(slug="acme-corp"),
        date_from=datetime.date(2026, 11, 1),
        date_to=datetime.date(2026, 11, 30),
    )
    assert _status_counts(result.sessions_by_status) == {"closed": 1, "processing": 1}
    assert result.exception_rate["rate_percent"] == Decimal("40.0")
    assert [row["week_start"] for row in result.exports_per_week] == [datetime.date(2026, 11, 2)]
    assert result.time_to_first_export["median_hours"] == Decimal("27.0")
    assert {row["username"]: row["events"] for row in result.operator_activity} == {
        "olivia": 3,
        "victor": 1,
    }


def test_it_adds_every_engagement_up_for_staff(figures_fixture):
    result = session_analytics(engagements=Engagement.objects.all())
    assert _status_counts(result.sessions_by_status)["failed"] == 1
    assert result.exception_rate["rate_percent"] == Decimal("45.5")  # 5 of 11
    november = result.exports_per_week[-1]
    assert (november["pvault_batches"], november["amount_exported"]) == (3, Decimal("2550.00"))
    assert result.time_to_first_export["average_hours"] == Decimal("35.0")
    assert result.time_to_first_export["max_hours"] == Decimal("48.0")


# --- The page -------------------------------------------------------------------------------


def test_it_draws_the_figures_as_server_side_svg(client, operator, figures_fixture):
    client.force_login(operator)
    response = client.get(reverse("audit:analytics"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<svg") == 4
    assert '<figure class="chart" id="chart-exports">' in page
    assert "1,000.50" in page and "2,500.00" in page
    assert "33.3%" in page
    assert "Other October" not in page  # not the operator's engagement
    assert "<script" not in page.split("<main", 1)[1]  # no JS charting library


def test_it_answers_htmx_with_the_figures_fragment(client, operator, figures_fixture):
    client.force_login(operator)
    response = client.get(
        reverse("audit:analytics"),
        {"date_from": "2026-11-01", "date_to": "2026-11-30"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<section id="analytics">')
    assert "40.0%" in page


def test_it_lets_staff_see_every_engagement(client, figures_fixture):
    admin = UserFactory(username="ada", is_staff=True)
    client.force_login(admin)
    page = client.get(reverse("audit:analytics")).content.decode()
    assert "Other October" in page
    assert "45.5%" in page


def test_it_keeps_analytics_from_viewers_and_other_engagements(
    client, viewer, outsider, figures_fixture
):
    client.force_login(viewer)
    assert client.get(reverse("audit:analytics")).status_code == 403
    client.force_login(outsider)
    assert client.get(reverse("audit:analytics"), {"engagement": "acme-corp"}).status_code == 404
    assert client.post(reverse("audit:analytics")).status_code == 405


@pytest.mark.parametrize(
    ("table", "first_row"),
    [
        ("sessions-by-status", ["processing", "1"]),
        ("exception-rate", None),
        ("exports-per-week", ["2026-10-05", "1", "1", "0", "3", "1000.50", "1000.50"]),
        ("time-to-first-export", None),
        ("operator-activity", None),
    ],
)
def test_it_downloads_every_table_as_csv_that_parses(
    client, operator, figures_fixture, table, first_row
):
    client.force_login(operator)
    response = client.get(reverse("audit:analytics_csv", args=[table]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2
    assert all(len(row) == len(rows[0]) for row in rows)
    if first_row:
        assert rows[1] == first_row


def test_it_puts_the_same_numbers_in_the_csv_as_on_the_page(client, operator, figures_fixture):
    client.force_login(operator)
    response = client.get(reverse("audit:analytics_csv", args=["exception-rate"]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["session"], row["rate_percent"]) for row in rows] == [
        ("September", "25.0"),
        ("October", "40.0"),
        ("November", "0.0"),
        ("All sessions", "33.3"),
    ]
    activity = client.get(
        reverse("audit:analytics_csv", args=["operator-activity"]), {"date_from": "2026-11-01"}
    )
    by_user = {
        row["username"]: row for row in csv.DictReader(io.StringIO(activity.content.decode()))
    }
    assert by_user["olivia"]["events"] == "3"


def test_it_answers_404_for_an_unknown_table(client, operator, figures_fixture):
    client.force_login(operator)
    assert client.get(reverse("audit:analytics_csv", args=["salaries"])).status_code == 404


# --- The API ----------------------------------------------------------------------------------


def _api(user: Any) -> APIClient:
    api = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


def test_it_serves_the_same_figures_at_the_api(figures_fixture):
    admin = UserFactory(username="ada", is_staff=True)
    response = _api(admin).get(
        "/api/v1/analytics/sessions/", {"date_from": "2026-10-01", "date_to": "2026-12-31"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["date_from"] == "2026-10-01"
    assert body["exception_rate"]["rate_percent"] == "45.5"
    assert {row["status"]: row["count"] for row in body["sessions_by_status"]}["failed"] == 1
    assert body["exports_per_week"][0] == {
        "week_start": "2026-10-05",
        "pvault_batches": 1,
        "exceptions_batches": 1,
        "void_batches": 0,
        "employees_exported": 3,
        "amount_exported": "1000.50",
        "gross_amount_exported": "1000.50",
    }
    assert body["time_to_first_export"]["average_hours"] == "35.0"
    assert {row["username"] for row in body["operator_activity"]} == {"olivia", "victor", "mallory"}


def test_it_keeps_the_api_for_staff(operator, figures_fixture):
    response = _api(operator).get("/api/v1/analytics/sessions/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert APIClient().get("/api/v1/analytics/sessions/").status_code == 401


def test_it_rejects_a_backwards_range_at_the_api(figures_fixture):
    admin = UserFactory(username="ada", is_staff=True)
    response = _api(admin).get(
        "/api/v1/analytics/sessions/", {"date_from": "2026-12-01", "date_to": "2026-11-01"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "date_to" in response.json()["error"]["details"]


def test_it_computes_the_page_in_a_fixed_number_of_queries(
    client, operator, figures_fixture, django_assert_max_num_queries
):
    client.force_login(operator)
    client.get(reverse("audit:analytics"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("audit:analytics"), headers={"HX-Request": "true"})
    assert response.status_code == 200


def test_it_counts_a_changed_employee_by_its_adjustment_not_its_full_amount(
    client, operator, engagement
):
    """A week never shows more than was sent net: a changed employee re-sent at 300.00
    whose earlier 250.00 stood moves pVault by 50.00."""
    session = _session(engagement, "December", at("2026-12-01"), "completed", statuses=[S.MATCHED])
    _batch(
        session,
        "PV-2026-12-002",
        at("2026-12-08", 10),
        export_type=ExportBatch.ExportType.PVAULT,
        employee_count=1,
        total_amount=Decimal("1300.00"),
        adjustments=[Decimal("1050.00")],
    )
    week = session_analytics(engagements=Engagement.objects.filter(pk=engagement.pk))
    row = week.exports_per_week[-1]
    assert (row["amount_exported"], row["gross_amount_exported"]) == (
        Decimal("1050.00"),
        Decimal("1300.00"),
    )
    client.force_login(operator)
    page = client.get(reverse("audit:analytics")).content.decode()
    chart = page.split('id="chart-exports"', 1)[1].split("</figure>", 1)[0]
    assert "1,050.00" in chart and "1,300.00" not in chart
    assert "Gross: card amounts of the employees sent" in page


def test_it_labels_every_bar_distinctly(client, operator, engagement):
    for name in ("October 2026 card run", "October 2026 card rerun"):
        _session(engagement, name, at("2026-10-05"), "completed", statuses=[S.MATCHED])
    client.force_login(operator)
    page = client.get(reverse("audit:analytics")).content.decode()
    chart = page.split('id="chart-exceptions"', 1)[1].split("</figure>", 1)[0]
    labels = re.findall(r'class="label">([^<]+)<', chart)
    assert len(labels) == 2 and len(set(labels)) == 2


def test_distinct_labels_keep_short_labels_and_number_the_collisions():
    assert distinct_labels(["Mar", "October 2026 A", "October 2026 B"], width=8) == [
        "Mar",
        "Octob…#1",
        "Octob…#2",
    ]
