"""A batch's stored file: served after its sha256 is checked, or rebuilt from its lines."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from audit.models import ActivityEvent
from audit.services import activity_event_record
from exports.errors import ExportFileCorrupt
from exports.models import ExportBatch
from exports.services.generate import (
    line_rows,
)
from exports.writers import export_file_bytes

logger = logging.getLogger(__name__)

# --- Files ---------------------------------------------------------------------------------


def export_batch_stored_bytes(batch: ExportBatch) -> bytes:
    """The stored file, refused when it is missing or differs from what was generated."""
    if not batch.file.name or not batch.file.storage.exists(batch.file.name):
        raise ExportFileCorrupt(
            f"The file of {batch.batch_code} is missing from storage.",
            details={"batch_code": batch.batch_code, "file": batch.file.name},
        )
    with batch.file.storage.open(batch.file.name, "rb") as handle:
        data = handle.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != batch.sha256 or len(data) != batch.file_size:
        raise ExportFileCorrupt(
            f"The stored file of {batch.batch_code} no longer matches its sha256: it was "
            "changed after it was generated. Rebuild it from its lines.",
            details={"batch_code": batch.batch_code, "expected": batch.sha256, "actual": actual},
        )
    return data


def export_batch_file(*, batch: ExportBatch, actor: Any) -> bytes:
    """A download: the identical bytes every time, hash verified. Allowed on closed
    sessions and void batches (auditors re-read them)."""
    data = export_batch_stored_bytes(batch)
    activity_event_record(
        verb=ActivityEvent.Verb.EXPORT_DOWNLOADED,
        message=f"{batch.batch_code} downloaded",
        actor=actor,
        session=batch.session,
        details={"batch_id": batch.pk, "batch_code": batch.batch_code, "sha256": batch.sha256},
    )
    return data


def export_batch_rebuild(*, batch: ExportBatch) -> bytes:
    """The batch's file written again from its ExportLines: byte-identical to the stored
    one, which is how a lost or altered file is proven and restored."""
    return export_file_bytes(batch, line_rows(batch))
