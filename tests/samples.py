"""The sample files in tests/fixtures and what the app makes of them: one definition of each
expected table, shared by the service, API and worker tests."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from sessions_app.models import EmployeeRevision, ProcessingSession

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORRECTED = "car_2026_10_corrected.csv"  # the card statement with the bank's corrections

# The samples' card statement against receipts v1 (tolerance 1.00):
# {employee id: (car amount, receipt amount, status)}.
AFTER_V1 = {
    "E1001": ("155.75", "155.00", "matched"),
    "E1002": ("1205.00", "1205.00", "matched"),
    "E1003": ("89.99", "80.00", "missing_receipts"),
    "E1004": ("512.30", "300.00", "missing_receipts"),
    "E1005": ("64.00", "64.00", "matched"),
    "E1006": ("999.99", "0.00", "missing_receipts"),
    "E1007": ("60.00", "60.00", "matched"),
    "E1008": ("0.00", "25.00", "no_card_activity"),
}


def fixture_file(name: str) -> SimpleUploadedFile:
    """A sample file as an upload."""
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes())


def results(session: ProcessingSession) -> dict[str, tuple[str, str, str]]:
    """The session's employee table in the shape of `AFTER_V1`."""
    return {
        rev.employee_id: (str(rev.car_amount), str(rev.receipt_amount), rev.status)
        for rev in EmployeeRevision.objects.filter(session=session)
    }
