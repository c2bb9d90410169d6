"""Benchmark of the delta export (issue 4). Not a test.

    .venv/bin/python bench/export.py [--employees 100000] [--server postgres://…] [--keep]

It (re)creates its own PostgreSQL database `closebook_bench_export` on the server given
(default postgres://postgres@127.0.0.1:5432), migrates it, writes N ready employees of
one session in bulk SQL (not through the services: the data is the input here, not the
subject), vacuums and analyzes it as autovacuum would, then measures, in one process and
one run:

- change summary (the stored row, and for comparison its one-query definition) and export
  preview (median of 5 runs);
- the delta export through `export_batch_create` (selection, lines, marking with history,
  file with sha256, commit), with a per-step breakdown (the file is written by a thread
  beside the statements: its time is shown apart, it overlaps the others); then a void of
  that batch and the same export again through the portable statements (second figure);
- for scale: a raw `COPY (…) TO STDOUT` of the same rows and fields, and
  django-import-export (a bench-only extra) exporting them to CSV.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "closebook_bench_export"
PERIOD = (datetime.date(2030, 1, 1), datetime.date(2030, 1, 31))
# The pVault file's fields, as one SELECT: what COPY and django-import-export write.
PVAULT_FIELDS_SQL = """
    SELECT employee_id, employee_name, car_amount, receipt_amount,
           CASE WHEN exported_car_amount IS NULL THEN 'NEW' ELSE 'CHANGED' END,
           COALESCE(exported_car_amount, 0),
           car_amount - COALESCE(exported_car_amount, 0)
    FROM sessions_app_employeerevision
    WHERE session_id = {session} AND status IN ('matched', 'resolved')
    ORDER BY employee_id
"""


def _database_create(server: str) -> str:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    return f"{server}/{DATABASE}"


def _database_drop(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _django(database_url: str, media_root: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ["MEDIA_ROOT"] = media_root
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    # django-import-export is a bench-only extra: installed here, never in the app.
    settings.INSTALLED_APPS += ["import_export"]
    django.setup()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- Data -----------------------------------------------------------------------------------


def session_generate(employees: int) -> Any:
    """One completed session with `employees` matched revisions and their first history
    row, written with two INSERT … SELECT over generate_series."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from sessions_app.models import Engagement, ProcessingSession

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    engagement = Engagement.objects.create(name="Bench", slug="bench")
    session = ProcessingSession.objects.create(
        engagement=engagement,
        name="Bench January",
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        status="completed",
        created_by=user,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sessions_app_employeerevision
              (session_id, employee_id, employee_name, car_amount, receipt_amount, difference,
               status, has_card_lines, amount_changed, receipt_version_processed,
               resolution_note, version, updated_at)
            SELECT %s, 'E' || lpad(g::text, 7, '0'), 'Employee ' || g || ', Jr',
                   (g %% 5000) + 0.25, (g %% 5000) + 0.25, 0, 'matched', true, false, 1,
                   '', 1, now()
            FROM generate_series(1, %s) g
            """,
            [session.pk, employees],
        )
        cursor.execute(_initial_history_sql(), [user.pk])
    _vacuum_analyze()
    return user, session


def _initial_history_sql() -> str:
    from sessions_app.models import EmployeeRevision

    historical = EmployeeRevision.history.model  # type: ignore[attr-defined]
    columns = [field.column for field in historical.tracked_fields]
    return (
        f"INSERT INTO {historical._meta.db_table} ({', '.join(columns)}, history_date, "
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {', '.join(columns)}, now(), 'calculated', '+', %s "
        "FROM sessions_app_employeerevision"
    )


def _vacuum_analyze() -> None:
    """What autovacuum does after a bulk load or a mass update (this server may run with
    autovacuum off): statistics for the planner, the visibility map, dead rows pruned."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    autocommit = raw.autocommit
    raw.autocommit = True
    try:
        raw.execute("VACUUM ANALYZE")
    finally:
        raw.autocommit = autocommit


# --- Timing ---------------------------------------------------------------------------------


def median_seconds(operation: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


class StepTimers:
    """Wall time of named functions of a module, and of the COMMIT, while installed. Steps
    run by the file writer thread beside the main thread are kept apart (`beside`): they
    overlap the others and are not part of the sum."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.beside: set[str] = set()

    def wrap(self, owner: Any, attribute: str, label: str | None = None) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label or attribute] += time.perf_counter() - start

        setattr(owner, attribute, timed)

    def main_thread_seconds(self) -> float:
        return sum(s for name, s in self.seconds.items() if name not in self.beside)


def export_timers() -> StepTimers:
    from django.db import connection

    import exports.services as services

    timers = StepTimers()
    for name in (
        "_check_scope",
        "_batch_insert",
        "_lines_insert",
        "snapshots_set_with_history",
        "_references_checked",
        "_batch_file_store",
        "_generated_event",
    ):
        timers.wrap(services, name)
    beside = "_file_generate (writer thread)"
    timers.wrap(services, "_file_generate", beside)
    timers.beside.add(beside)
    timers.wrap(connection, "commit", "COMMIT")
    return timers


# --- Operations -----------------------------------------------------------------------------


def copy_to_stdout(session: Any) -> int:
    from django.db import connection

    statement = f"COPY ({PVAULT_FIELDS_SQL.format(session=int(session.pk))}) TO STDOUT (FORMAT csv)"
    size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for block in copy:
            size += len(block)
    return size


def import_export_csv(session: Any) -> int:
    from import_export import fields, resources

    from sessions_app.models import EmployeeRevision

    class RevisionResource(resources.ModelResource):
        change_type = fields.Field()
        previous_exported_amount = fields.Field()
        adjustment_amount = fields.Field()

        class Meta:
            model = EmployeeRevision
            fields = (
                "employee_id",
                "employee_name",
                "car_amount",
                "receipt_amount",
                "change_type",
                "previous_exported_amount",
                "adjustment_amount",
            )
            export_order = fields

        def dehydrate_change_type(self, revision: Any) -> str:
            return "NEW" if revision.exported_car_amount is None else "CHANGED"

        def dehydrate_previous_exported_amount(self, revision: Any) -> Any:
            return revision.exported_car_amount or 0

        def dehydrate_adjustment_amount(self, revision: Any) -> Any:
            return revision.car_amount - (revision.exported_car_amount or 0)

    rows = EmployeeRevision.objects.filter(
        session=session, status__in=EmployeeRevision.EXPORT_READY
    ).order_by("employee_id")
    return len(RevisionResource().export(queryset=rows).csv)


@contextlib.contextmanager
def portable_path() -> Iterator[None]:
    """The statements every database runs (what SQLite takes), on PostgreSQL."""
    import exports.services as services
    import exports.snapshots as snapshots

    original = snapshots.uses_returning_path
    services.uses_returning_path = snapshots.uses_returning_path = lambda: False
    try:
        yield
    finally:
        services.uses_returning_path = snapshots.uses_returning_path = original


def delta_export(session: Any, user: Any, timers: StepTimers) -> tuple[float, Any]:
    from exports.services import export_batch_create

    timers.seconds.clear()
    start = time.perf_counter()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=user)
    seconds = time.perf_counter() - start
    rest = seconds - timers.main_thread_seconds()
    timers.seconds["(rest: locks, waiting for the file, history)"] = rest
    return seconds, batch


def export_checked(session: Any, batch: Any, employees: int) -> None:
    from exports.selectors import change_summary, change_summary_computed, session_proof

    summary = change_summary(session)
    assert summary == change_summary_computed(session), summary
    assert batch.employee_count == employees, batch.employee_count
    assert summary["unchanged"] == employees, summary
    history = session.revisions.model.history.filter(session_id=session.pk)
    assert history.filter(history_type="~").count() >= employees
    assert session_proof(session).exported >= 0


# --- Report ---------------------------------------------------------------------------------


def _row(name: str, seconds: float, rows: int, copy_s: float, iex_s: float) -> str:
    rate = f"{rows / seconds:,.0f}" if rows and seconds else ""
    return f"| {name} | {seconds:.3f} | {rate} | {seconds / copy_s:.1f}x | {seconds / iex_s:.2f}x |"


def run(employees: int, server: str, keep: bool, drop_foreign_keys: bool) -> None:
    url = _database_create(server)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as media:
        _django(url, media)
        try:
            _measure(employees, drop_foreign_keys)
        finally:
            from django.db import connections

            connections.close_all()
            if not keep:
                _database_drop(server)


def foreign_keys_drop() -> None:
    """Experiment (--drop-foreign-keys): what the per-row checks of the foreign keys an
    export still writes cost, measured by running without them. Never done by the app.
    (The references to batches, sessions and users are set-based guards, checked once per
    statement; the line's revision stays a foreign key.)"""
    from django.db import connection

    checked = {"exports_exportline": ("revision_id",)}
    with connection.cursor() as cursor:
        for table, columns in checked.items():
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a "
                "ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
                "WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = ANY(%s)",
                [table, list(columns)],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                print(f"experiment: dropped {table}.{name}")


def _measure(employees: int, drop_foreign_keys: bool) -> None:
    from exports.selectors import change_summary, change_summary_computed, export_preview
    from exports.services import export_batch_void

    start = time.perf_counter()
    user, session = session_generate(employees)
    print(f"setup: {employees:,} ready employees in {time.perf_counter() - start:.1f} s")
    if drop_foreign_keys:
        foreign_keys_drop()
    results: list[tuple[str, float, int]] = []
    results.append(("change summary", median_seconds(lambda: change_summary(session), 5), 0))
    computed = median_seconds(lambda: change_summary_computed(session), 5)
    results.append(("change summary, one-query definition (what it is kept equal to)", computed, 0))
    preview = median_seconds(lambda: export_preview(session, export_type="pvault"), 5)
    results.append(("export preview (pvault, delta)", preview, 0))
    timers = export_timers()
    seconds, batch = delta_export(session, user, timers)
    export_checked(session, batch, employees)
    steps = dict(timers.seconds)
    results.append((f"delta export #1 ({batch.batch_code})", seconds, employees))
    start = time.perf_counter()
    export_batch_void(batch=batch, reason="benchmark", actor=user)
    results.append(("void of that batch", time.perf_counter() - start, employees))
    _vacuum_analyze()  # 200k rows changed: autovacuum would have passed
    with portable_path():
        seconds_again, batch = delta_export(session, user, timers)
    export_checked(session, batch, employees)
    portable_steps = dict(timers.seconds)
    name = f"delta export #2 ({batch.batch_code}), portable path for comparison"
    results.append((name, seconds_again, employees))
    copy_s = median_seconds(lambda: copy_to_stdout(session), 3)
    iex_s = median_seconds(lambda: import_export_csv(session), 1)
    results.append(("COPY … TO STDOUT, same rows and fields", copy_s, employees))
    results.append(("django-import-export CSV, same rows and fields", iex_s, employees))
    _report(results, {"#1": steps, "#2 portable": portable_steps}, copy_s, iex_s, batch)


def _report(
    results: list[tuple[str, float, int]],
    steps_of: dict[str, dict[str, float]],
    copy_s: float,
    iex_s: float,
    batch: Any,
) -> None:
    print(f"\nfile: {batch.file_size:,} bytes, sha256 {batch.sha256[:16]}…")
    print(f"machine load: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print("tables vacuumed and analyzed after the bulk load and after the void\n")
    print("| operation | seconds | rows/s | vs COPY | vs django-import-export |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, rows in results:
        print(_row(name, seconds, rows, copy_s, iex_s))
    for export, steps in steps_of.items():
        print(f"\nDelta export {export}, by step:")
        for name, seconds in sorted(steps.items(), key=lambda item: -item[1]):
            print(f"  {name:<32} {seconds:7.3f} s")
    print(f"\npeak RSS: {_peak_rss_mb():.0f} MB")
    targets = {"change summary": 0.020, "export preview (pvault, delta)": 0.200}
    for name, seconds, _rows in results:
        limit = targets.get(name, 3.0 if name.startswith("delta export") else None)
        if limit is not None:
            verdict = "ok" if seconds <= limit else "OVER"
            print(f"target {name}: {seconds:.3f} s ≤ {limit} s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--drop-foreign-keys",
        action="store_true",
        help="experiment: measure without the foreign keys an export writes",
    )
    arguments = parser.parse_args()
    server = arguments.server.rstrip("/")
    run(arguments.employees, server, arguments.keep, arguments.drop_foreign_keys)


if __name__ == "__main__":
    main()
