"""What an archive holds and how its objects are written, read back and verified."""

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
from django.db import models

from core.errors import DomainError, InvalidState
from sessions_app.models import (
    CardTransaction,
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
