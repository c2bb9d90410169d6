"""The README's production server (gunicorn with uvicorn workers, config/gunicorn.py) as a
real process: twenty open progress streams do not starve a normal request (SPEC §9)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from recalc.models import RecalcJob
from tests.factories import ProcessingSessionFactory, UserFactory
from tests.recalc.workers import WorkerDatabase, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = 20
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Any:
    """Yields (port, token, job id, log) with the server running on one worker."""
    user = UserFactory(username="streamer")
    token = Token.objects.create(user=user).key
    session = ProcessingSessionFactory()
    session.engagement.memberships.create(user=user, role="viewer")
    job = RecalcJob.objects.create(session=session, kind="manual", status="running")
    database = WorkerDatabase(tmp_path)
    database.hand_over()
    port = _free_port()
    env = database.env(
        DEBUG="0",
        SECRET_KEY="production-server-test-key",
        SECURE_SSL_REDIRECT="0",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        JOB_STREAMS_PER_USER=str(STREAMS),
        LOG_LEVEL="WARNING",
    )
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "config/gunicorn.py", "config.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: _answers(port), timeout=30, what="the production server to listen")
        yield port, token, job.pk, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _open_stream(port: int, token: str, job_id: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "GET", f"/api/v1/jobs/{job_id}/events/", headers={"Authorization": f"Token {token}"}
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()[:300]
    assert response.readline().startswith(b"retry: ")
    return connection


def _timed_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    connection.request("GET", path, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status, time.monotonic() - started


def test_twenty_streams_leave_the_site_answering_within_a_second(server: Any) -> None:
    port, token, job_id, log = server
    streams = [_open_stream(port, token, job_id) for _ in range(STREAMS)]
    try:
        me_status, me_seconds = _timed_get(port, "/api/v1/me/", {"Authorization": f"Token {token}"})
        login_status, login_seconds = _timed_get(port, "/login/", {})
        one_more = _timed_get(
            port, f"/api/v1/jobs/{job_id}/events/", {"Authorization": f"Token {token}"}
        )
    finally:
        for stream in streams:
            stream.close()
    assert (me_status, login_status) == (200, 200), log.read_text()[-2000:]
    assert me_seconds < 1.0 and login_seconds < 1.0, (me_seconds, login_seconds)
    # Past the per-user cap the next stream is refused, not queued.
    assert one_more[0] == 429
