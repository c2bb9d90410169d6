"""Threads, each on its own database connection, and waiting on what they do: for the
tests that race two requests or watch a worker from outside."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, connections


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "the condition"
) -> Any:
    """Poll `condition` until it returns something true (returned), or fail after `timeout`
    seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target` on its own thread, hence its own database connection; the outcome
    dict gets "result" or "error"."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except Exception as error:  # reported to the test
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def at_once(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run each call in its own thread (so its own database connection), released
    together by a barrier; each result is ("ok", value) or ("error", exception)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("", None)] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = ("ok", call())
        except Exception as error:
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


class Contender:
    """A call on its own thread and PostgreSQL connection, whose backend the test can watch
    to know it is queued on a lock: the way to force which of two racing requests gets a row
    first, without slowing or patching the code under test.

    PostgreSQL hands a row lock to its waiters in the order they queued for it, so a test
    that holds the row, starts one contender, waits until it is `queued()`, then the other,
    then releases the row, decides the order for certain."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.pid: int | None = None
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.outcome["result"] = self.call()
        except Exception as error:  # reported to the test
            self.outcome["error"] = error
        finally:
            connections.close_all()

    def queued(self) -> bool:
        """Whether the contender's connection is waiting for a lock (asked on the test's
        connection; pg_locks is live, not a per-transaction snapshot)."""
        if self.outcome:
            raise AssertionError(f"finished without waiting for a lock: {self.outcome}")
        if self.pid is None:
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [self.pid]
            )
            return bool(cursor.fetchone()[0])

    def start_and_wait_until_queued(self, what: str) -> None:
        self.thread.start()
        wait_for(self.queued, timeout=30, what=f"{what} to wait for the lock")

    def result(self) -> tuple[str, Any]:
        """("ok", value) or ("error", exception), once the call has ended."""
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the contender did not finish"
        if "error" in self.outcome:
            return "error", self.outcome["error"]
        return "ok", self.outcome["result"]
