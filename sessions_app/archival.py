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
never archived: only CardTransaction and ReceiptLine rows, the bulk of the database.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, Protocol

from django.core.files import File
from django.core.files.storage import Storage, default_storage, storages
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from audit.models import ActivityEvent
from audit.services import activity_event_record
from core.errors import DomainError, InvalidState
from sessions_app.models import (
    CardTransaction,
    Engagement,
    ProcessingSession,
    ReceiptLine,
    ReceiptVersion,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST_KIND = "closebook-session-archive"
MANIFEST_NAME = "manifest.json"
ROW_CHUNK = 5000
READ_CHUNK = 1024 * 1024
ZERO = Decimal("0.00")

ARCHIVED = "archived"
SKIPPED = "skipped"
WOULD_ARCHIVE = "would_archive"
FAILED = "failed"
RESTORED = "restored"
NOT_ARCHIVED = "not_archived"

RowsCallback = Callable[[int], None]


class ArchiveCorrupt(DomainError):
    """An archive object or manifest does not match what was recorded: nothing is restored."""

    code = "archive_corrupt"
    http_status = 409


@dataclass(frozen=True)
class LineTable:
    """One archived table: which model, which object, and the extra keys each row carries."""

    key: str
    model: type[models.Model]
    object_name: str
    extra: tuple[tuple[str, str], ...] = ()  # (key in the row, ORM lookup)
    group_key: str | None = None  # per-group figures in the manifest

    @property
    def fields(self) -> list[models.Field]:
        return list(self.model._meta.concrete_fields)


TABLES = (
    LineTable("card_transactions", CardTransaction, "card_transactions.jsonl.gz"),
    LineTable(
        "receipt_lines",
        ReceiptLine,
        "receipt_lines.jsonl.gz",
        extra=(("receipt_version_number", "receipt_version__version"),),
        group_key="receipt_version_number",
    ),
)


@dataclass
class TableFigures:
    """Counts and sums of one table, computed the same way when writing and reading back."""

    group_key: str | None = None
    rows: int = 0
    amount_sum: Decimal = ZERO
    uncompressed_size: int = 0
    min_id: int | None = None
    max_id: int | None = None
    groups: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, row: dict[str, Any], size: int) -> None:
        amount = Decimal(row["amount"])
        self.rows += 1
        self.amount_sum += amount
        self.uncompressed_size += size
        self.min_id = row["id"] if self.min_id is None else min(self.min_id, row["id"])
        self.max_id = row["id"] if self.max_id is None else max(self.max_id, row["id"])
        if self.group_key:
            group = self.groups.setdefault(str(row[self.group_key]), [0, ZERO])
            group[0] += 1
            group[1] += amount

    def as_manifest(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "rows": self.rows,
            "amount_sum": str(self.amount_sum),
            "uncompressed_size": self.uncompressed_size,
            "min_id": self.min_id,
            "max_id": self.max_id,
        }
        if self.group_key:
            figures["by_" + self.group_key] = {
                key: {"rows": rows, "amount_sum": str(total)}
                for key, (rows, total) in sorted(self.groups.items(), key=lambda kv: int(kv[0]))
            }
        return figures


@dataclass(frozen=True)
class ArchiveResult:
    session_id: int
    session_name: str
    outcome: str  # archived / skipped / would_archive / failed
    message: str
    location: str = ""
    rows: int = 0
    bytes_before: int = 0  # the lines as uncompressed JSON Lines
    bytes_after: int = 0  # the same lines gzip-compressed in the archive

    @property
    def ratio(self) -> Decimal | None:
        return compression_ratio(self.bytes_before, self.bytes_after)


@dataclass(frozen=True)
class RestoreResult:
    session_id: int
    outcome: str  # restored / not_archived
    message: str
    location: str = ""
    rows: int = 0
    files_put_back: int = 0


class ArchiveProgress(Protocol):
    """What a command shows while sessions are archived."""

    def begin(self, *, sessions: int, rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...

    def session_done(self, result: ArchiveResult) -> None: ...


def compression_ratio(bytes_before: int, bytes_after: int) -> Decimal | None:
    if not bytes_after:
        return None
    return (Decimal(bytes_before) / Decimal(bytes_after)).quantize(Decimal("0.01"))


def archive_storage() -> Storage:
    return storages["archive"]


# --- Reading an archive (also used by the proof and the pages) --------------------------------


def _seal(manifest: dict[str, Any]) -> str:
    body = {key: value for key, value in manifest.items() if key != "seal"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def manifest_read(*, storage: Storage, location: str, session_id: int) -> dict[str, Any]:
    """The archive's manifest, refused unless its seal holds and it describes this session."""
    name = f"{location}/{MANIFEST_NAME}"
    try:
        with storage.open(name, "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ArchiveCorrupt(f"The archive manifest {name} cannot be read: {exc}.") from exc
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ArchiveCorrupt(f"The archive manifest {name} is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise ArchiveCorrupt(f"{name} is not a Closebook archive manifest.")
    if manifest.get("seal") != _seal(manifest):
        raise ArchiveCorrupt(f"The archive manifest {name} was altered or truncated.")
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise ArchiveCorrupt(
            f"{name} has schema version {manifest['schema_version']}, newer "
            "than this Closebook can read."
        )
    if manifest["session"]["id"] != session_id:
        raise ArchiveCorrupt(
            f"{name} belongs to session {manifest['session']['id']}, not {session_id}."
        )
    return manifest


def archive_manifest_for(
    session: ProcessingSession, *, storage: Storage | None = None
) -> dict[str, Any] | None:
    """The verified manifest of an archived session, None when its lines are in the database."""
    if session.archived_at is None:
        return None
    return manifest_read(
        storage=storage or archive_storage(),
        location=session.archive_location,
        session_id=session.pk,
    )


def archived_statement_total(
    session: ProcessingSession, *, storage: Storage | None = None
) -> Decimal | None:
    """The statement total (sum of card lines) of an archived session, from its manifest;
    None when the session is not archived (then sum the CardTransaction rows)."""
    manifest = archive_manifest_for(session, storage=storage)
    if manifest is None:
        return None
    return Decimal(manifest["tables"]["card_transactions"]["amount_sum"])


def archived_lines_notice(session: ProcessingSession) -> str:
    """What pages and API say where a session's lines are needed but archived ('' if not)."""
    if session.archived_at is None:
        return ""
    return (
        f"The card and receipt lines of session '{session.name}' were archived on "
        f"{session.archived_at:%Y-%m-%d} to {session.archive_location}. Employee totals, "
        "revisions and exports are still here; to see the lines again, restore the session "
        f"(manage.py restore_session {session.pk})."
    )


# --- Writing objects --------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):  # datetimes too
        return value.isoformat()
    return value


def _table_rows(table: LineTable, session: ProcessingSession) -> Iterator[dict[str, Any]]:
    names = [f.attname for f in table.fields] + [key for key, _ in table.extra]
    lookups = [f.attname for f in table.fields] + [lookup for _, lookup in table.extra]
    queryset = table.model._default_manager.filter(session=session).order_by("pk")
    for values in queryset.values_list(*lookups).iterator(chunk_size=ROW_CHUNK):
        yield {name: _json_value(value) for name, value in zip(names, values, strict=True)}


def _row_bytes(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _table_dump(
    table: LineTable, session: ProcessingSession, spool: IO[bytes], on_rows: RowsCallback | None
) -> TableFigures:
    """Write the table's rows of this session to `spool` as gzip-compressed JSON Lines."""
    figures = TableFigures(group_key=table.group_key)
    pending = 0
    # filename="" and mtime=0: the same rows always give the same bytes (and digest).
    with gzip.GzipFile(filename="", mode="wb", fileobj=spool, mtime=0) as compressed:
        for row in _table_rows(table, session):
            data = _row_bytes(row)
            compressed.write(data)
            figures.add(row, len(data))
            pending += 1
            if on_rows and pending == ROW_CHUNK:
                on_rows(pending)
                pending = 0
    if on_rows and pending:
        on_rows(pending)
    spool.seek(0)
    return figures


def _temporary_file() -> IO[bytes]:
    # Local scratch space: a million lines are too many to hold in memory.
    return tempfile.TemporaryFile()


def _digest(handle: IO[bytes]) -> tuple[str, int]:
    handle.seek(0)
    sha, size = hashlib.sha256(), 0
    while chunk := handle.read(READ_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return sha.hexdigest(), size


def _object_save(
    storage: Storage, location: str, name: str, handle: IO[bytes], written: list[str]
) -> dict[str, Any]:
    sha256, size = _digest(handle)
    wanted = f"{location}/{name}"
    written.append(wanted)  # before saving: a save that fails half-way may leave a file
    stored = storage.save(wanted, File(handle, name=name.rsplit("/", 1)[-1]))
    if stored != wanted:
        written.append(stored)
        raise InvalidState(f"Archive storage renamed {wanted} to {stored}; the folder is not new.")
    return {"sha256": sha256, "size": size}


def _original_files(session: ProcessingSession) -> list[str]:
    """Storage names of the uploaded files; a rollback version shares its source's file."""
    names: list[str] = [session.card_file.name] if session.card_file.name else []
    versions = ReceiptVersion.objects.filter(session=session).exclude(file="").order_by("version")
    for name in versions.values_list("file", flat=True):
        if name and name not in names:
            names.append(name)
    return names


def _file_copy(
    storage: Storage, location: str, source: str, stack: ExitStack, written: list[str]
) -> tuple[str, dict[str, Any]]:
    spool = stack.enter_context(_temporary_file())
    try:
        with default_storage.open(source, "rb") as original:
            while chunk := original.read(READ_CHUNK):
                spool.write(chunk)
    except FileNotFoundError:
        raise InvalidState(
            f"The uploaded file {source} is missing from storage; it cannot be archived."
        ) from None
    name = f"files/{source}"
    return name, {**_object_save(storage, location, name, spool, written), "source": source}


# --- Reading objects back ---------------------------------------------------------------------


def _fetch_verified(
    storage: Storage, location: str, name: str, expected: dict[str, Any], stack: ExitStack
) -> IO[bytes]:
    """A local copy of an archive object, refused unless its size and sha256 match."""
    spool = stack.enter_context(_temporary_file())
    full_name = f"{location}/{name}"
    try:
        with storage.open(full_name, "rb") as stored:
            while chunk := stored.read(READ_CHUNK):
                spool.write(chunk)
    except (FileNotFoundError, OSError) as exc:
        raise ArchiveCorrupt(f"Archive object {full_name} cannot be read: {exc}.") from exc
    sha256, size = _digest(spool)
    if (sha256, size) != (expected["sha256"], expected["size"]):
        raise ArchiveCorrupt(
            f"Archive object {full_name} does not match its manifest (sha256 {sha256[:12]}…, "
            f"{size} bytes; expected {expected['sha256'][:12]}…, {expected['size']} bytes).",
            details={"object": full_name},
        )
    return spool


def _rows_read(handle: IO[bytes]) -> Iterator[tuple[dict[str, Any], int]]:
    handle.seek(0)
    with gzip.GzipFile(fileobj=handle, mode="rb") as lines:
        for line in lines:
            yield json.loads(line), len(line)


def _figures_read(table: LineTable, handle: IO[bytes]) -> TableFigures:
    figures = TableFigures(group_key=table.group_key)
    for row, size in _rows_read(handle):
        figures.add(row, size)
    return figures


def _objects_verify(
    storage: Storage, location: str, manifest: dict[str, Any], stack: ExitStack
) -> dict[str, IO[bytes]]:
    """Every object fetched and checked against the manifest: hashes, then counts and sums."""
    local = {
        name: _fetch_verified(storage, location, name, expected, stack)
        for name, expected in manifest["objects"].items()
    }
    for table in TABLES:
        recorded = manifest["tables"][table.key]
        figures = _figures_read(table, local[recorded["object"]]).as_manifest()
        if any(figures[key] != recorded[key] for key in figures):
            raise ArchiveCorrupt(
                f"The {table.key} of {location} do not add up to the manifest's counts and sums.",
                details={"archive": figures, "manifest": recorded},
            )
    return local


def _objects_delete(storage: Storage, names: list[str]) -> None:
    for name in reversed(names):
        try:
            storage.delete(name)
        except Exception:  # cleaning up after a failure must not hide the failure
            logger.warning("Could not delete archive object %s", name, exc_info=True)


# --- Archiving --------------------------------------------------------------------------------


def _new_location(session: ProcessingSession) -> str:
    # A fresh folder per attempt: a failed attempt can never mix with a later one.
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    return f"{session.engagement.slug}/session-{session.pk}/{stamp}"


def _manifest_build(
    session: ProcessingSession,
    actor: Any,
    tables: dict[str, dict[str, Any]],
    objects: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    line_objects = [objects[t["object"]]["size"] for t in tables.values()]
    manifest: dict[str, Any] = {
        "kind": MANIFEST_KIND,
        "schema_version": SCHEMA_VERSION,
        "created_at": timezone.now().isoformat(),
        "created_by": actor.get_username() if actor is not None else "system",
        "session": {
            "id": session.pk,
            "name": session.name,
            "engagement": session.engagement.slug,
            "period_start": session.period_start.isoformat(),
            "period_end": session.period_end.isoformat(),
            "closed_at": session.closed_at.isoformat() if session.closed_at else None,
        },
        "tables": tables,
        "objects": objects,
        "totals": {
            "rows": sum(t["rows"] for t in tables.values()),
            "bytes_before": sum(t["uncompressed_size"] for t in tables.values()),
            "bytes_after": sum(line_objects),
            "files_bytes": sum(o["size"] for o in objects.values() if "source" in o),
        },
    }
    manifest["seal"] = _seal(manifest)
    return manifest


def _archive_write(
    session: ProcessingSession,
    actor: Any,
    storage: Storage,
    location: str,
    written: list[str],
    on_rows: RowsCallback | None,
) -> dict[str, Any]:
    """Write every object, read all of them back, and only then the manifest."""
    tables: dict[str, dict[str, Any]] = {}
    objects: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        for table in TABLES:
            spool = stack.enter_context(_temporary_file())
            figures = _table_dump(table, session, spool, on_rows)
            objects[table.object_name] = _object_save(
                storage, location, table.object_name, spool, written
            )
            fields = [f.attname for f in table.fields] + [key for key, _ in table.extra]
            tables[table.key] = {"object": table.object_name, "fields": fields}
            tables[table.key].update(figures.as_manifest())
        for source in _original_files(session):
            name, entry = _file_copy(storage, location, source, stack, written)
            objects[name] = entry
    manifest = _manifest_build(session, actor, tables, objects)
    with ExitStack() as stack:
        _objects_verify(storage, location, manifest, stack)
    _manifest_save(storage, location, manifest, written)
    return manifest


def _manifest_save(
    storage: Storage, location: str, manifest: dict[str, Any], written: list[str]
) -> None:
    with _temporary_file() as spool:
        spool.write(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode())
        _object_save(storage, location, MANIFEST_NAME, spool, written)
    read_back = manifest_read(
        storage=storage, location=location, session_id=manifest["session"]["id"]
    )
    if read_back != manifest:
        raise ArchiveCorrupt(f"The manifest of {location} did not read back as written.")


class _ArchivedMeanwhile(Exception):
    """Another run archived the session while this one was writing."""


def _lines_match(session: ProcessingSession, manifest: dict[str, Any]) -> None:
    """The rows about to be deleted are exactly the rows archived (a closed session's lines
    do not change, but a delete is not the place to assume it)."""
    for table in TABLES:
        recorded = manifest["tables"][table.key]
        # Summed as whole cents: SQLite keeps decimals as floats, and a float sum of a
        # million amounts is off by a fraction of a cent.
        held = table.model._default_manager.filter(session=session).aggregate(
            rows=Count("pk"), cents=Sum(Round(F("amount") * 100))
        )
        cents = Decimal(str(held["cents"] or 0))
        if (held["rows"], cents) != (recorded["rows"], Decimal(recorded["amount_sum"]) * 100):
            raise InvalidState(
                f"The {table.key} of session '{session.name}' changed while it was archived; "
                "nothing was deleted."
            )


def _archive_commit(
    session: ProcessingSession, manifest: dict[str, Any], location: str, actor: Any
) -> ProcessingSession:
    totals = manifest["totals"]
    with transaction.atomic():
        locked = ProcessingSession.objects.select_for_update().get(pk=session.pk)
        if locked.archived_at is not None:
            raise _ArchivedMeanwhile
        _lines_match(locked, manifest)
        for table in TABLES:
            table.model._default_manager.filter(session=locked).delete()
        locked.archived_at = timezone.now()
        locked.archive_location = location
        locked._history_user = actor  # type: ignore[attr-defined]
        locked._change_reason = f"lines archived to {location}"[:100]  # type: ignore[attr-defined]
        locked.save(update_fields=["archived_at", "archive_location", "updated_at"])
        ratio = compression_ratio(totals["bytes_before"], totals["bytes_after"])
        activity_event_record(
            verb=ActivityEvent.Verb.SESSION_ARCHIVED,
            message=f"Session '{locked.name}' archived: {totals['rows']} lines to {location}",
            actor=actor,
            session=locked,
            details={
                "location": location,
                "manifest_sha256": manifest["seal"],
                "rows": totals["rows"],
                "bytes_before": totals["bytes_before"],
                "bytes_after": totals["bytes_after"],
                "files_bytes": totals["files_bytes"],
                "ratio": str(ratio) if ratio is not None else None,
                "card_amount_sum": manifest["tables"]["card_transactions"]["amount_sum"],
                "receipt_amount_sum": manifest["tables"]["receipt_lines"]["amount_sum"],
            },
        )
    return locked


def _skipped(session: ProcessingSession, message: str) -> ArchiveResult:
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=SKIPPED,
        message=message,
        location=session.archive_location,
    )


def session_archive(
    *,
    session: ProcessingSession,
    actor: Any,
    storage: Storage | None = None,
    on_rows: RowsCallback | None = None,
) -> ArchiveResult:
    """Move a closed session's lines to archive storage, verified, then delete them."""
    storage = storage or archive_storage()
    session = ProcessingSession.objects.select_related("engagement").get(pk=session.pk)
    if session.archived_at is not None:
        return _skipped(
            session,
            f"Session '{session.name}' is already archived "
            f"(on {session.archived_at:%Y-%m-%d}, to {session.archive_location}).",
        )
    if not session.is_closed:
        raise InvalidState(
            f"Only closed sessions can be archived: '{session.name}' is {session.status}."
        )
    location = _new_location(session)
    written: list[str] = []
    try:
        manifest = _archive_write(session, actor, storage, location, written, on_rows)
        _archive_commit(session, manifest, location, actor)
    except _ArchivedMeanwhile:
        _objects_delete(storage, written)
        session.refresh_from_db()
        return _skipped(session, f"Session '{session.name}' was archived by another run.")
    except BaseException:
        _objects_delete(storage, written)
        raise
    totals = manifest["totals"]
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=ARCHIVED,
        message=f"Archived {totals['rows']} lines to {location}.",
        location=location,
        rows=totals["rows"],
        bytes_before=totals["bytes_before"],
        bytes_after=totals["bytes_after"],
    )


# --- Archiving many ---------------------------------------------------------------------------


def _line_count(model: type[models.Model]) -> Coalesce:
    counts = (
        model._default_manager.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts[:1]), Value(0))


def archive_candidates(
    *, closed_before: datetime.date | datetime.datetime, engagement: Engagement | None = None
) -> QuerySet[ProcessingSession]:
    """Closed, not yet archived sessions closed before a date, with their line counts."""
    if not isinstance(closed_before, datetime.datetime):
        closed_before = datetime.datetime.combine(closed_before, datetime.time.min)
    if timezone.is_naive(closed_before):
        closed_before = timezone.make_aware(closed_before)
    sessions = ProcessingSession.objects.filter(
        status=ProcessingSession.Status.CLOSED,
        archived_at__isnull=True,
        closed_at__lt=closed_before,
    )
    if engagement is not None:
        sessions = sessions.filter(engagement=engagement)
    return (
        sessions.select_related("engagement")
        .annotate(card_rows=_line_count(CardTransaction), receipt_rows=_line_count(ReceiptLine))
        .order_by("closed_at", "pk")
    )


def _archive_one(
    session: ProcessingSession, actor: Any, storage: Storage | None, on_rows: RowsCallback | None
) -> ArchiveResult:
    try:
        return session_archive(session=session, actor=actor, storage=storage, on_rows=on_rows)
    except Exception as exc:  # one session's failure must not stop the others
        if isinstance(exc, DomainError):
            reason = exc.message
            logger.warning("Archiving session %s refused: %s", session.pk, reason)
        else:
            reason = f"{type(exc).__name__}: {exc}"
            logger.exception("Archiving session %s failed", session.pk)
        return ArchiveResult(
            session_id=session.pk, session_name=session.name, outcome=FAILED, message=reason
        )


def sessions_archive_closed_before(
    *,
    closed_before: datetime.date | datetime.datetime,
    engagement: Engagement | None = None,
    dry_run: bool = False,
    actor: Any = None,
    storage: Storage | None = None,
    progress: ArchiveProgress | None = None,
) -> list[ArchiveResult]:
    """Archive every closed session closed before a date; a dry run only counts."""
    candidates = list(archive_candidates(closed_before=closed_before, engagement=engagement))
    if progress:
        total = sum(s.card_rows + s.receipt_rows for s in candidates)  # type: ignore[attr-defined]
        progress.begin(sessions=len(candidates), rows=total)
    results = []
    for session in candidates:
        if dry_run:
            result = _would_archive(session)
            if progress:
                progress.advance(result.rows)
        else:
            result = _archive_one(session, actor, storage, progress.advance if progress else None)
        results.append(result)
        if progress:
            progress.session_done(result)
    return results


def _would_archive(session: ProcessingSession) -> ArchiveResult:
    rows = session.card_rows + session.receipt_rows  # type: ignore[attr-defined]
    return ArchiveResult(
        session_id=session.pk,
        session_name=session.name,
        outcome=WOULD_ARCHIVE,
        message=f"Would archive {rows} lines.",
        rows=rows,
    )


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
        locked._history_user = actor  # type: ignore[attr-defined]
        locked._change_reason = f"lines restored from {location}"[:100]  # type: ignore[attr-defined]
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
