"""Errors of the exports domain, in the DomainError family every door already handles."""

from __future__ import annotations

from core.errors import DomainError


class ExportFileCorrupt(DomainError):
    """A stored export file is missing or no longer matches the sha256 recorded when it
    was generated. Nothing is served: the file pVault loaded can no longer be proven."""

    code = "export_file_corrupt"
    http_status = 500
