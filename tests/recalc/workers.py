"""Real `manage.py qcluster` (and `recalc_watchdog`) processes for the worker tests.

The test database is handed to the subprocesses: on PostgreSQL they connect to the test
database itself (the tests are `transaction=True`, so what the test wrote is committed); on
SQLite the in-memory test database is copied to a file the subprocesses open, and copied
back when they are done, so the test then asserts through the ORM as usual."""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.concurrency import wait_for

MANAGE = Path(settings.BASE_DIR) / "manage.py"


class WorkerDatabase:
    def __init__(self, folder: Path) -> None:
        self.vendor = connection.vendor
        self.file = folder / "worker.sqlite3"
        self.url = self._url()

    def _url(self) -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{self.file}"
        db = connection.settings_dict
        credentials = quote(db["USER"] or "")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"])
        host = db.get("HOST") or "127.0.0.1"
        return f"postgres://{credentials}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"

    def hand_over(self) -> None:
        if self.vendor == "sqlite":
            connection.ensure_connection()
            with sqlite3.connect(self.file) as target:
                connection.connection.backup(target)

    def take_back(self) -> None:
        if self.vendor == "sqlite":
            with sqlite3.connect(self.file) as source:
                source.backup(connection.connection)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read what the subprocesses committed (plain SQL with %s placeholders)."""
        if self.vendor == "sqlite":
            with sqlite3.connect(self.file, timeout=20) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def job(self, job_id: int) -> dict[str, Any]:
        names = ["status", "stage", "processed", "total", "attempts", "claimed_by"]
        row = self.rows(f"SELECT {', '.join(names)} FROM recalc_recalcjob WHERE id = %s", (job_id,))
        return dict(zip(names, row[0], strict=True))

    def heartbeat_older_than(self, job_id: int, seconds: float) -> bool:
        """Whether the job's last heartbeat is more than `seconds` old: stale, for a
        watchdog told JOB_STALE_SECONDS=`seconds`."""
        beat = self.rows("SELECT heartbeat_at FROM recalc_recalcjob WHERE id = %s", (job_id,))[0][0]
        if isinstance(beat, str):  # SQLite keeps UTC text
            beat = datetime.datetime.fromisoformat(beat).replace(tzinfo=datetime.UTC)
        return timezone.now() - beat > datetime.timedelta(seconds=seconds)

    def env(self, **extra: str) -> dict[str, str]:
        """The child's environment: not a test run (no PYTEST_VERSION), real broker."""
        env = {key: value for key, value in os.environ.items() if key != "PYTEST_VERSION"}
        env.pop("REDIS_URL", None)
        env.update(
            DEBUG="1",
            Q_SYNC="0",
            DATABASE_URL=self.url,
            DJANGO_SETTINGS_MODULE="config.settings",
            LOG_LEVEL="INFO",
        )
        env.update(extra)
        return env


class Process:
    """A subprocess in its own process group, so `kill` reaches the whole qcluster tree."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, str(MANAGE), *args],
            cwd=MANAGE.parent,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def group(self) -> int:
        return self.popen.pid  # the leader of its own session and process group

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def owns(self, pid: int) -> bool:
        try:
            return os.getpgid(pid) == self.group
        except ProcessLookupError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process of the group and wait until none is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, sig)
        self.popen.wait(timeout=30)
        wait_for(self._group_gone, timeout=30, what=f"process group {self.group} to exit")
        self._log_file.close()

    def _group_gone(self) -> bool:
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return True
        return False

    def wait(self, timeout: float) -> int:
        code = self.popen.wait(timeout=timeout)
        self._log_file.close()
        return code


def qcluster(db: WorkerDatabase, folder: Path, name: str, **env: str) -> Process:
    process = Process(["qcluster"], db.env(**env), folder / f"{name}.log")
    wait_for(
        lambda: "running." in process.output() or process.popen.poll() is not None,
        timeout=30,
        what=f"{name} to start",
    )
    assert process.popen.poll() is None, process.output()
    return process


def watchdog(db: WorkerDatabase, folder: Path, *args: str, **env: str) -> Process:
    return Process(["recalc_watchdog", *args], db.env(**env), folder / "watchdog.log")


def employees_state(session_id: int, db: WorkerDatabase) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT employee_id, car_amount, receipt_amount, status, version "
        "FROM sessions_app_employeerevision WHERE session_id = %s ORDER BY employee_id",
        (session_id,),
    )


def history_count(session_id: int, reason: str, db: WorkerDatabase) -> int:
    return db.rows(
        "SELECT COUNT(*) FROM sessions_app_historicalemployeerevision "
        "WHERE session_id = %s AND history_change_reason = %s",
        (session_id, reason),
    )[0][0]
