"""manage.py archive_sessions and restore_session, as an operator runs them from a shell."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import ActivityEvent
from sessions_app.models import CardTransaction, ProcessingSession, ReceiptLine
from tests.sessions_app.test_archive import (
    archive_files,
    close,
    line_snapshot,
)

pytestmark = pytest.mark.django_db

TOMORROW = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()


@pytest.fixture
def two_closed_sessions(make_session, operator) -> list[ProcessingSession]:
    return [
        close(make_session(name="October 2026"), operator),
        close(make_session(name="October 2026 (rerun)"), operator),
    ]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_archives_and_prints_a_summary_table(two_closed_sessions, archive):
    out, err = run("archive_sessions", "--closed-before", TOMORROW)

    assert "Archive summary" in out
    for heading in ("Session", "Rows", "Bytes before", "Bytes after", "Ratio"):
        assert heading in out
    assert f"#{two_closed_sessions[0].pk} October 2026" in out
    assert "2 of 2 sessions" in out and "40" in out  # 2 x (12 card + 8 receipt lines)
    assert "Lines" in err  # the progress bar
    assert not CardTransaction.objects.exists() and not ReceiptLine.objects.exists()
    assert ActivityEvent.objects.filter(verb="session_archived").count() == 2


def test_it_changes_nothing_on_a_dry_run(two_closed_sessions, archive):
    out, _ = run("archive_sessions", "--closed-before", TOMORROW, "--dry-run")

    assert "dry run: nothing changed" in out and "would archive" in out
    assert CardTransaction.objects.count() == 24
    assert archive_files(Path(archive.location)) == []
    assert not ProcessingSession.objects.filter(archived_at__isnull=False).exists()


def test_it_leaves_sessions_closed_on_or_after_the_date(two_closed_sessions, archive):
    today = datetime.date.today().isoformat()

    out, _ = run("archive_sessions", "--closed-before", today)

    assert "left to archive" in out
    assert CardTransaction.objects.count() == 24


def test_it_archives_only_the_engagement_named(
    two_closed_sessions, make_session, outsider, archive
):
    from sessions_app.models import Engagement

    other = make_session(name="Other October", engagement=Engagement.objects.get(slug="other-co"))
    close(other, outsider)

    out, _ = run("archive_sessions", "--closed-before", TOMORROW, "--engagement", "other-co")

    assert "Other October" in out and "1 of 1 sessions" in out
    assert CardTransaction.objects.filter(session__engagement__slug="acme-corp").count() == 24


def test_it_exits_non_zero_and_says_which_session_failed_and_why(two_closed_sessions, archive):
    broken = two_closed_sessions[1]
    default_storage.delete(broken.card_file.name)

    with pytest.raises(CommandError, match="1 session\\(s\\) could not be archived") as error:
        run("archive_sessions", "--closed-before", TOMORROW)

    assert error.value.returncode == 1
    assert f"#{broken.pk}" in str(error.value) and "missing from storage" in str(error.value)
    assert CardTransaction.objects.filter(session=broken).count() == 12
    assert not CardTransaction.objects.filter(session=two_closed_sessions[0]).exists()


def test_it_says_when_there_is_no_such_engagement(archive):
    with pytest.raises(CommandError, match="No engagement with the slug 'nope'"):
        run("archive_sessions", "--closed-before", TOMORROW, "--engagement", "nope")


def test_it_refuses_a_date_it_cannot_read(archive):
    with pytest.raises(CommandError, match="2026-01-31"):
        run("archive_sessions", "--closed-before", "31/01/2026")


def test_it_restores_a_session_and_says_so(two_closed_sessions, archive, operator):
    session = two_closed_sessions[0]
    before = line_snapshot(session)
    run("archive_sessions", "--closed-before", TOMORROW)

    out, _ = run("restore_session", str(session.pk), "--actor", operator.username)

    assert f"Restored 20 lines of session '{session.name}'" in out
    assert line_snapshot(session) == before
    event = ActivityEvent.objects.get(verb="session_restored")
    assert event.actor == operator


def test_it_restores_twice_without_changing_anything(two_closed_sessions, archive):
    session = two_closed_sessions[0]
    run("archive_sessions", "--closed-before", TOMORROW)
    run("restore_session", str(session.pk))
    before = line_snapshot(session)

    out, _ = run("restore_session", str(session.pk))

    assert "is not archived" in out and "Nothing to restore" in out
    assert line_snapshot(session) == before


def test_it_reports_a_corrupted_archive_and_restores_nothing(two_closed_sessions, archive):
    session = two_closed_sessions[0]
    run("archive_sessions", "--closed-before", TOMORROW)
    session.refresh_from_db()
    target = Path(archive.location) / session.archive_location / "receipt_lines.jsonl.gz"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="does not match its manifest"):
        run("restore_session", str(session.pk))

    assert not ReceiptLine.objects.filter(session=session).exists()
    assert not CardTransaction.objects.filter(session=session).exists()


def test_it_says_when_there_is_no_such_session(archive):
    with pytest.raises(CommandError, match="No session with id 424242"):
        run("restore_session", "424242")


def test_it_configures_s3_archive_storage_from_the_environment():
    env = {
        **os.environ,
        "ARCHIVE_S3_BUCKET": "closebook-archive-test",
        "ARCHIVE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "ARCHIVE_S3_PREFIX": "acme",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    script = (
        "import django; django.setup();"
        "from django.core.files.storage import storages;"
        "s = storages['archive'];"
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.location)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert done.stdout.split() == [
        "S3Storage",
        "closebook-archive-test",
        "http://127.0.0.1:9000",
        "acme",
    ]
