"""Fault points: named places in the services where a test injects a failure, or a value
another request could have produced, to show what the code does then (nothing left behind,
the race lost gracefully). They are the documented seam for fault injection: tests name a
point, not a private function, so they hold however the code around the point is arranged.

Production code calls `fault_point(name, value)`, which returns `value` unchanged unless a
hook is installed for `name`; only tests install hooks, with `injected_fault`. The points:

- ``exports.sequence_picked``: the batch number an export is about to insert, read from the
  committed batches of its period. Value: that number.
- ``exports.file_written``: an export's file made in memory, on the writer thread, while the
  export's statements run beside it. Value: the file's bytes.
- ``exports.snapshots_set``: a marking export has moved its employees' export snapshots,
  inside its transaction. Value: the batch.
- ``exports.file_stored``: an export's file is in storage, its batch, lines and history are
  written, its transaction not yet committed. Value: the batch.
- ``archive.lines_removed``: an archived session's lines are deleted and the session marked
  archived, inside the final transaction, before its activity event. Value: the session.
- ``recalc.stages_starting``: a job's worker is about to run its stages. Value: the job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_hooks: dict[str, Callable[[Any], Any]] = {}


def fault_point(name: str, value: T) -> T:
    """`value`, or what the hook installed for `name` makes of it (a hook may raise)."""
    hook = _hooks.get(name)
    return value if hook is None else hook(value)


@contextmanager
def injected_fault(name: str, hook: Callable[[Any], Any]) -> Iterator[None]:
    """Install `hook` at the fault point `name` for the duration of the block (tests only)."""
    if name in _hooks:
        raise RuntimeError(f"a fault is already injected at {name!r}")
    _hooks[name] = hook
    try:
        yield
    finally:
        del _hooks[name]
