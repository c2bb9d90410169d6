from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.models import ExportBatch
from exports.selectors import (
    annotate_change,
    change_summary,
    export_candidates,
    export_history,
    export_preview,
    session_proof,
)
from exports.services import export_batch_create
from sessions_app.models import EmployeeRevision
from tests.factories import EmployeeRevisionFactory, ProcessingSessionFactory, UserFactory

pytestmark = pytest.mark.django_db

STATUSES = [choice for choice, _ in EmployeeRevision.Status.choices]
amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("99999"), places=2).map(
    lambda value: value + Decimal("0.00")
)


@st.composite
def revision_rows(draw: st.DrawFn) -> dict:
    """One employee: amounts, a status, and an export snapshot that is absent, equal to
    the amounts, or different in car or receipt amount."""
    car, receipt = draw(amounts), draw(amounts)
    status = draw(st.sampled_from(STATUSES))
    snapshot = draw(st.sampled_from(["none", "same", "car", "receipt"]))
    other = draw(amounts.filter(lambda value: value not in (car, receipt)))
    exported = {
        "none": (None, None),
        "same": (car, receipt),
        "car": (other, receipt),
        "receipt": (car, other),
    }[snapshot]
    return {
        "car_amount": car,
        "receipt_amount": receipt,
        "status": status,
        "resolution_note": "accepted" if status == "resolved" else "",
        "exported_car_amount": exported[0],
        "exported_receipt_amount": exported[1],
    }


def revisions_for(session, rows: list[dict]) -> list[EmployeeRevision]:
    return EmployeeRevision.objects.bulk_create(
        [
            EmployeeRevision(
                session=session,
                employee_id=f"E{index:04d}",
                employee_name=f"Employee {index}",
                difference=row["receipt_amount"] - row["car_amount"],
                **row,
            )
            for index, row in enumerate(rows)
        ]
    )


class Rollback(Exception):
    """Ends a hypothesis example, undoing everything it wrote."""


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(revision_rows(), max_size=25))
def test_it_summarises_exactly_what_a_delta_export_contains(rows, operator):
    try:
        with transaction.atomic():
            session = ProcessingSessionFactory()
            revisions = revisions_for(session, rows)
            summary = change_summary(session)
            expected = dict.fromkeys(("new", "changed", "unchanged", "not_ready"), 0)
            for rev in revisions:
                expected[rev.change] += 1
            assert {kind: summary[kind] for kind in expected} == expected
            assert summary["total"] == len(rows)

            delta = list(export_candidates(session, export_type="pvault"))
            delta_amount = summary["amounts"]["new"] + summary["amounts"]["changed"]
            assert len(delta) == summary["new"] + summary["changed"]
            assert sum((rev.car_amount for rev in delta), Decimal("0.00")) == delta_amount
            assert {rev.employee_id for rev in delta} == {
                rev.employee_id for rev in revisions if rev.change in ("new", "changed")
            }
            assert all(rev.change_kind == rev.change for rev in delta)
            everything = export_candidates(session, export_type="pvault", delta_only=False)
            assert everything.count() == summary["total"] - summary["not_ready"]
            exceptions = export_candidates(session, export_type="exceptions")
            assert exceptions.count() == summary["not_ready"]

            if delta:
                batch, _ = export_batch_create(
                    session=session, export_type="pvault", actor=operator
                )
                assert batch.employee_count == len(delta)
                assert batch.total_amount == delta_amount
                assert sorted(batch.lines.values_list("employee_id", flat=True)) == sorted(
                    rev.employee_id for rev in delta
                )
                after = change_summary(session)
                assert after["new"] == after["changed"] == 0
                assert after["unchanged"] == summary["unchanged"] + len(delta)
            raise Rollback
    except Rollback:
        pass


def test_it_annotates_the_same_change_as_the_python_definition(db):
    session = ProcessingSessionFactory()
    EmployeeRevisionFactory(session=session, employee_id="NEW")
    EmployeeRevisionFactory(
        session=session,
        employee_id="SAME",
        exported_car_amount=Decimal("100.00"),
        exported_receipt_amount=Decimal("100.00"),
    )
    EmployeeRevisionFactory(
        session=session,
        employee_id="RECEIPTS",
        exported_car_amount=Decimal("100.00"),
        exported_receipt_amount=Decimal("90.00"),
    )
    EmployeeRevisionFactory(session=session, employee_id="SHORT", status="missing_receipts")

    annotated = annotate_change(EmployeeRevision.objects.filter(session=session))

    assert {rev.employee_id: rev.change_kind for rev in annotated} == {
        "NEW": "new",
        "SAME": "unchanged",
        "RECEIPTS": "changed",
        "SHORT": "not_ready",
    }
    assert all(rev.change_kind == rev.change for rev in annotated)
    assert list(annotated.filter(change_kind="changed").values_list("employee_id", flat=True)) == [
        "RECEIPTS"
    ]


@pytest.mark.parametrize("size", [10, 300])
def test_it_summarises_and_selects_in_one_query_whatever_the_size(
    size, django_assert_max_num_queries
):
    session = ProcessingSessionFactory()
    EmployeeRevisionFactory.create_batch(size, session=session)
    EmployeeRevisionFactory.create_batch(size // 2, session=session, status="missing_receipts")

    with django_assert_max_num_queries(1):
        summary = change_summary(session)
    with django_assert_max_num_queries(1):
        candidates = list(export_candidates(session, export_type="pvault"))
    with django_assert_max_num_queries(1):
        exceptions = list(export_candidates(session, export_type="exceptions"))

    assert summary["new"] == len(candidates) == size
    assert summary["not_ready"] == len(exceptions) == size // 2
    assert summary["amounts"]["new"] == Decimal("100.00") * size


def test_it_previews_an_all_export_with_the_batches_employees_went_out_in(
    make_session, upload_receipts, operator
):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")

    delta = export_preview(session, export_type="pvault")
    everything = export_preview(session, export_type="pvault", delta_only=False)

    assert (delta.employee_count, delta.already_exported_count) == (4, 2)
    assert delta.total_amount == Decimal("1758.03")  # 155.75 + 89.99 + 512.30 + 999.99
    assert delta.warnings == []
    assert everything.employee_count == 6
    assert everything.total_amount == Decimal("3023.03")
    assert everything.already_exported_batches == [
        {"batch_code": "PV-2026-10-001", "employee_count": 2}
    ]
    assert everything.warnings[0]["code"] == "already_exported"
    assert "PV-2026-10-001 (2)" in everything.warnings[0]["message"]


def test_it_previews_at_most_the_employee_limit_but_counts_everyone(db):
    session = ProcessingSessionFactory()
    EmployeeRevisionFactory.create_batch(12, session=session)

    preview = export_preview(session, export_type="pvault", employee_limit=5)

    assert len(preview.employees) == 5 and preview.employees_truncated
    assert preview.employee_count == 12 and preview.total_amount == Decimal("1200.00")


def test_it_shows_an_imbalance_loudly_with_the_employees_causing_it(make_session, operator):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    assert session_proof(session).balanced

    # Someone edits a snapshot behind the services' back.
    EmployeeRevision.objects.filter(employee_id="E1002").update(
        exported_car_amount=Decimal("1200.00")
    )
    proof = session_proof(session)

    assert not proof.balanced
    assert proof.difference == Decimal("-5.00")
    assert proof.offending_employees == ["E1002"]


def test_it_lists_export_history_newest_first_in_one_query(
    make_session, operator, django_assert_max_num_queries
):
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    export_batch_create(session=session, export_type="exceptions", actor=operator)

    with django_assert_max_num_queries(1):
        rows = [(batch.batch_code, batch.exported_by.username) for batch in export_history(session)]

    assert rows == [("EX-2026-10-001", "olivia"), ("PV-2026-10-001", "olivia")]
    assert ExportBatch.objects.count() == 2


def test_it_records_who_exported_even_for_a_user_without_membership(make_session):
    session = make_session()
    staff = UserFactory(username="stella", is_staff=True)

    batch, _ = export_batch_create(session=session, export_type="pvault", actor=staff)

    assert batch.exported_by == staff
