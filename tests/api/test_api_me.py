"""/api/v1/me/, /api/v1/sessions/{id}/switch/ and /api/v1/engagements/{slug}/import-profiles/."""

from __future__ import annotations

from typing import Any

import pytest

from sessions_app.models import ImportProfile, Membership
from sessions_app.services import import_profile_save, membership_grant
from tests.factories import EngagementFactory, ProcessingSessionFactory

pytestmark = pytest.mark.django_db


def test_it_describes_the_user_their_engagements_and_current_session(
    api: Any, operator: Any, engagement: Any
) -> None:
    second = EngagementFactory(name="Beta Ltd", slug="beta-ltd")
    membership_grant(engagement=second, user=operator, role=Membership.Role.VIEWER)

    response = api.get("/api/v1/me/")

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "olivia"
    assert body["user"]["is_staff"] is False
    assert body["engagements"] == [
        {"id": engagement.pk, "slug": "acme-corp", "name": "Acme Corp", "role": "operator"},
        {"id": second.pk, "slug": "beta-ltd", "name": "Beta Ltd", "role": "viewer"},
    ]
    assert body["default_engagement"] == "beta-ltd"  # the first one granted through the service
    assert body["current_session"] is None


def test_it_switches_the_current_session(viewer_api: Any, engagement: Any) -> None:
    session = ProcessingSessionFactory(engagement=engagement, name="November 2026")

    response = viewer_api.post(f"/api/v1/sessions/{session.pk}/switch/")

    assert response.status_code == 200
    assert response.json()["current_session"] == {
        "id": session.pk,
        "name": "November 2026",
        "engagement": "acme-corp",
        "status": "completed",
    }
    assert viewer_api.get("/api/v1/me/").json()["current_session"]["id"] == session.pk
    assert viewer_api.get("/api/v1/me/").json()["default_engagement"] == "acme-corp"


def test_it_refuses_to_switch_to_another_engagements_session(
    outsider_api: Any, engagement: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)

    response = outsider_api.post(f"/api/v1/sessions/{session.pk}/switch/")

    assert response.status_code == 404
    assert outsider_api.get("/api/v1/me/").json()["current_session"] is None


def test_it_forgets_a_current_session_the_user_may_no_longer_see(
    api: Any, operator: Any, engagement: Any
) -> None:
    session = ProcessingSessionFactory(engagement=engagement)
    api.post(f"/api/v1/sessions/{session.pk}/switch/")
    Membership.objects.filter(user=operator).delete()

    assert api.get("/api/v1/me/").json()["current_session"] is None


def test_it_shows_staff_every_engagement(staff_api: Any, engagement: Any) -> None:
    body = staff_api.get("/api/v1/me/").json()

    assert body["user"]["is_staff"] is True
    assert [e["slug"] for e in body["engagements"]] == ["acme-corp"]


# --- Import profiles ------------------------------------------------------------------------------

PROFILE = {
    "name": "Bank of Nowhere",
    "delimiter": ";",
    "encoding": "windows-1252",
    "skip_lines": 2,
    "columns": {"employee_id": "Card No", "amount": "Betrag", "date": "Datum"},
    "decimal_separator": ",",
    "date_format": "dd/mm/yy",
    "charges_negative": True,
}


def profiles_url(slug: str = "acme-corp") -> str:
    return f"/api/v1/engagements/{slug}/import-profiles/"


def test_it_saves_an_import_profile_and_lists_it(api: Any, viewer_api: Any) -> None:
    created = api.post(profiles_url(), PROFILE, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert {key: body[key] for key in PROFILE} == PROFILE
    assert body["created_by"] == "olivia"
    listed = viewer_api.get(profiles_url()).json()
    assert [row["name"] for row in listed["results"]] == ["Bank of Nowhere"]


def test_it_updates_a_profile_of_the_same_name_with_200(api: Any) -> None:
    api.post(profiles_url(), PROFILE, format="json")

    updated = api.post(profiles_url(), {**PROFILE, "delimiter": "tab"}, format="json")

    assert updated.status_code == 200
    assert updated.json()["delimiter"] == "\t"
    assert ImportProfile.objects.count() == 1


def test_it_refuses_a_profile_the_parser_could_not_use(api: Any) -> None:
    response = api.post(
        profiles_url(),
        {"name": "Bad", "delimiter": "#", "columns": {"card_holder": "X"}, "encoding": "ebcdic"},
        format="json",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"delimiter", "columns", "encoding"} <= set(error["details"])
    assert ImportProfile.objects.count() == 0


def test_it_needs_a_profile_name(api: Any) -> None:
    response = api.post(profiles_url(), {"delimiter": ","}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_it_keeps_profiles_to_operators_of_the_engagement(
    viewer_api: Any, outsider_api: Any, engagement: Any
) -> None:
    assert viewer_api.post(profiles_url(), PROFILE, format="json").status_code == 403
    assert outsider_api.post(profiles_url(), PROFILE, format="json").status_code == 404
    assert outsider_api.get(profiles_url()).status_code == 404
    assert outsider_api.get(profiles_url("no-such-engagement")).status_code == 404
    assert ImportProfile.objects.count() == 0


@pytest.mark.parametrize("count", [2, 30])
def test_it_lists_profiles_in_a_fixed_number_of_queries(
    api: Any, engagement: Any, operator: Any, count: int, django_assert_max_num_queries: Any
) -> None:
    for number in range(count):
        import_profile_save(engagement=engagement, data={"name": f"P{number}"}, actor=operator)

    with django_assert_max_num_queries(5):
        response = api.get(profiles_url() + "?page_size=100")

    assert response.json()["count"] == count
