"""Notifications: the header count, the list page, mark as read."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Notification
from audit.services import notification_send
from tests.pages import HTMX

pytestmark = pytest.mark.django_db
URL = reverse("sessions_app:notification_list")


def test_a_finished_job_notifies_its_starter(operator_client: Client, make_session: Any) -> None:
    session = make_session()
    response = operator_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "recalculation completed" in html
    assert f'href="/sessions/{session.pk}/"' in html
    assert 'aria-label="1 unread"' in html


def test_it_marks_one_notification_read(operator_client: Client, operator: Any) -> None:
    notification = notification_send(user=operator, message="Job 7 failed", level="error")
    url = reverse("sessions_app:notification_read", args=[notification.pk])
    response = operator_client.post(url, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="notification-{notification.pk}"')
    assert "Mark as read" not in html
    notification.refresh_from_db()
    assert notification.read_at is not None
    page = operator_client.get(URL).content.decode()
    assert 'aria-label="1 unread"' not in page


def test_it_marks_everything_read(operator_client: Client, operator: Any) -> None:
    for n in range(3):
        notification_send(user=operator, message=f"Job {n} done")
    response = operator_client.post(reverse("sessions_app:notification_read_all"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=operator, read_at__isnull=True).exists()


def test_it_answers_htmx_with_the_list_only(operator_client: Client, operator: Any) -> None:
    notification_send(user=operator, message="Job 1 done")
    html = operator_client.get(URL, headers={**HTMX, "HX-Target": "notifications"}).content
    assert b"<html" not in html
    assert html.decode().lstrip().startswith('<section id="notifications"')


def test_it_never_shows_or_marks_another_users_notification(
    client: Client, outsider: Any, operator: Any
) -> None:
    notification = notification_send(user=operator, message="Session secret done")
    client.force_login(outsider)
    assert b"Session secret done" not in client.get(URL).content
    url = reverse("sessions_app:notification_read", args=[notification.pk])
    assert client.post(url).status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_it_refuses_other_methods(operator_client: Client, operator: Any) -> None:
    notification = notification_send(user=operator, message="x")
    assert operator_client.post(URL).status_code == 405
    url = reverse("sessions_app:notification_read", args=[notification.pk])
    assert operator_client.get(url).status_code == 405
    assert operator_client.get(reverse("sessions_app:notification_read_all")).status_code == 405
