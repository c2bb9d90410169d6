"""reconcile --card FILE [--receipts FILE ...] [--mode replace|append] [--tolerance T]
[--profile FILE.json] [--receipts-profile FILE.json] [--currency USD] [--format json|csv|table]
reconcile --suggest-profile FILE

Parses and reconciles files without touching the database: the quickest way to check a
bank file before opening a session. A bad file prints every error and exits with code 2.
It needs no SECRET_KEY or DEBUG (manage.py runs it as an offline command)."""

from __future__ import annotations

import argparse
import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError, InvalidFile
from sessions_app.ingestion import (
    ImportSettings,
    ParsedFile,
    parse_statement,
    suggest_profile_for,
)
from sessions_app.reconciliation import EmployeeResult, apply_receipt_versions, reconcile

COLUMNS = ["employee_id", "employee_name", "car_amount", "receipt_amount", "difference", "status"]
EXIT_BAD_INPUT = 2


HELP = """Reconcile a card statement against receipts files without touching the database.

Each file is checked as an upload is: every charge is counted or the file is refused
(exit code 2, every error listed). An import summary (lines read, employees, total,
blank and summary rows, control total, warnings) is printed for each file: on stdout
with --format table, on stderr with --format json or csv so stdout stays
machine-readable.

Import profiles: when a file's headers are not the usual ones (Employee ID, Amount,
Transaction Date, ...), say which column is which in a JSON file and pass it with
--profile (card) or --receipts-profile. Each column may be one header or a list of
alternatives, the first found winning, so one profile serves a family of files
across years; headers are matched ignoring case, accents, spaces and punctuation.
Every other key is optional (empty means detect). Example, my-bank.json:

  {"columns": {"employee_id": ["Division", "Divison"],
               "employee_name": "Cardholder Name",
               "amount": "Original Gross Amt",
               "date": "Trans Date", "merchant": "Merchant Name",
               "receipt_id": "Reference"},
   "delimiter": ",", "encoding": "windows-1252", "skip_lines": 2,
   "decimal_separator": ".", "date_format": "mm-dd-yyyy",
   "charges_negative": false, "unassigned_employee_id": "UNASSIGNED"}

  manage.py reconcile --card statement.csv --profile my-bank.json

unassigned_employee_id books charges whose employee id is blank to that employee
(they show up as an exception) instead of refusing the file. A "currency" column
may be mapped too; every line must then be in --currency.

Do not know the columns? `manage.py reconcile --suggest-profile FILE` prints a
profile proposed from the file's content; check it, save it and pass it back."""


class Command(BaseCommand):
    help = HELP
    # Serves nothing and reads no database: no system checks to run first.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--card", type=Path, help="The card statement (CSV or XLSX)")
        parser.add_argument(
            "--suggest-profile",
            type=Path,
            metavar="FILE",
            help="Print an import profile (JSON) proposed from FILE's content, and stop",
        )
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
        parser.add_argument(
            "--currency",
            default=None,
            help="ISO code every line must be in when a profile maps a currency column "
            "(default: the DEFAULT_CURRENCY setting)",
        )
        parser.add_argument("--format", choices=["json", "csv", "table"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        self.output_format = options["format"]
        if options["suggest_profile"]:
            self._suggest(options["suggest_profile"])
            return
        if not options["card"]:
            raise CommandError("--card FILE is required (or --suggest-profile FILE)", returncode=2)
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

    def _suggest(self, path: Path) -> None:
        data = _read(path)
        try:
            profile = suggest_profile_for(data, file_label=path.name)
        except InvalidFile as exc:
            self._print_file_errors(exc)
            raise CommandError(exc.message, returncode=EXIT_BAD_INPUT) from exc
        if not profile:
            raise CommandError(
                f"No mapping could be proposed for {path.name}: no column of amounts and "
                "identifiers was found in its first rows.",
                returncode=EXIT_BAD_INPUT,
            )
        self.stdout.write(json.dumps(profile, indent=2, ensure_ascii=False))

    def _reconcile(self, options: dict[str, Any]) -> list[EmployeeResult]:
        tolerance = _tolerance(options["tolerance"])
        currency = (options["currency"] or settings.DEFAULT_CURRENCY).strip().upper()
        card_label = f"The card statement {options['card'].name}"
        card = _parse(options["card"], _profile(options["profile"]), card_label, currency)
        self._print_summary(card_label, card)
        receipts_settings = _profile(options["receipts_profile"])
        versions = []
        for index, path in enumerate(options["receipts"]):
            label = f"The receipts file {path.name}"
            parsed = _parse(path, receipts_settings, label, currency)
            self._print_summary(label, parsed)
            mode = "replace" if index == 0 else options["mode"]
            versions.append((mode, parsed.lines))
        receipt_lines, duplicates = apply_receipt_versions(versions)
        if duplicates:
            self.stderr.write(f"{duplicates} receipt line(s) already held were skipped.")
        return reconcile(card.lines, receipt_lines, tolerance=tolerance)

    def _print_summary(self, label: str, parsed: ParsedFile) -> None:
        """The import summary: on stderr when stdout carries JSON or CSV."""
        out = self.stdout if self.output_format == "table" else self.stderr
        out.write(f"Import summary of {label[4:]}:")
        for text in parsed.summary.as_text():
            out.write(f"  {text}")
        if self.output_format == "table":
            out.write("")

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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}", returncode=2) from exc


def _parse(
    path: Path, import_settings: ImportSettings | None, label: str, currency: str
) -> ParsedFile:
    return parse_statement(
        _read(path), settings=import_settings, file_label=label, currency=currency
    )
