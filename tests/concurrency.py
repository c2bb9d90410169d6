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
