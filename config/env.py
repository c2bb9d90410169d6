"""Settings read from the environment (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    UPLOAD_MAX_MB=(int, 50),
    JOB_STALE_SECONDS=(int, 120),
    DEFAULT_CURRENCY=(str, "USD"),
)

_dotenv = BASE_DIR / ".env"
if _dotenv.exists():
    environ.Env.read_env(str(_dotenv))
