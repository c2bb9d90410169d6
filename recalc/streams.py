"""Job progress as Server-Sent Events, served so that open streams never hold a worker.

Under ASGI (the production server) the stream is an async generator: between polls it
awaits on the event loop, and each poll reads the job row in a short call on the loop's
thread pool, so a thousand idle streams cost sockets, not threads. Under WSGI (`make
run`'s development server, the test client) the same events come from a plain
generator.

Each user may hold JOB_STREAMS_PER_USER streams at once (counted in the cache, so across
processes when REDIS_URL is set) and a stream ends after JOB_STREAM_MAX_SECONDS; an
EventSource reconnects by itself, so a long job is followed across several streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from rest_framework.exceptions import Throttled

from recalc.models import ACTIVE_JOB_STATUSES, RecalcJob
from recalc.serializers import RecalcJobSerializer

# The stream polls the job row; progress is written in short transactions of its own, so
# every poll sees the latest state.
EVENT_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000
PROGRESS_FIELDS = ("status", "stage", "stage_name", "progress", "processed", "total", "message")
STREAM_COUNT_PREFIX = "closebook:job-streams:"


def sse_event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n".encode()


def progress_payload(job: RecalcJob) -> dict[str, Any]:
    return {field: getattr(job, field) for field in PROGRESS_FIELDS}


def final_event_name(job: RecalcJob) -> str | None:
    """`complete` when the job is done or its preview is ready for a decision (the payload's
    status says which), `error` when it failed or was cancelled, None while it runs."""
    if job.status in (RecalcJob.Status.COMPLETED, RecalcJob.Status.AWAITING_CONFIRMATION):
        return "complete"
    if job.status in ACTIVE_JOB_STATUSES:
        return None
    return "error"


def stream_max_seconds() -> float:
    return float(settings.JOB_STREAM_MAX_SECONDS)


class _StreamState:
    """What one stream has sent; `events_for` says what to send after a poll."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.started = self.last_sent = clock()
        self.last_progress: dict[str, Any] | None = None
        self.finished = False

    def events_for(self, job: RecalcJob | None) -> list[bytes]:
        if job is None:
            self.finished = True
            return [sse_event("error", {"status": None, "message": "The job no longer exists."})]
        events = []
        progress = progress_payload(job)
        if progress != self.last_progress:
            events.append(sse_event("progress", progress))
            self.last_progress, self.last_sent = progress, self.clock()
        final = final_event_name(job)
        if final is not None:
            self.finished = True
            return [*events, sse_event(final, RecalcJobSerializer(job).data)]
        if self.clock() - self.started >= stream_max_seconds():
            self.finished = True
        elif self.clock() - self.last_sent >= HEARTBEAT_SECONDS:
            events.append(b": heartbeat\n\n")
            self.last_sent = self.clock()
        return events


def _job_row(job_id: int) -> RecalcJob | None:
    return RecalcJob.objects.filter(pk=job_id).first()


def _job_row_from_pool(job_id: int) -> RecalcJob | None:
    # A pool thread keeps its connection between polls; drop it when it is broken or past
    # CONN_MAX_AGE, as a request would.
    close_old_connections()
    return _job_row(job_id)


def stream_pause(seconds: float) -> None:
    time.sleep(seconds)


def job_event_stream(
    job_id: int,
    *,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """`progress` each time the job row changes, a heartbeat comment when nothing changed
    for a while (proxies close silent connections), then `complete` or `error`."""
    pause = sleep or stream_pause
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
    state = _StreamState(clock)
    while True:
        yield from state.events_for(_job_row(job_id))
        if state.finished:
            return
        pause(EVENT_POLL_SECONDS)


async def job_event_stream_async(
    job_id: int, *, release: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """The same events on the event loop; `release` runs however the stream ends (done,
    timed out, or the client went away)."""
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
        state = _StreamState(time.monotonic)
        read = sync_to_async(_job_row_from_pool, thread_sensitive=False)
        while True:
            for event in state.events_for(await read(job_id)):
                yield event
            if state.finished:
                return
            await asyncio.sleep(EVENT_POLL_SECONDS)
    finally:
        if release is not None:
            release()


# --- The per-user cap -------------------------------------------------------------------------


def job_stream_acquire(user_id: int) -> Callable[[], None]:
    """Count one more open stream for the user, or refuse with 429 past the cap. Returns
    the function that gives the slot back. The count expires a little after the longest
    stream could last, so a process killed mid-stream cannot lock a user out for good."""
    key = f"{STREAM_COUNT_PREFIX}{user_id}"
    cache.add(key, 0, timeout=int(stream_max_seconds()) + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=int(stream_max_seconds()) + 60)
        count = 1
    if count > settings.JOB_STREAMS_PER_USER:
        _decrement(key)
        raise Throttled(
            wait=int(EVENT_POLL_SECONDS * 4) or 2,
            detail=f"At most {settings.JOB_STREAMS_PER_USER} progress streams may be open "
            "at once; close one, or poll GET /api/v1/jobs/{id}/.",
        )
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            _decrement(key)

    return release


def _decrement(key: str) -> None:
    with suppress(ValueError):
        cache.decr(key)
