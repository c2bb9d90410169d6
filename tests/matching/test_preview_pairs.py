"""A receipts upload with a preview shows the pairs it would change before it is applied
(SPEC §7, §14)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from matching.selectors import employee_lines
from recalc.models import RecalcJob

pytestmark = pytest.mark.django_db


def test_a_preview_lists_the_pairs_it_would_change_and_changes_none(
    make_session, upload_receipts, operator
):
    session = make_session()
    before = employee_lines(session=session, employee_id="E1001")

    version = upload_receipts(session, "receipts_2026_10_v2.csv", preview=True)

    job = RecalcJob.objects.get(receipt_version=version)
    assert job.status == RecalcJob.Status.AWAITING_CONFIRMATION
    alice = next(row for row in job.diff["pairs"] if row["employee_id"] == "E1001")
    assert alice["pairs_added"] == [
        "2026-10-05 HILTON GARDEN INN 35.25 ↔ 2026-10-05 R-5002 35.25 (same_day)"
    ]
    assert alice["pairs_removed"] == []
    assert (alice["unmatched_charges_before"], alice["unmatched_charges_after"]) == (1, 0)
    assert all(row["employee_id"] != "E1002" for row in job.diff["pairs"])  # unchanged
    assert employee_lines(session=session, employee_id="E1001") == before

    client = APIClient()
    client.force_authenticate(operator)
    diff = client.get(f"/api/v1/jobs/{job.pk}/diff/").json()
    assert alice in diff["pairs"]
