"""`manage.py audit_history_check [--since 2026-11-01]`: list history rows that do not say
who changed the object or why; exit 1 if there is any."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.selectors import history_rows_unattributed

SHOWN = 200


def _moment(text: str) -> datetime.datetime:
    """A day means its first moment, in the site's time zone."""
    moment = datetime.datetime.fromisoformat(text)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Check that every history row of sessions, receipt versions, employee revisions, "
        "export batches and engagements names the acting user and a change reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=_moment,
            help="Only rows written at or after this day or moment (YYYY-MM-DD[THH:MM[:SS]]).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = history_rows_unattributed(since=options.get("since"))
        for row in rows[:SHOWN]:
            self.stderr.write(
                f"{row.model} {row.object_id} (history {row.history_id}, "
                f"{row.at:%Y-%m-%d %H:%M:%S}): no {row.missing}"
            )
        if rows:
            raise CommandError(f"{len(rows)} history rows do not say who or why.")
        self.stdout.write(self.style.SUCCESS("Every history row names its user and reason."))
