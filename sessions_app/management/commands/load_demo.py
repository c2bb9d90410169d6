"""load_demo: a demo engagement, an operator, an admin and sessions built from the sample
files, through the same services operators use. Running it twice changes nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand

from recalc.models import RecalcJob
from recalc.services import recalc_job_run
from sessions_app.models import Engagement, Membership
from sessions_app.services import (
    engagement_create,
    membership_grant,
    receipt_version_upload,
    session_create,
)

DEMO_FILES = Path(__file__).resolve().parents[2] / "demo"
OPERATOR = ("demo", "closebook-demo")
ADMIN = ("admin", "closebook-admin")


def _file(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (DEMO_FILES / name).read_bytes())


class Command(BaseCommand):
    help = "Load a demo engagement with an operator and sample sessions (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        operator = self._user(*OPERATOR, staff=False)
        admin_user = self._user(*ADMIN, staff=True)
        engagement = Engagement.objects.filter(slug="demo-corp").first()
        if engagement is None:
            engagement = engagement_create(name="Demo Corp", actor=admin_user)
        if not Membership.objects.filter(engagement=engagement, user=operator).exists():
            membership_grant(
                engagement=engagement,
                user=operator,
                role=Membership.Role.OPERATOR,
                actor=admin_user,
            )
        if not engagement.sessions.exists():
            self._sessions(engagement, operator)
        self.stdout.write(f"Operator: {OPERATOR[0]} / {OPERATOR[1]}")
        self.stdout.write(f"Admin:    {ADMIN[0]} / {ADMIN[1]}  (Django admin at /admin/)")

    def _user(self, username: str, password: str, *, staff: bool) -> Any:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.is_staff = user.is_superuser = staff
            user.save()
        return user

    def _sessions(self, engagement: Engagement, operator: Any) -> None:
        october_start, october_end = datetime.date(2026, 10, 1), datetime.date(2026, 10, 31)
        first = session_create(
            engagement=engagement,
            name="October 2026",
            tolerance=Decimal("1.00"),
            card_file=_file("car_2026_10.csv"),
            receipts_file=_file("receipts_2026_10_v1.csv"),
            actor=operator,
            period_start=october_start,
            period_end=october_end,
        )
        self._run_jobs()
        receipt_version_upload(
            session=first,
            file=_file("receipts_2026_10_v2.csv"),
            actor=operator,
            note="complete report",
        )
        self._run_jobs()
        second = session_create(
            engagement=engagement,
            name="October 2026 — late receipts",
            tolerance=Decimal("1.00"),
            card_file=_file("car_2026_10.csv"),
            receipts_file=_file("receipts_2026_10_v1.csv"),
            actor=operator,
            period_start=october_start,
            period_end=october_end,
        )
        self._run_jobs()
        receipt_version_upload(
            session=second, file=_file("receipts_2026_10_late.csv"), actor=operator, mode="append"
        )
        self._run_jobs()

    def _run_jobs(self) -> None:
        # Run now rather than wait for a worker; the queued q2 task then finds nothing to do.
        for job_id in RecalcJob.objects.filter(status=RecalcJob.Status.QUEUED).values_list(
            "pk", flat=True
        ):
            recalc_job_run(job_id=job_id)
