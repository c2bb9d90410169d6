"""reconcile --card FILE [--receipts FILE ...] [--mode replace|append] [--tolerance T]
[--profile FILE.json] [--receipts-profile FILE.json] [--format json|csv|table]

Parses and reconciles files without touching the database: the quickest way to check a
bank file before opening a session. A bad file prints every error and exits with code 2."""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError, InvalidFile
from sessions_app.ingestion import ImportSettings, parse_statement
from sessions_app.reconciliation import EmployeeResult, apply_receipt_versions, reconcile

COLUMNS = ["employee_id", "employee_name", "car_amount", "receipt_amount", "difference", "status"]
EXIT_BAD_INPUT = 2


class Command(BaseCommand):
    help = "Reconcile a card statement against receipts files without touching the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--card", required=True, type=Path)
        parser.add_argument(
            "--receipts",
            action="append",
            type=Path,
            default=[],
            help="Receipts file; repeat it to apply several versions in order",
        )
        parser.add_argument("--mode", choices=["replace", "append"], default="replace")
        parser.add_argument("--tolerance", default="0.00")
        parser.add_argument("--profile", type=Path, help="Import profile (JSON) for the card file")
        parser.add_argument("--receipts-profile", type=Path, help="Import profile for receipts")
        parser.add_argument("--format", choices=["json", "csv", "table"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        self.output_format = options["format"]
        try:
            results = self._reconcile(options)
        except InvalidFile as exc:
            self._print_file_errors(exc)
            raise CommandError(exc.message, returncode=EXIT_BAD_INPUT) from exc
        except DomainError as exc:
            raise CommandError(exc.message, returncode=EXIT_BAD_INPUT) from exc
        rows = [_row(result) for result in results]
        {"json": self._print_json, "csv": self._print_csv, "table": self._print_table}[
            self.output_format
        ](rows)

    def _reconcile(self, options: dict[str, Any]) -> list[EmployeeResult]:
        tolerance = _tolerance(options["tolerance"])
        card = _parse(options["card"], _profile(options["profile"]), "The card statement")
        receipts_settings = _profile(options["receipts_profile"])
        versions = []
        for index, path in enumerate(options["receipts"]):
            parsed = _parse(path, receipts_settings, f"The receipts file {path.name}")
            mode = "replace" if index == 0 else options["mode"]
            versions.append((mode, parsed.lines))
        receipt_lines, duplicates = apply_receipt_versions(versions)
        if duplicates:
            self.stderr.write(f"{duplicates} receipt line(s) already held were skipped.")
        return reconcile(card.lines, receipt_lines, tolerance=tolerance)

    def _print_file_errors(self, exc: InvalidFile) -> None:
        if self.output_format == "json":
            body = {"error": {**exc.as_dict(), "error_count": exc.error_count}}
            self.stdout.write(json.dumps(body, indent=2))
            return
        self.stdout.write(exc.message)
        self.stdout.write(f"{'line':>6}  {'column':<20}  {'value':<24}  reason")
        for error in exc.details:
            self.stdout.write(
                f"{error['line'] or '':>6}  {(error['column'] or '')[:20]:<20}  "
                f"{(error['value'] or '')[:24]:<24}  {error['message']}"
            )
        if exc.error_count > len(exc.details):
            self.stdout.write(f"... and {exc.error_count - len(exc.details)} more")

    def _print_json(self, rows: list[dict[str, str]]) -> None:
        self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))

    def _print_csv(self, rows: list[dict[str, str]]) -> None:
        writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    def _print_table(self, rows: list[dict[str, str]]) -> None:
        widths = {c: max([len(c), *(len(row[c]) for row in rows)]) for c in COLUMNS}
        numeric = {"car_amount", "receipt_amount", "difference"}

        def line(values: dict[str, str]) -> str:
            return "  ".join(
                values[c].rjust(widths[c]) if c in numeric else values[c].ljust(widths[c])
                for c in COLUMNS
            ).rstrip()

        self.stdout.write(line({c: c for c in COLUMNS}))
        for row in rows:
            self.stdout.write(line(row))


def _row(result: EmployeeResult) -> dict[str, str]:
    return {
        "employee_id": result.employee_id,
        "employee_name": result.employee_name,
        "car_amount": f"{result.car_amount:.2f}",
        "receipt_amount": f"{result.receipt_amount:.2f}",
        "difference": f"{result.difference:.2f}",
        "status": result.status,
    }


def _tolerance(text: str) -> Decimal:
    try:
        tolerance = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise CommandError(f"--tolerance {text!r} is not an amount", returncode=2) from None
    if tolerance < 0:
        raise CommandError("--tolerance cannot be negative", returncode=EXIT_BAD_INPUT)
    return tolerance


def _profile(path: Path | None) -> ImportSettings | None:
    if path is None:
        return None
    try:
        return ImportSettings.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read the profile {path}: {exc}", returncode=2) from exc


def _parse(path: Path, settings: ImportSettings | None, label: str) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}", returncode=2) from exc
    return parse_statement(data, settings=settings, file_label=label)
