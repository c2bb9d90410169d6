"""`manage.py verify_exports`: re-hash every stored export file, exit 1 on any problem."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.integrity import export_files_verify
from exports.models import ExportBatch


class Command(BaseCommand):
    help = (
        "Re-hash every stored export file and compare it with the sha256 and size recorded "
        "when it was generated. Lists missing and altered files; exits 1 if there is any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", type=int, help="Only the batches of this session id.")

    def handle(self, *args: Any, **options: Any) -> None:
        batches = None
        if options.get("session"):
            batches = ExportBatch.objects.filter(session_id=options["session"]).order_by("pk")
        checked, problems = export_files_verify(batches)
        for problem in problems:
            self.stderr.write(f"{problem.problem.upper()} {problem.batch_code}: {problem.message}")
        if problems:
            raise CommandError(
                f"{len(problems)} of {checked} export files failed verification "
                f"({sum(p.problem == 'missing' for p in problems)} missing, "
                f"{sum(p.problem == 'mismatch' for p in problems)} altered)."
            )
        self.stdout.write(self.style.SUCCESS(f"All {checked} export files verified."))
