"""restore_session ID [--actor USERNAME]

Brings back the card and receipt lines of an archived session, exactly (same ids, amounts,
versions), after verifying the whole archive against its manifest: a damaged archive is
reported and nothing is written. A session that is not archived is left alone (exit 0)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import DomainError
from sessions_app.archival import RESTORED, archive_manifest_for, session_restore
from sessions_app.management.commands.archive_sessions import actor_named, rich_console
from sessions_app.models import ProcessingSession


class Command(BaseCommand):
    help = "Restore the archived lines of a session."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_id", type=int, metavar="ID")
        parser.add_argument("--actor", metavar="USERNAME", help="Recorded as the acting user")

    def handle(self, *args: Any, **options: Any) -> None:
        session = ProcessingSession.objects.filter(pk=options["session_id"]).first()
        if session is None:
            raise CommandError(f"No session with id {options['session_id']}.")
        actor = actor_named(options["actor"])
        try:
            result = self._restore(session, actor)
        except DomainError as exc:
            raise CommandError(f"Session {session.pk} was not restored: {exc.message}") from exc
        style = self.style.SUCCESS if result.outcome == RESTORED else self.style.WARNING
        self.stdout.write(style(result.message))
        if result.files_put_back:
            self.stdout.write(f"{result.files_put_back} lost uploaded file(s) put back.")

    def _restore(self, session: ProcessingSession, actor: Any) -> Any:
        manifest = archive_manifest_for(session)
        total = manifest["totals"]["rows"] if manifest else 0
        with Progress(
            TextColumn("Lines"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=rich_console(self.stderr),
        ) as progress:
            task = progress.add_task("restore", total=total)
            return session_restore(
                session=session,
                actor=actor,
                on_rows=lambda rows: progress.advance(task, rows),
            )
