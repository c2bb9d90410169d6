"""`manage.py recalc_watchdog`: find recalculation jobs whose worker died and resume them.

Every qcluster already runs this once a minute (a django-q2 schedule, migration recalc 0003);
the command is for cron, a systemd timer, or an operator who wants it now."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from recalc.services import recalc_jobs_recover


class Command(BaseCommand):
    help = "Fail jobs without a heartbeat ('worker lost'), resume them, re-dispatch lost tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-seconds",
            type=int,
            default=None,
            help=f"heartbeat age that means a dead worker (default JOB_STALE_SECONDS, "
            f"{settings.JOB_STALE_SECONDS})",
        )
        parser.add_argument(
            "--loop",
            type=float,
            default=0,
            metavar="SECONDS",
            help="keep running, checking every SECONDS (default: check once and exit)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["stale_seconds"]
        older_than = timedelta(seconds=seconds) if seconds else None
        while True:
            recovery = recalc_jobs_recover(older_than=older_than)
            if recovery.failed or recovery.resumed or recovery.redispatched or not options["loop"]:
                self.stdout.write(
                    f"worker lost: {recovery.failed or 'none'}; "
                    f"resumed: {recovery.resumed or 'none'}; "
                    f"handed to the broker again: {recovery.redispatched or 'none'}"
                )
            if not options["loop"]:
                return
            time.sleep(options["loop"])
