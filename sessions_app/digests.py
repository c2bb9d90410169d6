"""Per employee, a fingerprint of their lines in one receipts version.

Line matching pairs again only the employees whose receipt lines in effect changed
(matching.pairing): a `replace` upload of a complete report gives every line a new row, so
"changed" is decided by content — each employee's (date, amount, receipt id, merchant) in
line-number order — not by row ids. The fingerprints are made as the lines are stored, from
the rows already in memory."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from core.bulk import lines_insert
from sessions_app.models import ReceiptDigest, ReceiptVersion

DigestRow = tuple[str, int, Any, Any, str, str]  # employee, line number, date, amount, id, merchant


def line_fingerprint(date: Any, amount: Any, receipt_id: str, merchant: str) -> str:
    day = date.isoformat() if date is not None else ""
    return f"{day}|{Decimal(str(amount)):.2f}|{receipt_id or ''}|{merchant or ''}"


def employee_digests(rows: Iterable[DigestRow]) -> dict[str, tuple[int, str]]:
    """employee → (number of lines, md5 of their fingerprints in line-number order)."""
    lines: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for employee_id, line_number, date, amount, receipt_id, merchant in rows:
        lines[employee_id].append(
            (line_number, line_fingerprint(date, amount, receipt_id, merchant))
        )
    digests = {}
    for employee_id, found in lines.items():
        found.sort(key=lambda item: item[0])
        text = "\n".join(fingerprint for _, fingerprint in found)
        digests[employee_id] = (
            len(found),
            hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        )
    return digests


def receipt_digests_store(version: ReceiptVersion, rows: Iterable[DigestRow]) -> int:
    """Store the fingerprints of `version`'s lines (rows as DigestRow)."""
    return lines_insert(
        ReceiptDigest,
        (
            {"receipt_version_id": version.pk, "employee_id": employee_id, "lines": count,
             "digest": digest}
            for employee_id, (count, digest) in employee_digests(rows).items()
        ),
    )  # fmt: skip
