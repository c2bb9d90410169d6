"""The stages of a recalculation (SPEC §7), run by recalc.services.recalc_job_run.

Stages 3 and 4 read and compare outside any transaction, writing progress as they go; stage
5 writes everything in ONE transaction that also marks the stage done, so a cancelled or
crashed job changes nothing and a resumed one starts the apply afresh."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from core.faults import fault_point
from matching.beside import MatchingBeside
from matching.pairing import session_matching_store
from recalc.apply import revision_plan_apply
from recalc.engine import (
    RevisionPlan,
    connection_key,
    effective_receipt_version_ids,
    employee_totals_build,
    revision_plan_build,
    revisions_fingerprint,
)
from recalc.models import RecalcJob
from recalc.progress import APPLY_STAGE, JobCancelled, JobLost, JobMonitor
from sessions_app.lifecycle import receipt_version_state_set, session_status_set
from sessions_app.models import ProcessingSession, ReceiptVersion

logger = logging.getLogger(__name__)

TRANSIENT_ATTEMPTS = 4
BACKOFF_SECONDS = 0.5
T = TypeVar("T")


@dataclass
class StagesOutcome:
    plan: RevisionPlan | None
    awaiting_confirmation: bool = False


def with_retries(operation: Callable[[], T], *, label: str) -> T:
    """Transient database errors (a dropped connection, a deadlock, a lock timeout, SQLite
    busy) are retried with exponential backoff; anything else fails the job at once."""
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            return operation()
        except OperationalError:
            if attempt == TRANSIENT_ATTEMPTS:
                raise
            delay = BACKOFF_SECONDS * 2 ** (attempt - 1)
            logger.warning("%s: transient database error, retry %s in %.1fs", label, attempt, delay)
            time.sleep(delay)
            if not connection.in_atomic_block:
                close_old_connections()  # a broken connection is replaced on next use
    raise AssertionError("unreachable")


def stages_run(job: RecalcJob, monitor: JobMonitor) -> StagesOutcome:
    fault_point("recalc.stages_starting", job)
    plan = None
    if job.completed_stage < 2:
        _stage_validate(job, monitor)
    beside = None
    if job.completed_stage < APPLY_STAGE and not (job.preview and job.completed_stage < 4):
        beside = matching_beside_start(job, monitor)
    try:
        if job.completed_stage < 4:
            plan = with_retries(lambda: _stages_plan(job, monitor), label=f"job {job.pk} compare")
            if job.preview:
                return StagesOutcome(plan=plan, awaiting_confirmation=True)
        if job.completed_stage < APPLY_STAGE:
            plan = with_retries(
                lambda: _stage_apply(job, monitor, plan, beside), label=f"job {job.pk} apply"
            )
    finally:
        if beside is not None:
            beside.stop()
    return StagesOutcome(plan=plan)


def matching_generation(job: RecalcJob, monitor: JobMonitor) -> int:
    """The generation number this attempt writes its line matching under: later jobs and
    later attempts of a job write higher numbers."""
    return job.pk * 1000 + monitor.attempt % 1000


def matching_beside_start(job: RecalcJob, monitor: JobMonitor) -> MatchingBeside | None:
    """Line matching on a second connection while this one compares (matching.beside)."""
    if not MatchingBeside.possible():
        return None
    return MatchingBeside.start(
        session_id=job.session_id,
        version_ids=effective_receipt_version_ids(job.session, job.receipt_version),
        generation=matching_generation(job, monitor),
    )


def processed_version(job: RecalcJob) -> int | None:
    """The receipts version the results reflect."""
    if job.receipt_version is not None:
        return job.receipt_version.version
    return (
        ReceiptVersion.objects.filter(session=job.session, state=ReceiptVersion.State.APPLIED)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


def change_reason(job: RecalcJob) -> str:
    """The reason on every history row the apply writes, e.g. "receipts v3 applied"."""
    version = job.receipt_version
    if version is not None:
        if job.kind == RecalcJob.Kind.ROLLBACK:
            return f"receipts v{version.version} applied ({version.note})"[:100]
        return f"receipts v{version.version} applied"
    return f"{job.get_kind_display().lower()} (job {job.pk})"[:100]


def _stage_validate(job: RecalcJob, monitor: JobMonitor) -> None:
    # Files are parsed and validated, and their lines stored, at upload: a bad file never
    # gets this far. These stages report what the upload stored.
    card_lines = job.session.card_row_count
    monitor.begin(1, f"{card_lines} card lines validated at upload")
    monitor.stage_done(1)
    version = job.receipt_version
    receipt_lines = version.row_count - version.duplicate_count if version else 0
    stored = card_lines + receipt_lines
    monitor.begin(
        2, f"{card_lines} card lines and {receipt_lines} receipt lines stored", total=stored
    )
    monitor.advance(stored)
    monitor.stage_done(2)
    job.completed_stage = 2


def _stages_plan(job: RecalcJob, monitor: JobMonitor) -> RevisionPlan:
    plan = _plan_build(job, job.session, monitor, stage=3)
    job.diff = plan.summary()
    RecalcJob.objects.filter(pk=job.pk, attempts=monitor.attempt).update(diff=job.diff)
    monitor.advance(plan.employees, _counts_message(plan))
    monitor.stage_done(4)
    job.completed_stage = 4
    return plan


def _plan_build(
    job: RecalcJob, session: ProcessingSession, monitor: JobMonitor, *, stage: int
) -> RevisionPlan:
    """Stages 3 and 4; inside the apply (stage 5) when the plan must be made again."""
    monitor.begin(stage, "Adding up card and receipt lines per employee")
    totals = employee_totals_build(session, receipt_version=job.receipt_version)
    if stage == 3:
        lines = totals.card_lines + totals.receipt_lines
        monitor.total = lines
        monitor.advance(lines, f"{lines} lines added up for {totals.employees} employees")
        monitor.stage_done(3)
        stage = 4
    monitor.begin(stage, f"Comparing {totals.employees} employees", total=totals.employees)
    return revision_plan_build(
        session,
        totals=totals,
        processed_version=processed_version(job),
        on_chunk=monitor.advance,
        with_next_delta=job.preview,
    )


def _counts_message(plan: RevisionPlan) -> str:
    counts = plan.counts
    message = (
        f"{counts['new']} new, {counts['changed']} changed, {counts['removed']} removed, "
        f"{counts['unchanged']} unchanged"
    )
    if plan.problem_count:
        message += f"; {plan.problem_count} could not be recalculated"
    return message


def _plan_still_valid(plan: RevisionPlan, session: ProcessingSession) -> bool:
    """A plan from stage 4 is used only if its scratch table is still on this connection and
    nobody wrote a revision since (say, resolved an employee while the job ran)."""
    return plan.connection_key == connection_key(
        connection
    ) and plan.fingerprint == revisions_fingerprint(session)


def _stage_apply(
    job: RecalcJob,
    monitor: JobMonitor,
    plan: RevisionPlan | None,
    beside: MatchingBeside | None = None,
) -> RevisionPlan:
    monitor.begin(APPLY_STAGE, "Waiting for the session", total=plan.rows if plan else 0)
    with monitor.beside_transaction(), transaction.atomic():
        session = ProcessingSession.objects.select_for_update().get(pk=job.session_id)
        monitor.check_cancel()
        if plan is None or not _plan_still_valid(plan, session):
            plan = _plan_build(job, session, monitor, stage=APPLY_STAGE)
        monitor.begin(APPLY_STAGE, f"Writing {plan.rows} revisions", total=plan.rows)
        revision_plan_apply(
            plan,
            session_id=session.pk,
            actor_id=job.created_by_id,
            change_reason=change_reason(job),
            on_chunk=monitor.advance,
            now=timezone.now(),
        )
        session_matching_store(
            session,
            version_ids=effective_receipt_version_ids(session, job.receipt_version),
            actor=job.created_by,
            generation=matching_generation(job, monitor),
            prepared=beside.result() if beside is not None else None,
        )
        _mark_applied(job, session, monitor, plan)
    job.completed_stage = APPLY_STAGE
    return plan


def _mark_applied(
    job: RecalcJob, session: ProcessingSession, monitor: JobMonitor, plan: RevisionPlan
) -> None:
    if job.receipt_version_id is not None:
        receipt_version_state_set(
            version_id=job.receipt_version_id,
            state=ReceiptVersion.State.APPLIED,
            actor=job.created_by,
            reason=change_reason(job),
        )
    session_status_set(
        session_id=session.pk,
        status=ProcessingSession.Status.COMPLETED,
        actor=job.created_by,
        reason=change_reason(job),
    )
    job.diff = {**plan.summary(), **_kept_preview_extras(job)}
    # The stage is marked done in the apply's own transaction, fenced by the attempt: a
    # worker declared lost meanwhile rolls its whole apply back here.
    marked = RecalcJob.objects.filter(
        pk=job.pk, status=RecalcJob.Status.RUNNING, attempts=monitor.attempt
    ).update(completed_stage=APPLY_STAGE, heartbeat_at=timezone.now(), diff=job.diff)
    if not marked:
        raise JobLost(f"job {job.pk} attempt {monitor.attempt} lost the job before commit")


def _kept_preview_extras(job: RecalcJob) -> dict[str, Any]:
    previous = job.diff if isinstance(job.diff, dict) else {}
    return {key: previous[key] for key in ("next_delta_export", "pairs") if key in previous}


__all__ = [
    "JobCancelled",
    "JobLost",
    "StagesOutcome",
    "change_reason",
    "processed_version",
    "stages_run",
    "with_retries",
]
