"""An archive's manifest: built last, sealed, and trusted only when a session points at
its folder. Also read by the proof and the pages."""

from __future__ import annotations

import hashlib
import json
import logging
from decimal import Decimal
from typing import Any

from django.core.files.storage import Storage
from django.utils import timezone

from sessions_app.archival.format import (
    MANIFEST_KIND,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ArchiveCorrupt,
    _object_save,
    _temporary_file,
    archive_storage,
)
from sessions_app.models import (
    ProcessingSession,
)

logger = logging.getLogger(__name__)

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
