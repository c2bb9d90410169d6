"""Line matching computed beside a recalculation, on a second database connection.

A recalculation spends most of its time in stages 3 and 4 (totals and comparison) and in
writing revisions; pairing the session's lines does not depend on either. On PostgreSQL the
job starts `MatchingBeside` before stage 3: a thread with its own connection prunes the
session's old generations, pairs the employees whose lines changed into a new generation and
commits it. The apply then only checks that the inputs are unchanged (the generation in
effect, the receipts versions and card lines in effect, the operator's decisions and the
lines they point at) and switches the session to it
(matching.pairing.session_matching_store); if anything differs, or the thread failed, the
apply pairs the session itself, as it would without this.

Nothing here is visible before the apply commits: a cancelled, failed or killed job leaves
at most a generation nobody reads, pruned by the session's next recalculation."""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection, connections, transaction

from matching.pairing import (
    MatchingOutcome,
    PreparedMatching,
    decisions_key,
    decisions_refresh,
    generation_write,
    generations_prune,
    matching_basis,
)
from sessions_app.models import ProcessingSession

logger = logging.getLogger(__name__)


class MatchingBeside:
    def __init__(self, *, session_id: int, version_ids: list[int], generation: int) -> None:
        self.session_id = session_id
        self.version_ids = list(version_ids)
        self.generation = generation
        self.prepared: PreparedMatching | None = None
        self.error: BaseException | None = None
        self.backend_pid: int | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"matching-{session_id}", daemon=True
        )

    @staticmethod
    def possible() -> bool:
        """Only where a second connection sees what the job sees: PostgreSQL, and the job
        not inside an enclosing transaction (a test's)."""
        return connection.vendor == "postgresql" and not connection.in_atomic_block

    @classmethod
    def start(
        cls, *, session_id: int, version_ids: list[int], generation: int
    ) -> MatchingBeside | None:
        if not cls.possible():
            return None
        beside = cls(session_id=session_id, version_ids=version_ids, generation=generation)
        beside._thread.start()
        return beside

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
            session = ProcessingSession.objects.get(pk=self.session_id)
            with transaction.atomic():
                generations_prune(session, keep=session.matching_generation, below=self.generation)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # Nothing here is read before the apply commits, and the apply's own
                    # commit flushes the log up to and past these rows: no need to wait
                    # for the flush of this commit.
                    cursor.execute("SET LOCAL synchronous_commit = off")
                manual = decisions_refresh(
                    session,
                    version_ids=self.version_ids,
                    actor=None,
                    outcome=MatchingOutcome(),
                    dry_run=True,
                )
                basis = matching_basis(session.pk, self.version_ids)
                outcome = generation_write(
                    session, generation=self.generation, basis=basis, manual=manual
                )
            self.prepared = PreparedMatching(
                generation=self.generation,
                base=session.matching_generation,
                basis=basis,
                decisions=decisions_key(manual),
                outcome=outcome,
                seconds=time.perf_counter() - started,
            )
        except BaseException as error:  # reported to the job, which pairs inline instead
            self.error = error
            logger.warning("line matching beside the job failed: %r", error)
        finally:
            connections["default"].close()

    def result(self) -> PreparedMatching | None:
        """Wait for the thread; its generation, or None when the apply must pair itself."""
        self._thread.join()
        return self.prepared

    def stop(self) -> None:
        """The job is ending (done, failed or cancelled): cancel a statement still running on
        the thread's connection and wait for the thread."""
        if self._thread.is_alive() and self.backend_pid is not None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_cancel_backend(%s)", [self.backend_pid])
            except Exception:  # the thread ends on its own anyway
                logger.warning("could not cancel the line matching's statement")
        self._thread.join()
