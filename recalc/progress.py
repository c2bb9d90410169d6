"""Progress, heartbeat and cancel of one attempt at a job.

Every write is committed at once so the session page, the API and the watchdog see it while
the job runs. During the apply transaction the worker's own connection is busy with writes
nobody may see before the commit, so on PostgreSQL progress goes through a second, short-lived
connection. (SQLite allows one writer at a time: there the apply's progress is committed with
the apply.)

Every write is fenced by the attempt number: an attempt that the watchdog declared lost, or
whose job was resumed by another worker, finds its writes refused and stops (JobLost), so a
worker that comes back from the dead cannot touch a job that has moved on."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from recalc.models import RecalcJob

STAGES = {
    1: "parse & validate",
    2: "store lines",
    3: "aggregate per employee",
    4: "compare & classify",
    5: "apply",
    6: "finish",
}
APPLY_STAGE = 5
logger = logging.getLogger(__name__)
# Test-only: seconds to wait after each applied batch, so a test can kill a real worker in
# the middle of an apply. Never set in production.
APPLY_PAUSE_ENV = "RECALC_TEST_APPLY_PAUSE"


class JobCancelled(Exception):
    """Someone asked the job to stop; raised between chunks."""


class JobLost(Exception):
    """This attempt no longer owns the job (declared lost, resumed elsewhere)."""


def progress_fraction(stage: int, processed: int, total: int) -> float:
    done_in_stage = min(processed / total, 1.0) if total else 0.0
    return round(((stage - 1) + done_in_stage) / len(STAGES), 4)


class JobMonitor:
    def __init__(self, *, job_id: int, attempt: int, side_connection_allowed: bool) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.stage = 0
        self.total = 0
        self.message = ""
        self._side_allowed = side_connection_allowed
        self._side: BaseDatabaseWrapper | None = None
        self._beside = False

    # --- what the stages call ----------------------------------------------------------------

    def begin(self, stage: int, message: str, *, total: int = 0) -> None:
        self.stage, self.total, self.message = stage, total, message[:500]
        self._write(processed=0)

    def advance(self, processed: int, message: str | None = None) -> None:
        """One chunk done: progress and heartbeat written, then a cancel honoured."""
        if message is not None:
            self.message = message[:500]
        self._write(processed=processed)
        if self.stage == APPLY_STAGE and processed:
            logger.info("job %s: %s of %s revisions written", self.job_id, processed, self.total)
            _test_pause()
        self.check_cancel()

    def stage_done(self, stage: int) -> None:
        self._update({"completed_stage": stage, "heartbeat_at": timezone.now()})
        self.check_cancel()

    def check_cancel(self) -> None:
        table = RecalcJob._meta.db_table
        with self._connection().cursor() as cursor:
            cursor.execute(
                f"SELECT cancel_requested FROM {table} WHERE id = %s",  # noqa: S608
                [self.job_id],
            )
            row = cursor.fetchone()
        if row and row[0]:
            raise JobCancelled

    @contextmanager
    def beside_transaction(self) -> Iterator[None]:
        """Route progress around the transaction the caller is about to open."""
        self._beside = self._side_allowed
        try:
            yield
        finally:
            self._beside = False
            if self._side is not None:
                self._side.close()
                self._side = None

    # --- writing -----------------------------------------------------------------------------

    def _write(self, *, processed: int) -> None:
        self._update(
            {
                "stage": self.stage,
                "stage_name": STAGES[self.stage],
                "processed": processed,
                "total": self.total,
                "progress": progress_fraction(self.stage, processed, self.total),
                "message": self.message,
                "heartbeat_at": timezone.now(),
            }
        )

    def _update(self, values: dict[str, Any]) -> None:
        try:
            updated = self._fenced_update(self._connection(), values)
        except OperationalError:
            if self._side is None:
                raise
            # A dropped side connection is replaced once; the job goes on.
            self._side.close()
            self._side = None
            updated = self._fenced_update(self._connection(), values)
        if not updated:
            raise JobLost(f"job {self.job_id} attempt {self.attempt} no longer owns the job")

    def _fenced_update(self, db: BaseDatabaseWrapper, values: dict[str, Any]) -> int:
        meta = RecalcJob._meta
        quote = db.ops.quote_name
        fields: dict[str, Any] = {name: meta.get_field(name) for name in values}
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields.values())
        params = [
            field.get_db_prep_value(values[name], connection=db) for name, field in fields.items()
        ]
        with db.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
                "WHERE id = %s AND status = %s AND attempts = %s",
                [*params, self.job_id, RecalcJob.Status.RUNNING, self.attempt],
            )
            return cursor.rowcount

    def _connection(self) -> BaseDatabaseWrapper:
        if not self._beside:
            return connection
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
        return self._side


def _test_pause() -> None:
    pause = float(os.environ.get(APPLY_PAUSE_ENV) or 0)
    if pause > 0:
        time.sleep(pause)
