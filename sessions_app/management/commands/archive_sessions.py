"""archive_sessions --closed-before DATE [--engagement SLUG] [--dry-run] [--actor USERNAME]

Moves the card and receipt lines of sessions closed before DATE to archive storage
(ARCHIVE_ROOT, or S3 when ARCHIVE_S3_BUCKET is set), verified, then deletes them from the
database. Revisions, history, exports and audit events stay. Shows a progress bar and a
summary table; exits with code 1 when any session failed, saying why."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sessions_app.archival import (
    ARCHIVED,
    FAILED,
    WOULD_ARCHIVE,
    ArchiveResult,
    compression_ratio,
    sessions_archive_closed_before,
)
from sessions_app.models import Engagement

OUTCOME_LABELS = {
    ARCHIVED: "archived",
    WOULD_ARCHIVE: "would archive",
    FAILED: "FAILED",
    "skipped": "skipped",
}


class RichStream:
    """Lets rich write through a command's stdout/stderr (so call_command(stdout=…) captures
    it) without Django adding a newline or a colour to every fragment."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, style_func=lambda message: message, ending="")
        return len(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


def rich_console(wrapper: OutputWrapper) -> Console:
    stream = RichStream(wrapper)
    # Captured output (tests, cron mail) gets a width wide enough for the summary table.
    return Console(file=stream, width=None if stream.isatty() else 120)  # type: ignore[arg-type]


class ProgressBar:
    """The ArchiveProgress the service reports to: one bar of sessions, one of lines."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.sessions_task = progress.add_task("Sessions", total=None)
        self.rows_task = progress.add_task("Lines", total=None)

    def begin(self, *, sessions: int, rows: int) -> None:
        self.progress.update(self.sessions_task, total=sessions)
        self.progress.update(self.rows_task, total=rows)

    def advance(self, rows: int) -> None:
        self.progress.advance(self.rows_task, rows)

    def session_done(self, result: ArchiveResult) -> None:
        self.progress.advance(self.sessions_task)
        if result.outcome == FAILED:
            self.progress.console.print(f"[red]#{result.session_id} failed:[/] {result.message}")


def closed_before_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--closed-before wants a date like 2026-01-31, not '{value}'."
        ) from None


def _bytes(count: int) -> str:
    return f"{count:,}" if count else "—"


def _ratio(bytes_before: int, bytes_after: int) -> str:
    ratio = compression_ratio(bytes_before, bytes_after)
    return f"{ratio}x" if ratio is not None else "—"


def summary_table(results: list[ArchiveResult], *, dry_run: bool) -> Table:
    title = "Archive summary (dry run: nothing changed)" if dry_run else "Archive summary"
    table = Table(title=title, show_footer=True)
    done = [r for r in results if r.outcome in (ARCHIVED, WOULD_ARCHIVE)]
    before = sum(r.bytes_before for r in done)
    after = sum(r.bytes_after for r in done)
    table.add_column("Session", footer=f"{len(done)} of {len(results)} sessions")
    table.add_column("Result")
    table.add_column("Rows", justify="right", footer=f"{sum(r.rows for r in done):,}")
    table.add_column("Bytes before", justify="right", footer=_bytes(before))
    table.add_column("Bytes after", justify="right", footer=_bytes(after))
    table.add_column("Ratio", justify="right", footer=_ratio(before, after))
    for result in results:
        table.add_row(
            f"#{result.session_id} {result.session_name}",
            OUTCOME_LABELS.get(result.outcome, result.outcome),
            f"{result.rows:,}",
            _bytes(result.bytes_before),
            _bytes(result.bytes_after),
            _ratio(result.bytes_before, result.bytes_after),
        )
    return table


class Command(BaseCommand):
    help = "Archive the lines of closed sessions (closed before a date) to archive storage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--closed-before", required=True, type=str, metavar="DATE")
        parser.add_argument("--engagement", metavar="SLUG", help="Only this engagement")
        parser.add_argument("--dry-run", action="store_true", help="List and count, change nothing")
        parser.add_argument("--actor", metavar="USERNAME", help="Recorded as the acting user")

    def handle(self, *args: Any, **options: Any) -> None:
        closed_before = closed_before_date(options["closed_before"])
        engagement = _engagement(options["engagement"])
        actor = actor_named(options["actor"])
        with Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=rich_console(self.stderr),
        ) as progress:
            results = sessions_archive_closed_before(
                closed_before=closed_before,
                engagement=engagement,
                dry_run=options["dry_run"],
                actor=actor,
                progress=ProgressBar(progress),
            )
        console = rich_console(self.stdout)
        if not results:
            console.print(f"No closed session closed before {closed_before} is left to archive.")
            return
        console.print(summary_table(results, dry_run=options["dry_run"]))
        for result in results:
            if result.outcome != ARCHIVED:
                console.print(f"#{result.session_id} {result.session_name}: {result.message}")
        failed = [r for r in results if r.outcome == FAILED]
        if failed:
            reasons = "; ".join(f"#{r.session_id} {r.session_name}: {r.message}" for r in failed)
            raise CommandError(f"{len(failed)} session(s) could not be archived: {reasons}")


def _engagement(slug: str | None) -> Engagement | None:
    if not slug:
        return None
    engagement = Engagement.objects.filter(slug=slug).first()
    if engagement is None:
        raise CommandError(f"No engagement with the slug '{slug}'.")
    return engagement


def actor_named(username: str | None) -> Any:
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user
