"""Files in storage that follow their transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile


@contextmanager
def files_removed_on_error() -> Iterator[list[FieldFile]]:
    """Files saved inside a transaction that then fails must not stay behind: the caller
    appends each saved file to the yielded list."""
    saved: list[FieldFile] = []
    try:
        yield saved
    except BaseException:
        for field_file in saved:
            if field_file.name:
                default_storage.delete(field_file.name)
        raise
