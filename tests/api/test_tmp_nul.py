import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from tests.conftest import FIXTURES
pytestmark = pytest.mark.django_db

def test_nul(api, session, on_commit):
    f = SimpleUploadedFile("we\x00ird.csv", (FIXTURES / "receipts_2026_10_v2.csv").read_bytes())
    with on_commit():
        r = api.post(f"/api/v1/sessions/{session.pk}/receipts/", {"file": f}, format="multipart")
    print(r.status_code, r.json())
