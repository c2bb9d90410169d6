"""Writes of the exports domain. Pages, API, admin and commands all call these.

The promise: pVault never receives the same employee twice by mistake, and every export
can be proven afterwards. Generation locks the session row, so two delta exports of one
session are serialised and the second sees the first one's snapshots; batch codes are
unique across all sessions; the stored file's size and sha256 are kept and checked on
every download; the file can be rebuilt byte for byte from its lines.
"""

from exports.errors import ExportFileCorrupt
from exports.services.bulk import BulkExportResult, exports_bulk_create
from exports.services.files import (
    export_batch_file,
    export_batch_rebuild,
    export_batch_stored_bytes,
)
from exports.services.generate import (
    LINE_BATCH_SIZE,
    LINE_FILE_FIELDS,
    RETURNED_CHUNK,
    SEQUENCE_ATTEMPTS,
    export_batch_create,
    export_file_name,
    line_rows,
)
from exports.services.marking import export_batch_mark_exported, export_batch_void

__all__ = [
    "LINE_BATCH_SIZE",
    "LINE_FILE_FIELDS",
    "RETURNED_CHUNK",
    "SEQUENCE_ATTEMPTS",
    "BulkExportResult",
    "ExportFileCorrupt",
    "export_batch_create",
    "export_batch_file",
    "export_batch_mark_exported",
    "export_batch_rebuild",
    "export_batch_stored_bytes",
    "export_batch_void",
    "export_file_name",
    "exports_bulk_create",
    "line_rows",
]
