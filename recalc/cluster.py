"""A django-q2 cluster that stops on SIGTERM within a grace time.

Why the stock `qcluster` did not: its master answers SIGTERM (and SIGINT) by setting the
stop event and joining the sentinel process with no time limit. The sentinel stops the
pusher, sends each worker a poison pill and waits, again with no limit, for every worker
to exit, and a worker only reads the pill after the task it is running returns, which for
a recalculation may take up to Q_TIMEOUT (30 minutes). A second SIGTERM only starts the
same wait again. So the master "ignores" SIGTERM for as long as a task runs, and an
orchestrator's stop timeout ends it with SIGKILL anyway.

Here the master waits Q_STOP_GRACE_SECONDS for that orderly stop, then ends what is left
under the sentinel (SIGTERM, then SIGKILL), then the sentinel itself; a second signal skips
the wait. Interrupting a task is safe for this project: a recalculation applies in one
transaction, its job keeps a heartbeat, and the watchdog marks a job whose worker is gone
as failed and resumable from its last completed stage (SPEC §7), exactly as after kill -9.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django_q.cluster import Cluster

logger = logging.getLogger(__name__)
KILL_WAIT_SECONDS = 5.0


def descendants_of(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (Linux), children before grandchildren."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


class GracefulCluster(Cluster):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping_since: float | None = None

    def sig_handler(self, signum: int, frame: Any) -> None:
        if self.stopping_since is not None:
            logger.warning("Second stop signal: ending the running tasks now.")
            self._end_what_is_left()
            return
        self.stopping_since = time.monotonic()
        self.stop()

    def stop(self) -> bool:
        if self.sentinel is None or not self.sentinel.is_alive():
            return False
        grace = float(settings.Q_STOP_GRACE_SECONDS)
        logger.info("Q Cluster %s stopping (grace %.0f s).", self.name, grace)
        stop_event: Any = self.stop_event  # type: ignore[has-type]
        if stop_event is not None:
            stop_event.set()
        self.sentinel.join(timeout=grace)
        if self.sentinel.is_alive():
            logger.warning("Tasks still running after %.0f s: ending them.", grace)
            self._end_what_is_left()
        self.start_event = None
        self.stop_event = None
        logger.info("Q Cluster %s has stopped.", self.name)
        return True

    def _end_what_is_left(self) -> None:
        sentinel = self.sentinel
        if sentinel is None or sentinel.pid is None or not sentinel.is_alive():
            return
        below = descendants_of(sentinel.pid)
        _signal_all(below, signal.SIGTERM)
        sentinel.join(timeout=KILL_WAIT_SECONDS)
        _signal_all([pid for pid in below if _alive(pid)], signal.SIGKILL)
        if sentinel.is_alive():
            # Blocked handing a poison pill to a queue no one reads any more.
            sentinel.join(timeout=KILL_WAIT_SECONDS)
        if sentinel.is_alive():
            sentinel.kill()
            sentinel.join(timeout=KILL_WAIT_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
