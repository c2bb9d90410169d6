"""Production server settings: `gunicorn -c config/gunicorn.py config.asgi:application`.

ASGI workers (uvicorn's, through the uvicorn-worker package): progress streams are async
and wait on the event loop, so open streams never starve other requests. Workers are
recycled after a number of requests, with jitter so they do not all restart at once,
which returns the memory a large upload or export made them grow to. Everything can be
overridden from the environment (GUNICORN_CMD_ARGS works too)."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "uvicorn_worker.UvicornWorker"
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# A worker that does not check in for this long is restarted; an async worker checks in
# from its event loop, so long streams do not count against it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
