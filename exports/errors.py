"""Errors of the exports domain, in the DomainError family every door already handles."""

from __future__ import annotations

from core.errors import DomainError


class ExportFileCorrupt(DomainError):
    """A stored export file is missing or no longer matches the sha256 recorded when it
    was generated. Nothing is served: the file pVault loaded can no longer be proven."""

    code = "export_file_corrupt"
    http_status = 500


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key already made a batch for a different request (another session,
    type, scope or body): replaying that batch would tell the caller something was made
    that was not (SPEC §6, as Stripe does)."""

    code = "idempotency_key_reused"
    http_status = 422
