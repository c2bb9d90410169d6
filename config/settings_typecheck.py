"""Settings for the type checker: the real settings, loaded without a secret key or DEBUG.

mypy's Django plugin imports the settings to learn the installed apps and models; it never
serves a request, so a fixed placeholder key stands in for the environment's. Never use this
module to run the application."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "type-checking-only-never-serves-requests")

from config.settings import *  # noqa: F403
