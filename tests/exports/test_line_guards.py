"""Export lines keep pointing at a real batch and previous batch, and revisions at the batch
holding their export snapshot: the set-based guards that replace those per-row foreign keys
(migrations exports/0006_line_reference_guards and
sessions_app/0005_revision_last_export_batch_guard) refuse what a foreign key would."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from exports.models import ExportBatch, ExportLine
from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision

pytestmark = pytest.mark.django_db


@pytest.fixture
def exported(make_session: Any, operator: Any) -> ExportBatch:
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    return batch


def line_copy(line: ExportLine, **changes: Any) -> ExportLine:
    line.pk = None
    line.employee_id = f"{line.employee_id}-copy"
    for name, value in changes.items():
        setattr(line, name, value)
    return line


def test_it_stores_the_lines_of_an_export_with_their_references(exported):
    lines = ExportLine.objects.filter(batch=exported)

    assert lines.count() == exported.employee_count > 0
    assert {line.revision.session_id for line in lines} == {exported.session_id}


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("batch_id", "refers to a batch that does not exist"),
        ("previous_batch_id", "refers to a previous batch that does not exist"),
    ],
)
def test_it_refuses_a_line_referring_to_a_missing_row(exported, reference, message):
    line = line_copy(ExportLine.objects.filter(batch=exported).first(), **{reference: 10**9})
    before = ExportLine.objects.count()

    with pytest.raises(IntegrityError, match=message), transaction.atomic():
        ExportLine.objects.bulk_create([line])

    assert ExportLine.objects.count() == before


def test_it_refuses_to_point_a_stored_line_at_a_missing_batch(exported):
    line = ExportLine.objects.filter(batch=exported).first()

    refused = pytest.raises(IntegrityError, match="refers to a batch that does not exist")
    with refused, transaction.atomic():
        ExportLine.objects.filter(pk=line.pk).update(batch_id=10**9)

    assert ExportLine.objects.get(pk=line.pk).batch_id == exported.pk


def test_it_refuses_to_point_revisions_at_a_missing_batch(exported):
    revisions = EmployeeRevision.objects.filter(last_export_batch=exported)
    moved = revisions.count()

    refused = pytest.raises(IntegrityError, match="refers to an export batch that does not")
    with refused, transaction.atomic():
        revisions.update(last_export_batch_id=10**9)

    assert EmployeeRevision.objects.filter(last_export_batch=exported).count() == moved > 0


@pytest.mark.usefixtures("postgres_only")
def test_it_refuses_to_delete_a_batch_that_lines_refer_to(exported):
    refused = pytest.raises(IntegrityError, match="exports_exportline still refer to")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        # Around the ORM, whose PROTECT would refuse first.
        cursor.execute("DELETE FROM exports_exportbatch WHERE id = %s", [exported.pk])

    assert ExportBatch.objects.filter(pk=exported.pk).exists()


@pytest.mark.usefixtures("postgres_only")
def test_it_refuses_to_delete_a_batch_a_line_names_as_the_one_it_replaced(exported, operator):
    session = exported.session
    EmployeeRevision.objects.filter(session=session).update(car_amount=1)
    later, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    assert later.lines.filter(previous_batch=exported).exists()

    refused = pytest.raises(IntegrityError, match="exports_exportline still refer to")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM exports_exportline WHERE batch_id = %s", [exported.pk])
        cursor.execute("DELETE FROM exports_exportbatch WHERE id = %s", [exported.pk])

    assert ExportBatch.objects.filter(pk=exported.pk).exists()


@pytest.mark.usefixtures("postgres_only")
def test_it_refuses_to_delete_a_batch_that_holds_revisions_export_snapshots(exported):
    refused = pytest.raises(IntegrityError, match="employeerevision still refer to")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM exports_exportline WHERE batch_id = %s", [exported.pk])
        cursor.execute("DELETE FROM exports_exportbatch WHERE id = %s", [exported.pk])

    assert ExportBatch.objects.filter(pk=exported.pk).exists()
