"""Restoring an archived session's lines from its verified archive."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import InvalidState
from core.history import history_note
from sessions_app.archival.format import (
    NOT_ARCHIVED,
    RESTORED,
    ROW_CHUNK,
    TABLES,
    ArchiveCorrupt,
    LineTable,
    RestoreResult,
    RowsCallback,
    _objects_verify,
    _rows_read,
    archive_storage,
)
from sessions_app.archival.manifest import manifest_read
from sessions_app.models import (
    ProcessingSession,
    ReceiptVersion,
)

logger = logging.getLogger(__name__)

# --- Restoring --------------------------------------------------------------------------------


def _recorded_manifest_seal(session: ProcessingSession, location: str) -> str | None:
    """The manifest seal the archiving transaction recorded in the audit trail: the database's
    own word on what the archive said, so an archive rewritten wholesale is caught too."""
    event = (
        ActivityEvent.objects.filter(
            session=session, verb=ActivityEvent.Verb.SESSION_ARCHIVED, details__location=location
        )
        .order_by("-pk")
        .first()
    )
    return event.details.get("manifest_sha256") if event else None


def _row_instance(table: LineTable, row: dict[str, Any]) -> models.Model:
    # Positional arguments follow concrete_fields: a third faster than keywords, which counts
    # over a million lines.
    return table.model(*[f.to_python(row[f.attname]) for f in table.fields])


def _fields_check(table: LineTable, recorded: dict[str, Any]) -> None:
    known = {f.attname for f in table.fields} | {key for key, _ in table.extra}
    unknown = set(recorded["fields"]) - known
    missing = {f.attname for f in table.fields} - set(recorded["fields"])
    if unknown or missing:
        raise InvalidState(
            f"The archived {table.key} have fields {sorted(unknown)} this version does not "
            f"know and lack {sorted(missing)}; restore with the matching Closebook version."
        )


def _table_load(
    table: LineTable,
    handle: IO[bytes],
    session: ProcessingSession,
    version_numbers: dict[int, int],
    on_rows: RowsCallback | None,
) -> int:
    batch: list[models.Model] = []
    loaded = 0
    for row, _ in _rows_read(handle):
        if row["session_id"] != session.pk:
            raise ArchiveCorrupt(f"An archived {table.key} row belongs to another session.")
        number = row.get("receipt_version_number")
        if number is not None and version_numbers.get(row["receipt_version_id"]) != number:
            raise ArchiveCorrupt(
                f"Archived receipt line {row['id']} says receipts v{number}, but that version "
                "is not the one the database holds under its id."
            )
        batch.append(_row_instance(table, row))
        if len(batch) == ROW_CHUNK:
            loaded += _bulk_insert(table, batch, on_rows)
    return loaded + _bulk_insert(table, batch, on_rows)


def _bulk_insert(table: LineTable, batch: list[models.Model], on_rows: RowsCallback | None) -> int:
    count = len(batch)
    if count:
        table.model._default_manager.bulk_create(batch, batch_size=ROW_CHUNK)
        if on_rows:
            on_rows(count)
    batch.clear()
    return count


def _id_sequences_catch_up() -> None:
    """New lines must never take a restored id. SQLite's AUTOINCREMENT never hands out an
    id below the highest ever used, nor does a PostgreSQL sequence unless someone reset it
    (a dump reloaded, sqlsequencereset after lines were archived): then move it forward,
    never back, since lower ids may still be out in other archives."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in TABLES:
            highest = table.model._default_manager.aggregate(highest=Max("pk"))["highest"] or 1
            cursor.execute(
                "SELECT setval(seq, GREATEST(%s, COALESCE(pg_sequence_last_value(seq), 1))) "
                "FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) AS s",
                [highest, table.model._meta.db_table],
            )


def _restore_commit(
    session: ProcessingSession,
    manifest: dict[str, Any],
    local: dict[str, IO[bytes]],
    actor: Any,
    on_rows: RowsCallback | None,
) -> int | None:
    """Insert every line with its original id in one transaction; None if restored meanwhile."""
    location = session.archive_location
    with transaction.atomic():
        locked = ProcessingSession.objects.select_for_update().get(pk=session.pk)
        if locked.archived_at is None or locked.archive_location != location:
            return None
        for table in TABLES:
            if table.model._default_manager.filter(session=locked).exists():
                raise InvalidState(
                    f"Session '{locked.name}' already holds {table.key}; nothing was restored."
                )
        versions = dict(ReceiptVersion.objects.filter(session=locked).values_list("pk", "version"))
        rows = sum(
            _table_load(table, local[table.object_name], locked, versions, on_rows)
            for table in TABLES
        )
        _id_sequences_catch_up()
        locked.archived_at = None
        locked.archive_location = ""
        history_note(locked, actor=actor, reason=f"lines restored from {location}")
        locked.save(update_fields=["archived_at", "archive_location", "updated_at"])
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_RESTORED,
            message=f"Session '{locked.name}' restored: {rows} lines from {location}",
            actor=actor,
            session=locked,
            details={"location": location, "rows": rows, "manifest_sha256": manifest["seal"]},
        )
    return rows


def _originals_put_back(manifest: dict[str, Any], local: dict[str, IO[bytes]]) -> int:
    """Uploaded files stay in media storage when a session is archived; one that has been lost
    since is put back under its own name, so its FileField works again."""
    put_back = 0
    for name, entry in manifest["objects"].items():
        source = entry.get("source")
        if source and not default_storage.exists(source):
            local[name].seek(0)
            default_storage.save(source, File(local[name], name=source.rsplit("/", 1)[-1]))
            put_back += 1
    return put_back


def _not_archived(session: ProcessingSession, message: str) -> RestoreResult:
    return RestoreResult(session_id=session.pk, outcome=NOT_ARCHIVED, message=message)


def session_restore(
    *,
    session: ProcessingSession,
    actor: Any,
    storage: Storage | None = None,
    on_rows: RowsCallback | None = None,
) -> RestoreResult:
    """Bring an archived session's lines back exactly, after verifying the whole archive.
    Restoring a session that is not archived changes nothing."""
    storage = storage or archive_storage()
    session = ProcessingSession.objects.get(pk=session.pk)
    if session.archived_at is None:
        return _not_archived(
            session,
            f"Session '{session.name}' is not archived; "
            "its lines are in the database. Nothing to restore.",
        )
    location = session.archive_location
    manifest = manifest_read(storage=storage, location=location, session_id=session.pk)
    recorded = _recorded_manifest_seal(session, location)
    if recorded is not None and recorded != manifest["seal"]:
        raise ArchiveCorrupt(
            f"The manifest of {location} is not the one recorded when the session was archived."
        )
    for table in TABLES:
        _fields_check(table, manifest["tables"][table.key])
    with ExitStack() as stack:
        local = _objects_verify(storage, location, manifest, stack)
        files = _originals_put_back(manifest, local)
        try:
            rows = _restore_commit(session, manifest, local, actor, on_rows)
        except IntegrityError as exc:
            raise InvalidState(
                f"The archived lines of session '{session.name}' collide with "
                f"rows in the database ({exc}); nothing was restored."
            ) from exc
    if rows is None:
        return _not_archived(session, f"Session '{session.name}' was restored by another run.")
    return RestoreResult(
        session_id=session.pk,
        outcome=RESTORED,
        message=f"Restored {rows} lines of session '{session.name}' from {location}.",
        location=location,
        rows=rows,
        files_put_back=files,
    )
