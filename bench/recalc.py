"""Benchmark of the recalculation engine (issue 3). Not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cb_bench .venv/bin/python bench/recalc.py
    .venv/bin/python bench/recalc.py --employees 10000 100000 --changed 0.3

For each N it generates a card statement of N employees x 5 lines and a receipts report of
~5 lines each, then, the way the app does it:

1. initial processing: `session_create` (parse, store lines, queue the job) in one process
   — the web process — and the job (`recalc_job_run`) in another — the worker;
2. reprocessing: `receipt_version_upload` of a new receipts version in which 30 % of the
   employees changed, then its job;
3. the same rows written by a raw PostgreSQL COPY (into copies of the real tables, indexes
   included, committed, then dropped), for scale.

"Processing" is what follows the upload's validation: storing the lines (COPY, in the upload
request, inside its transaction) and the job. Parsing is reported beside it.

Every phase runs in a child process, so "peak RSS" is that process's own high-water mark.
The data is written to DATABASE_URL's database and removed afterwards (--keep keeps it):
use a scratch database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CARD_LINES_PER_EMPLOYEE = 5


# --- Data ---------------------------------------------------------------------------------------


def _cents(rnd: random.Random) -> int:
    return rnd.randint(100, 99_999)


def _money(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):.2f}"


def generate_files(folder: Path, employees: int, changed: float, seed: int = 3) -> dict[str, int]:
    """card.csv, receipts_v1.csv, receipts_v2.csv; v2 changes `changed` of the employees."""
    rnd = random.Random(seed)
    card = ["Employee ID,Cardholder Name,Transaction Date,Merchant,Amount"]
    receipts_v1 = ["Employee Number,Employee Name,Receipt Date,Receipt ID,Amount"]
    receipts_v2 = list(receipts_v1)
    changed_ids = set(rnd.sample(range(employees), int(employees * changed)))
    counts: dict[str, int] = defaultdict(int)
    for number in range(employees):
        employee = f"E{number:07d}"
        name = f"Employee {number}"
        charges = [_cents(rnd) for _ in range(CARD_LINES_PER_EMPLOYEE)]
        for day, cents in enumerate(charges, start=1):
            card.append(f"{employee},{name},2026-10-{day:02d},MERCHANT {day},{_money(cents)}")
        # ~5 receipts: most employees hand in every receipt, a fifth miss one.
        kept = charges if rnd.random() < 0.8 else charges[:-1]
        for index, cents in enumerate(kept):
            line = f"{employee},{name},2026-10-{index + 1:02d},R{number}-{index},{_money(cents)}"
            receipts_v1.append(line)
            if number in changed_ids and index == 0:
                line = f"{employee},{name},2026-10-01,R{number}-0,{_money(cents + 1)}"
            receipts_v2.append(line)
        if number in changed_ids:
            counts["changed"] += 1
    for name, rows in (("card", card), ("receipts_v1", receipts_v1), ("receipts_v2", receipts_v2)):
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        counts[name] = len(rows) - 1
    return dict(counts)


# --- Child phases (each in its own process) -----------------------------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["Q_SYNC"] = "0"
    import django

    django.setup()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timers:
    """Adds up the time spent in wrapped callables (parse, line inserts)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start

        setattr(owner, attribute, timed)


def _upload_timers() -> Timers:
    import recalc.services
    import sessions_app.services.uploads

    timers = Timers()
    timers.wrap(sessions_app.services.uploads, "parse_statement", "parse")
    timers.wrap(sessions_app.services.uploads, "lines_insert", "store lines")
    # The benchmark runs the job itself, in the "worker" child: no broker hand-off.
    recalc.services.recalc_job_dispatch = lambda *, job_id: None  # type: ignore[assignment]
    return timers


def child_upload(folder: Path, employees: int) -> dict[str, Any]:
    import datetime

    from django.core.files.uploadedfile import SimpleUploadedFile

    from sessions_app.models import Engagement, Membership
    from sessions_app.services import membership_grant, session_create
    from tests.factories import UserFactory

    timers = _upload_timers()
    engagement = Engagement.objects.create(
        name=f"Bench {employees}", slug=f"bench-{time.time_ns()}"
    )
    user = UserFactory(username=f"bench-{time.time_ns()}")
    membership_grant(engagement=engagement, user=user, role=Membership.Role.OPERATOR)
    start = time.perf_counter()
    session = session_create(
        engagement=engagement,
        name=f"Bench {employees}",
        period_start=datetime.date(2026, 10, 1),
        period_end=datetime.date(2026, 10, 31),
        tolerance=Decimal("1.00"),
        card_file=SimpleUploadedFile("card.csv", (folder / "card.csv").read_bytes()),
        receipts_file=SimpleUploadedFile("v1.csv", (folder / "receipts_v1.csv").read_bytes()),
        actor=user,
    )
    total = time.perf_counter() - start
    job = session.recalc_jobs.get()
    return {
        "session": session.pk,
        "engagement": engagement.pk,
        "job": job.pk,
        "seconds": total,
        **timers.seconds,
        "rss_mb": _peak_rss_mb(),
    }


def child_reupload(folder: Path, session_id: int) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from sessions_app.models import ProcessingSession
    from sessions_app.services import receipt_version_upload

    timers = _upload_timers()
    session = ProcessingSession.objects.get(pk=session_id)
    start = time.perf_counter()
    version = receipt_version_upload(
        session=session,
        file=SimpleUploadedFile("v2.csv", (folder / "receipts_v2.csv").read_bytes()),
        actor=session.created_by,
    )
    total = time.perf_counter() - start
    job = version.recalc_jobs.get()
    return {"job": job.pk, "seconds": total, **timers.seconds, "rss_mb": _peak_rss_mb()}


def child_job(job_id: int, matching: bool = True) -> dict[str, Any]:
    import recalc.runner
    from recalc import progress
    from recalc.models import RecalcJob
    from recalc.services import recalc_job_run

    timers = Timers()
    beside: dict[str, float] = {}
    if matching:
        timers.wrap(recalc.runner, "session_matching_store", "matching")
        original_store = recalc.runner.session_matching_store

        def store(*args: Any, **kwargs: Any) -> Any:
            prepared = kwargs.get("prepared")
            if prepared is not None:
                beside["seconds"] = prepared.seconds
            return original_store(*args, **kwargs)

        recalc.runner.session_matching_store = store  # type: ignore[assignment]
    else:  # the job as it was before line matching, for comparison
        recalc.runner.session_matching_store = lambda *args, **kwargs: None  # type: ignore
        recalc.runner.matching_beside_start = lambda *args, **kwargs: None  # type: ignore
    marks: list[tuple[int, float]] = []
    original_begin = progress.JobMonitor.begin

    def begin(self: Any, stage: int, message: str, *, total: int = 0) -> None:
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))
        original_begin(self, stage, message, total=total)

    progress.JobMonitor.begin = begin  # type: ignore[method-assign]
    start = time.perf_counter()
    job = recalc_job_run(job_id=job_id)
    end = time.perf_counter()
    assert job is not None and job.status == RecalcJob.Status.COMPLETED, job and job.message
    stages: dict[str, float] = defaultdict(float)
    for (stage, at), (_, until) in zip(marks, [*marks[1:], (0, end)], strict=True):
        stages[progress.STAGES[stage]] += until - at
    if matching:
        stages["apply: of which line matching (in the apply)"] = timers.seconds["matching"]
        if "seconds" in beside:
            stages["line matching beside the job (second connection)"] = beside["seconds"]
    return {
        "seconds": end - start,
        "matching": timers.seconds.get("matching", 0.0),
        "beside": beside.get("seconds"),
        "stages": dict(stages),
        "diff": job.diff.get("counts"),
        "rss_mb": _peak_rss_mb(),
    }


def child_copy(session_id: int, phase: str) -> dict[str, Any]:
    """COPY the rows `phase` wrote into same-shaped logged tables (indexes included), commit,
    then drop them: what the same rows cost PostgreSQL with no application around them."""
    from django.db import connection

    from sessions_app.models import CardTransaction, EmployeeRevision, ReceiptLine

    history = EmployeeRevision.history.model  # type: ignore[attr-defined]
    reason = "receipts v1 applied" if phase == "initial" else "receipts v2 applied"
    written = history.objects.filter(session_id=session_id, history_change_reason=reason)
    version = 1 if phase == "initial" else 2
    sources = [
        ReceiptLine.objects.filter(session_id=session_id, receipt_version__version=version),
        written,
        EmployeeRevision.objects.filter(pk__in=written.values("id")),
    ]
    if phase == "initial":
        sources.append(CardTransaction.objects.filter(session_id=session_id))
    tables = []
    for queryset in sources:
        fields = queryset.model._meta.concrete_fields
        rows = list(queryset.values_list(*[f.attname for f in fields]))
        tables.append((queryset.model._meta.db_table, [f.column for f in fields], rows))
    with connection.cursor() as cursor:
        for table, _, _ in tables:
            cursor.execute(f'CREATE TABLE "bench_{table}" (LIKE "{table}" INCLUDING ALL)')
        start = time.perf_counter()
        with transaction_for(connection):
            for table, columns, rows in tables:
                names = ", ".join(f'"{column}"' for column in columns)
                with cursor.cursor.copy(f'COPY "bench_{table}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
        seconds = time.perf_counter() - start  # commit included
        for table, _, _ in tables:
            cursor.execute(f'DROP TABLE "bench_{table}"')
    return {"rows": sum(len(rows) for _, _, rows in tables), "seconds": seconds}


def child_chase(session_id: int) -> dict[str, Any]:
    """The chase list's first page through the API, as a script asks for it (best of 5,
    after one warm-up request), and its query count."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from sessions_app.models import ProcessingSession

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    session = ProcessingSession.objects.get(pk=session_id)
    client = APIClient()
    client.force_authenticate(session.created_by)
    url = f"/api/v1/sessions/{session_id}/unmatched-charges/"
    assert client.get(url).status_code == 200
    timings = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - start)
    assert response.status_code == 200, response.content[:200]
    return {"seconds": min(timings), "count": response.json()["count"], "queries": len(queries)}


def transaction_for(connection: Any) -> Any:
    from django.db import transaction

    return transaction.atomic(using=connection.alias)


def child_cleanup(engagement_id: int) -> dict[str, Any]:
    from django.db import transaction

    from audit.models import ActivityEvent
    from matching.models import LinePair, ManualDecision, UnmatchedLine
    from recalc.models import RecalcJob
    from sessions_app.models import EmployeeRevision, Engagement, ProcessingSession, ReceiptVersion

    history = EmployeeRevision.history.model  # type: ignore[attr-defined]
    sessions = ProcessingSession.objects.filter(engagement_id=engagement_id)
    with transaction.atomic():
        history.objects.filter(session__in=sessions).delete()
        EmployeeRevision.objects.filter(session__in=sessions).delete()
        RecalcJob.objects.filter(session__in=sessions).delete()
        ActivityEvent.objects.filter(engagement_id=engagement_id).delete()
        Engagement.objects.filter(pk=engagement_id).update(default_session=None)
        for model in (LinePair, UnmatchedLine, ManualDecision):
            model.objects.filter(session__in=sessions)._raw_delete(model.objects.db)
        for session in sessions:
            session.card_transactions.all().delete()
            session.receipt_lines.all().delete()
            ReceiptVersion.objects.filter(session=session).delete()
        sessions.delete()
        Engagement.objects.filter(pk=engagement_id).delete()
    return {"ok": True}


def child_result(command: list[str]) -> Any:
    """Run a benchmark phase in a process of its own; its last output line is its JSON
    result (so its peak RSS is its own)."""
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"bench child {command[1:]} failed")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_child(*arguments: str) -> dict[str, Any]:
    return child_result([sys.executable, __file__, "--child", *arguments])


# --- Report ------------------------------------------------------------------------------------


def run_size(
    employees: int, changed: float, keep: bool, matching: bool = True
) -> tuple[list[str], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder_name:
        # In a child too: a child's peak RSS would otherwise start at the parent's.
        counts = run_child("generate", folder_name, str(employees), str(changed))
        upload = run_child("upload", folder_name, str(employees))
        session = str(upload["session"])
        runs: dict[str, Any] = {"initial": {"upload": upload}}
        with_matching = "1" if matching else "0"
        runs["initial"]["job"] = run_child("job", str(upload["job"]), with_matching)
        reupload = run_child("reupload", folder_name, session)
        runs["reprocess"] = {
            "upload": reupload,
            "job": run_child("job", str(reupload["job"]), with_matching),
        }
        chase = run_child("chase", session) if matching else None
        for label in ("initial", "reprocess"):
            runs[label]["copy"] = run_child("copy", session, label)
        if not keep:
            run_child("cleanup", str(upload["engagement"]))
    lines = _report(employees, counts, runs)
    if chase is not None:
        lines.append(
            f"chase list, first page through the API: {chase['seconds'] * 1000:.0f} ms "
            f"({chase['queries']} queries, {chase['count']:,} unmatched charges)"
        )
    for label in ("initial", "reprocess"):
        job = runs[label]["job"]
        if job.get("matching"):
            beside = job.get("beside")
            lines.append(
                f"{label}: line matching in the apply {job['matching']:.2f} s"
                + (f", beside the job {beside:.2f} s" if beside is not None else "")
            )
    return lines, runs


def compare_lines(without: dict[str, Any], with_matching: dict[str, Any]) -> list[str]:
    """What line matching adds to each job: the same files, one run without, one with."""
    lines = [
        "",
        "| job | without line matching s | with it s | added |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label in ("initial", "reprocess"):
        before, after = without[label]["job"]["seconds"], with_matching[label]["job"]["seconds"]
        lines.append(_row(label, f"{before:.2f}", f"{after:.2f}", f"{after / before - 1:+.0%}"))
    return lines


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _phase_rows(label: str, upload: dict[str, Any], job: dict[str, Any]) -> list[str]:
    stored = upload.get("store lines", 0)
    rows = [
        _row(label, "upload: parse files (ingestion)", f"{upload.get('parse', 0):.2f}", ""),
        _row(label, "upload: store lines (COPY)", f"{stored:.2f}", ""),
        _row(label, "upload: whole service call", f"{upload['seconds']:.2f}", ""),
        _row(label, "upload: peak RSS of the web process", "", f"{upload['rss_mb']:.0f}"),
    ]
    rows += [_row(label, f"job: {stage}", f"{sec:.2f}", "") for stage, sec in job["stages"].items()]
    rows += [
        _row(
            label,
            "**job: whole run (worker)**",
            f"**{job['seconds']:.2f}**",
            f"{job['rss_mb']:.0f}",
        ),
        _row(label, "**processing: store lines + job**", f"**{stored + job['seconds']:.2f}**", ""),
        _row(label, "everything incl. parsing", f"{upload['seconds'] + job['seconds']:.2f}", ""),
    ]
    return rows


def _report(employees: int, counts: dict[str, int], runs: dict[str, Any]) -> list[str]:
    lines = [
        f"\n## N = {employees:,} employees: {counts['card']:,} card lines, "
        f"{counts['receipts_v1']:,} receipt lines; v2 changes {counts['changed']:,} employees",
        "",
        "| phase | step | seconds | peak RSS MB |",
        "| --- | --- | ---: | ---: |",
    ]
    for label in ("initial", "reprocess"):
        lines += _phase_rows(label, runs[label]["upload"], runs[label]["job"])
    lines += [
        "",
        "| phase | rows written | store lines + job s | rows/s | raw COPY s | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in ("initial", "reprocess"):
        run = runs[label]
        seconds = run["upload"].get("store lines", 0) + run["job"]["seconds"]
        rows, copy_seconds = run["copy"]["rows"], run["copy"]["seconds"]
        cells = (f"{seconds:.2f}", f"{rows / seconds:,.0f}", f"{copy_seconds:.2f}")
        lines.append(_row(label, f"{rows:,}", *cells, f"{seconds / copy_seconds:.1f}x"))
    diffs = {label: runs[label]["job"]["diff"] for label in runs}
    lines.append(f"\njob diff: {diffs}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--employees", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--changed", type=float, default=0.3)
    parser.add_argument("--keep", action="store_true", help="keep the generated sessions")
    parser.add_argument(
        "--without-matching",
        action="store_true",
        help="run the jobs without line matching (the job as it was before it)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run each size without line matching, then with it, and report what it adds",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _django()
        phase, *rest = args.child
        result = {
            "upload": lambda: child_upload(Path(rest[0]), int(rest[1])),
            "reupload": lambda: child_reupload(Path(rest[0]), int(rest[1])),
            "generate": lambda: generate_files(Path(rest[0]), int(rest[1]), float(rest[2])),
            "job": lambda: child_job(int(rest[0]), rest[1:] != ["0"]),
            "chase": lambda: child_chase(int(rest[0])),
            "copy": lambda: child_copy(int(rest[0]), rest[1]),
            "cleanup": lambda: child_cleanup(int(rest[0])),
        }[phase]()
        print(json.dumps(result, default=str))
        return 0
    database = os.environ.get("DATABASE_URL", "sqlite (db.sqlite3)")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"# Recalc benchmark on {database.split('@')[-1]}, {os.cpu_count()} cores, "
        f"load average {load}"
    )
    for employees in args.employees:
        if args.compare:
            lines, without = run_size(employees, args.changed, False, matching=False)
            print("\n".join(["\n# without line matching", *lines]), flush=True)
            lines, runs = run_size(employees, args.changed, args.keep, matching=True)
            lines = ["\n# with line matching", *lines, *compare_lines(without, runs)]
        else:
            lines, _ = run_size(employees, args.changed, args.keep, not args.without_matching)
        print("\n".join(lines), flush=True)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"\n(load average after this size: {load})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
