"""Exports of many sessions at once, each in its own transaction through the single-batch
service."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import (
    DomainError,
)
from exports.models import ExportBatch
from exports.services.files import export_batch_stored_bytes
from exports.services.generate import (
    export_batch_create,
    export_file_name,
)
from exports.writers import manifest_csv, manifest_json, zip_bytes
from sessions_app.models import ProcessingSession

logger = logging.getLogger(__name__)

# --- Bulk ----------------------------------------------------------------------------------


@dataclass
class BulkExportResult:
    zip_bytes: bytes
    results: list[dict[str, Any]] = field(default_factory=list)
    # Each refused session's domain error, by session id: a NothingToDo (a closed session)
    # is skipped, not failed, by the doors that report per item.
    refusals: dict[int, DomainError] = field(default_factory=dict)

    @property
    def ok_count(self) -> int:
        return sum(1 for result in self.results if result["ok"])


def _bulk_one(
    session: ProcessingSession, *, export_type: str, delta_only: bool, actor: Any
) -> tuple[dict[str, Any], dict[str, Any], tuple[str, bytes] | None, DomainError | None]:
    result: dict[str, Any] = {"session_id": session.pk, "ok": False, "error": None}
    result["batch_code"] = result["code"] = None
    row: dict[str, Any] = {"session_id": session.pk, "session": session.name}
    row["export_type"] = export_type
    try:
        batch, _ = export_batch_create(
            session=session, export_type=export_type, delta_only=delta_only, actor=actor
        )
        data = export_batch_stored_bytes(batch)
    except DomainError as error:
        result.update(error=error.message, code=error.code)
        return result, {**row, "error": error.message}, None, error
    except Exception as error:  # one broken session must not stop the others
        logger.exception("bulk export of session %s failed", session.pk)
        result.update(error=f"Unexpected error: {error}", code="error")
        return result, {**row, "error": result["error"]}, None, None
    name = export_file_name(batch)
    result.update(ok=True, batch_code=batch.batch_code, employee_count=batch.employee_count)
    row.update(
        batch_code=batch.batch_code,
        employee_count=batch.employee_count,
        total_amount=batch.total_amount,
        file_name=name,
        file_size=batch.file_size,
        sha256=batch.sha256,
    )
    return result, row, (name, data), None


def exports_bulk_create(
    *,
    sessions: Any,
    export_type: str = ExportBatch.ExportType.PVAULT,
    delta_only: bool = True,
    actor: Any,
    missing_session_ids: Any = (),
) -> BulkExportResult:
    """Export several sessions at once: one batch per session, one ZIP holding each
    file and a manifest (manifest.csv for people, manifest.json with the per-session
    results for scripts). A session that fails (closed, nothing to export, job active…)
    is reported in the results and the manifest; the others go on. Ids asked for that
    name no session the caller may see are reported as failures too."""
    results, rows, members = [], [], []
    refusals: dict[int, DomainError] = {}
    for session in sessions:
        result, row, member, refusal = _bulk_one(
            session, export_type=export_type, delta_only=delta_only, actor=actor
        )
        results.append(result)
        rows.append(row)
        if member is not None:
            members.append(member)
        if refusal is not None:
            refusals[session.pk] = refusal
    for session_id in missing_session_ids:
        results.append(
            {"session_id": session_id, "ok": False, "error": "No such session."}
            | {"batch_code": None, "code": "not_found"}
        )
        rows.append({"session_id": session_id, "error": "No such session."})
    members.append(("manifest.csv", manifest_csv(rows)))
    members.append(("manifest.json", manifest_json(results)))
    ok = sum(1 for result in results if result["ok"])
    activity_event_record(
        verb=ActivityEvent.Verb.BULK_EXPORT,
        message=f"Bulk {export_type} export of {len(results)} sessions: {ok} exported, "
        f"{len(results) - ok} failed",
        actor=actor,
        details={"export_type": export_type, "delta_only": delta_only, "results": results},
    )
    return BulkExportResult(zip_bytes=zip_bytes(members), results=results, refusals=refusals)
