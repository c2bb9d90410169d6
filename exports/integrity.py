"""Checking stored export files against the size and sha256 recorded at generation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from exports.models import ExportBatch

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileProblem:
    batch_id: int
    batch_code: str
    problem: str  # "missing" or "mismatch"
    message: str


def _file_digest(batch: ExportBatch) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with batch.file.storage.open(batch.file.name or "", "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def export_file_problem(batch: ExportBatch) -> FileProblem | None:
    if not batch.file.name or not batch.file.storage.exists(batch.file.name):
        return FileProblem(
            batch.pk, batch.batch_code, "missing", f"file {batch.file.name or '(none)'} is missing"
        )
    actual, size = _file_digest(batch)
    if actual != batch.sha256 or size != batch.file_size:
        return FileProblem(
            batch.pk,
            batch.batch_code,
            "mismatch",
            f"sha256 {actual} ({size} bytes) != recorded {batch.sha256} ({batch.file_size} bytes)",
        )
    return None


def export_files_verify(
    batches: Iterable[ExportBatch] | None = None,
) -> tuple[int, list[FileProblem]]:
    """Re-hash every stored export file (streamed, so large files stay out of memory).
    Returns how many were checked and the problems found."""
    if batches is None:
        batches = ExportBatch.objects.order_by("pk").iterator(chunk_size=500)
    checked, problems = 0, []
    for batch in batches:
        checked += 1
        problem = export_file_problem(batch)
        if problem is not None:
            problems.append(problem)
    return checked, problems
