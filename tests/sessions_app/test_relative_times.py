"""Relative times ("3 minutes ago") carry the absolute moment with its time zone."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from recalc.models import RecalcJob

pytestmark = pytest.mark.django_db

TIME = re.compile(
    r'<time datetime="([^"]+)" title="(\d{4}-\d\d-\d\d \d\d:\d\d [A-Z+\-0-9]+)">([^<]+)</time>'
)


def test_the_session_page_says_when_in_words_and_as_a_moment(client, operator, make_session):
    session = make_session()
    job = RecalcJob.objects.get(session=session)
    client.force_login(operator)
    page = client.get(reverse("sessions_app:session_detail", args=[session.pk])).content.decode()
    found = TIME.findall(page)
    expected = f"{timezone.localtime(job.finished_at):%Y-%m-%d %H:%M} UTC"
    assert any(
        title == expected and ("ago" in words or "now" in words) for _, title, words in found
    )
    assert "ago</span>" not in page  # no relative time without its moment
