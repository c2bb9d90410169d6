"""Archival of closed sessions: their lines move to archive storage and can come back.

An archive is one folder (storage prefix) in the `archive` storage alias:

    <engagement-slug>/session-<id>/<UTC timestamp>/
        card_transactions.jsonl.gz     one JSON object per card line: every field, original id
        receipt_lines.jsonl.gz         the lines of every receipt version, with the version number
        files/<original storage name>  copies of the uploaded card and receipts files
        manifest.json                  row counts, amount sums, sha256 + size of every object

When is an archive trusted? Its manifest is written LAST, only after every other object was
read back and verified; the manifest carries a seal (the sha256 of its own body), and it is
trusted only when a session row points at its folder: `archive_location` is set in the same
transaction that deletes the lines. A run that fails anywhere before that commit deletes what
it wrote (best effort); whatever a crash leaves behind sits in a folder no session points at,
usually without a manifest, and the session's lines are still in the database, untouched.

Revisions, history, receipt versions, export batches and lines, and activity events are
never archived: only CardTransaction and ReceiptLine rows, the bulk of the databa

The package: `format` (what an archive holds, writing and verifying objects), `manifest`
(building, sealing and reading it), `services` (archiving), `restore` (restoring).
"""

from sessions_app.archival.format import (
    ARCHIVED,
    FAILED,
    MANIFEST_KIND,
    MANIFEST_NAME,
    NOT_ARCHIVED,
    READ_CHUNK,
    RESTORED,
    ROW_CHUNK,
    SCHEMA_VERSION,
    SKIPPED,
    TABLES,
    WOULD_ARCHIVE,
    ZERO,
    ArchiveCorrupt,
    ArchiveProgress,
    ArchiveResult,
    LineTable,
    RestoreResult,
    TableFigures,
    archive_storage,
    compression_ratio,
)
from sessions_app.archival.manifest import (
    archive_manifest_for,
    archived_lines_notice,
    archived_statement_total,
    manifest_read,
)
from sessions_app.archival.restore import (
    session_restore,
)
from sessions_app.archival.services import (
    archive_candidates,
    session_archive,
    sessions_archive_closed_before,
)

__all__ = [
    "ARCHIVED",
    "FAILED",
    "MANIFEST_KIND",
    "MANIFEST_NAME",
    "NOT_ARCHIVED",
    "READ_CHUNK",
    "RESTORED",
    "ROW_CHUNK",
    "SCHEMA_VERSION",
    "SKIPPED",
    "TABLES",
    "WOULD_ARCHIVE",
    "ZERO",
    "ArchiveCorrupt",
    "ArchiveProgress",
    "ArchiveResult",
    "LineTable",
    "RestoreResult",
    "TableFigures",
    "archive_candidates",
    "archive_manifest_for",
    "archive_storage",
    "archived_lines_notice",
    "archived_statement_total",
    "compression_ratio",
    "manifest_read",
    "session_archive",
    "session_restore",
    "sessions_archive_closed_before",
]
