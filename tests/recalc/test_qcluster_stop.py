"""A real `manage.py qcluster` stops on SIGTERM within Q_STOP_GRACE_SECONDS even while a
task runs (the stock one waited for the task, up to Q_TIMEOUT: recalc/cluster.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.recalc.workers import MANAGE, Process, WorkerDatabase, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
GRACE_SECONDS = 3
TASK_SECONDS = 300


def test_it_stops_on_sigterm_while_a_long_task_runs(tmp_path: Path) -> None:
    database = WorkerDatabase(tmp_path)
    database.hand_over()
    env = database.env(Q_STOP_GRACE_SECONDS=str(GRACE_SECONDS))
    cluster = Process(["qcluster"], env, tmp_path / "qcluster.log")
    try:
        wait_for(lambda: "running." in cluster.output(), timeout=60, what="the cluster to run")
        subprocess.run(
            [
                sys.executable,
                str(MANAGE),
                "shell",
                "-v",
                "0",
                "-c",
                f"from django_q.tasks import async_task; async_task('time.sleep', {TASK_SECONDS})",
            ],
            env=env,
            check=True,
            timeout=60,
            cwd=MANAGE.parent,
        )
        wait_for(lambda: "processing" in cluster.output(), timeout=30, what="the task to start")

        os.kill(cluster.popen.pid, signal.SIGTERM)

        # Long before the task would have ended: grace, then the ending of what is left.
        code = cluster.popen.wait(timeout=GRACE_SECONDS + 20)
        assert code == 0, cluster.output()[-2000:]
        wait_for(cluster._group_gone, timeout=10, what="every cluster process to exit")
        assert "ending them" in cluster.output()
    finally:
        cluster.kill()


def test_an_idle_cluster_stops_at_once_on_sigterm(tmp_path: Path) -> None:
    database = WorkerDatabase(tmp_path)
    database.hand_over()
    cluster = Process(["qcluster"], database.env(), tmp_path / "qcluster.log")
    try:
        wait_for(lambda: "running." in cluster.output(), timeout=60, what="the cluster to run")
        os.kill(cluster.popen.pid, signal.SIGTERM)
        assert cluster.popen.wait(timeout=20) == 0
        wait_for(cluster._group_gone, timeout=10, what="every cluster process to exit")
        assert "ending them" not in cluster.output()
        assert "has stopped" in cluster.output()
    finally:
        cluster.kill()
