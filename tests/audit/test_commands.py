"""audit_history_check: every history row says who changed the object and why; commands
record their acting user like pages and API do."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sessions_app.models import ProcessingSession
from sessions_app.services import session_close

pytestmark = pytest.mark.django_db


def test_it_passes_when_every_row_names_user_and_reason(make_session, upload_receipts):
    start = timezone.now()  # after the fixtures' factory-made rows
    session = make_session()
    upload_receipts(session, "receipts_2026_10_v2.csv")
    out = StringIO()
    call_command("audit_history_check", "--since", start.isoformat(), stdout=out)
    assert "Every history row names its user and reason." in out.getvalue()


def test_it_lists_rows_changed_outside_the_services(make_session):
    start = timezone.now()
    session = ProcessingSession.objects.get(pk=make_session().pk)
    session.name = "edited by hand"
    session.save()  # no actor, no reason: what a shell session or a stray script leaves
    err = StringIO()
    with pytest.raises(CommandError, match="1 history rows do not say who or why"):
        call_command("audit_history_check", "--since", start.isoformat(), stderr=err)
    assert f"sessions_app.ProcessingSession {session.pk}" in err.getvalue()
    assert "no user and reason" in err.getvalue()
    assert (
        ProcessingSession.history.filter(id=session.pk).count() == 3
    )  # created, completed, the hand edit


def test_it_records_the_actor_of_a_command(make_session, operator, archive):
    session = make_session()
    session_close(session=session, reason="filed", actor=operator)
    start = timezone.now()
    tomorrow = (timezone.localdate() + timezone.timedelta(days=1)).isoformat()
    call_command(
        "archive_sessions", "--closed-before", tomorrow, "--actor", "olivia", stdout=StringIO()
    )
    row = ProcessingSession.history.filter(id=session.pk, history_date__gte=start).get()
    assert row.history_user.username == "olivia"
    assert row.history_change_reason
    call_command("audit_history_check", "--since", start.isoformat(), stdout=StringIO())
