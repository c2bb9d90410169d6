from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from audit.models import ActivityEvent
from exports.models import ExportBatch
from exports.services import export_batch_create, exports_bulk_create
from sessions_app.services import session_close
from tests.factories import EngagementFactory

pytestmark = pytest.mark.django_db


def test_it_exports_several_sessions_into_one_zip_reporting_each_failure(
    make_session, operator, engagement
):
    ready = make_session(name="October A")
    closed = make_session(name="October B", engagement=EngagementFactory(slug="b", name="B"))
    session_close(session=closed, reason="done", actor=operator)
    exported = make_session(name="October C")
    export_batch_create(session=exported, export_type="pvault", actor=operator)

    result = exports_bulk_create(sessions=[ready, closed, exported], actor=operator)

    assert [(r["session_id"], r["ok"], r["code"]) for r in result.results] == [
        (ready.pk, True, None),
        (closed.pk, False, "session_closed"),
        (exported.pk, False, "nothing_to_export"),
    ]
    batch = ExportBatch.objects.get(session=ready)
    assert result.results[0]["batch_code"] == batch.batch_code == "PV-2026-10-002"
    archive = zipfile.ZipFile(io.BytesIO(result.zip_bytes))
    assert archive.namelist() == ["PV-2026-10-002.csv", "manifest.csv", "manifest.json"]
    data = archive.read("PV-2026-10-002.csv")
    assert hashlib.sha256(data).hexdigest() == batch.sha256
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [row["session"] for row in manifest] == ["October A", "October B", "October C"]
    assert manifest[0]["batch_code"] == "PV-2026-10-002"
    assert manifest[0]["employee_count"] == "4" and manifest[0]["total_amount"] == "1484.75"
    assert manifest[0]["sha256"] == batch.sha256 and manifest[0]["error"] == ""
    assert "closed" in manifest[1]["error"] and manifest[1]["batch_code"] == ""
    event = ActivityEvent.objects.get(verb="bulk_export")
    assert "1 exported, 2 failed" in event.message


def test_it_bulk_exports_exception_reports_too(make_session, operator):
    session = make_session()

    result = exports_bulk_create(sessions=[session], export_type="exceptions", actor=operator)

    assert result.results[0]["batch_code"] == "EX-2026-10-001"
    assert zipfile.ZipFile(io.BytesIO(result.zip_bytes)).namelist()[0] == "EX-2026-10-001.csv"


def test_it_verifies_every_stored_export_file(make_session, operator):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    export_batch_create(session=session, export_type="exceptions", actor=operator)
    out = io.StringIO()

    call_command("verify_exports", stdout=out)

    assert "All 2 export files verified." in out.getvalue()


def test_it_fails_verification_for_an_altered_or_missing_file(make_session, operator):
    session = make_session()
    altered, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    lost, _ = export_batch_create(session=session, export_type="exceptions", actor=operator)
    with open(default_storage.path(altered.file.name), "ab") as handle:
        handle.write(b"PV-2026-10-001,E6666,Mallory,1.00\r\n")
    default_storage.delete(lost.file.name)
    err = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("verify_exports", stderr=err)

    assert failed.value.returncode == 1
    assert "2 of 2 export files failed verification (1 missing, 1 altered)" in str(failed.value)
    assert "MISMATCH PV-2026-10-001" in err.getvalue()
    assert "MISSING EX-2026-10-001" in err.getvalue()


def test_it_verifies_one_session_when_asked(make_session, operator):
    first = make_session()
    other = make_session(engagement=EngagementFactory(slug="o", name="O"))
    broken, _ = export_batch_create(session=other, export_type="pvault", actor=operator)
    export_batch_create(session=first, export_type="pvault", actor=operator)
    default_storage.delete(broken.file.name)
    out = io.StringIO()

    call_command("verify_exports", session=first.pk, stdout=out)

    assert "All 1 export files verified." in out.getvalue()
