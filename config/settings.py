"""Closebook settings: everything that differs between machines comes from the environment."""

from __future__ import annotations

import datetime
import os
import re
import secrets

from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, env

DEBUG = env("DEBUG")
TESTING = "PYTEST_VERSION" in os.environ

# Set by manage.py for commands that serve nothing (e.g. `reconcile`).
OFFLINE_COMMAND = os.environ.get("CLOSEBOOK_OFFLINE_COMMAND") == "1"

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if OFFLINE_COMMAND:
        SECRET_KEY = secrets.token_urlsafe(50)  # signs nothing that outlives the process
    elif not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    else:
        SECRET_KEY = "dev-only-insecure-key-never-used-in-production"

ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "simple_history",
    # Before django_q: its `qcluster` command is recalc's (stops on SIGTERM in time).
    "recalc",
    "django_q",
    "core",
    "audit",
    "sessions_app",
    "matching",
    "exports",
    "chasing",
    "csp",
    # Last: its checks assume the apps above are loaded.
    "axes",
]

MIDDLEWARE = [
    "audit.middleware.RequestIdMiddleware",
    "config.middleware.RequestSanityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "config.middleware.NoStoreMiddleware",
    # Last, as django-axes requires: it turns a lockout into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sessions_app.context_processors.page_header",
            ],
        },
    },
]

# --- Database: SQLite by default, DATABASE_URL for PostgreSQL -------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web process and a q2 worker write at once: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN (no lock upgrade deadlock), and the busy
    # timeout makes a writer wait its turn instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2 (recalc jobs). A 100k-employee recalculation takes ~5 s, so `timeout` (the worker
# is killed past it) is generous. `retry` must exceed `timeout`: the ORM broker hands a task to
# another cluster when no receipt came back within `retry` seconds, and that time includes the
# wait in a cluster's internal queue, hence the small `queue_limit` (django-q2 docs, brokers;
# Koed00/django-q#183, #307). Redis has no receipts: a task a dead cluster held is lost, which
# the recalc watchdog recovers (migration recalc 0003 schedules it every minute). A delivery
# made twice is harmless: a job is claimed by one conditional UPDATE (recalc.services._claim).
Q_CLUSTER: dict[str, object] = {
    "name": "closebook",
    "workers": env.int("Q_WORKERS", default=2),
    "queue_limit": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=1800),
    "retry": env.int("Q_RETRY", default=1900),
    "max_attempts": 1,  # a failed job is resumed by the watchdog or a person, not re-run blind
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.5,
    "sync": env.bool("Q_SYNC", default=TESTING),
}
# On SIGTERM a qcluster lets running tasks finish for this long, then ends them (an ended
# recalculation is resumed, see recalc/cluster.py). Keep it below the orchestrator's stop
# timeout (docker: 10 s, Kubernetes: 30 s, systemd: 90 s by default).
Q_STOP_GRACE_SECONDS = env.int("Q_STOP_GRACE_SECONDS", default=8)
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:  # type: ignore[operator]
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT (see Q_CLUSTER).")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Files ------------------------------------------------------------------------------------
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"
ARCHIVE_ROOT = env.path("ARCHIVE_ROOT", default=BASE_DIR / "archive")
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": env(
            "DEFAULT_FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        ),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Archived session lines and copies of their original files (manage.py archive_sessions).
    "archive": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ARCHIVE_ROOT)},
    },
}
# S3-compatible archive storage (AWS, MinIO, Ceph…) through django-storages when a bucket is
# named; the keys may also come from the usual AWS_* variables or an instance role.
ARCHIVE_S3_BUCKET = env("ARCHIVE_S3_BUCKET", default="")
if ARCHIVE_S3_BUCKET:
    STORAGES["archive"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ARCHIVE_S3_BUCKET,
            "location": env("ARCHIVE_S3_PREFIX", default="closebook-archive"),
            "endpoint_url": env("ARCHIVE_S3_ENDPOINT_URL", default=None),
            "region_name": env("ARCHIVE_S3_REGION", default=None),
            "access_key": env("ARCHIVE_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("ARCHIVE_S3_SECRET_ACCESS_KEY", default=None),
            "default_acl": None,
            "querystring_auth": True,
            # Archive objects are written once under a fresh prefix and never overwritten.
            "file_overwrite": False,
        },
    }
# Uploaded statements and export files on S3-compatible storage when a bucket is named.
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "location": env("MEDIA_S3_PREFIX", default="closebook-media"),
            "endpoint_url": env("ARCHIVE_S3_ENDPOINT_URL", default=None),
            "region_name": env("ARCHIVE_S3_REGION", default=None),
            "access_key": env("ARCHIVE_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("ARCHIVE_S3_SECRET_ACCESS_KEY", default=None),
            "default_acl": None,
            "file_overwrite": False,
        },
    }
UPLOAD_MAX_MB = env("UPLOAD_MAX_MB")
# ISO 4217 code a new engagement starts with (Engagement.currency).
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY").strip().upper()
if not re.fullmatch(r"[A-Z]{3}", DEFAULT_CURRENCY):
    raise ImproperlyConfigured("DEFAULT_CURRENCY must be an ISO 4217 code of three letters.")
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Jobs -------------------------------------------------------------------------------------
JOB_STALE_SECONDS = env("JOB_STALE_SECONDS")
# Progress streams (GET /api/v1/jobs/{id}/events/ under ASGI): open at once per user, and
# how long one lasts before the client's EventSource reconnects.
JOB_STREAMS_PER_USER = env.int("JOB_STREAMS_PER_USER", default=5)
JOB_STREAM_MAX_SECONDS = env.int("JOB_STREAM_MAX_SECONDS", default=600)

# --- Email ------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="closebook@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- Chasing receipts (SPEC §16) ----------------------------------------------------------------
# Seconds to wait after the 1st, 2nd, … failed delivery of an email; past the last it fails.
CHASING_RETRY_DELAYS = env.list("CHASING_RETRY_DELAYS", cast=int, default=[60, 300, 1800, 7200])

# --- Auth -------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sessions_app:session_list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing on the login page and the admin login (django-axes): after
# AXES_FAILURE_LIMIT failures for one username, or from one address, further attempts are
# refused for AXES_COOLOFF_MINUTES. A success resets the count. Lockouts are audit events.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = env.bool("AXES_VERBOSE", default=False)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, the client address is its X-Forwarded-For: set AXES_PROXY_COUNT.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# --- API --------------------------------------------------------------------------------------
# Token first: DRF answers an unauthenticated request with the first authenticator's
# WWW-Authenticate challenge, which makes it a 401 rather than a 403.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.api_auth.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.LimitedJSONParser",
        "core.api.LimitedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.ApiPagination",
    "DEFAULT_METADATA_CLASS": "core.api.ApiMetadata",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api_errors.ErrorDocumentingAutoSchema",
    # A guard against runaway scripts, far above what a person or a normal script sends.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env("API_USER_RATE", default="6000/minute")},
    "COERCE_DECIMAL_TO_STRING": True,
}
# Token guessing: API_BAD_TOKEN_LIMIT failed token checks from one address within
# API_BAD_TOKEN_WINDOW_SECONDS, then 429 with Retry-After until the window ends.
API_BAD_TOKEN_LIMIT = env.int("API_BAD_TOKEN_LIMIT", default=10)
API_BAD_TOKEN_WINDOW_SECONDS = env.int("API_BAD_TOKEN_WINDOW_SECONDS", default=300)

SPECTACULAR_SETTINGS = {
    # The schema and its docs describe the API to those who may use it: login required.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "TITLE": "Closebook API",
    "DESCRIPTION": (
        "Reconcile corporate-card statements against receipts and export to pVault. "
        "Authenticate with `Authorization: Token <key>` (manage.py createoperator prints "
        'one). Errors are `{"error": {"code", "message", "details"}}`; money is a string '
        "with two decimals."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "sessions_app.models.ProcessingSession.Status",
        "EmployeeStatusEnum": "sessions_app.models.EmployeeRevision.Status",
        "JobStatusEnum": "recalc.models.RecalcJob.Status",
        "ReceiptModeEnum": "sessions_app.models.ReceiptVersion.Mode",
        "ExportTypeEnum": "exports.models.ExportBatch.ExportType",
    },
}

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Security (manage.py check --deploy passes when DEBUG is off) -----------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not TESTING)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not TESTING)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not TESTING)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): scripts and styles from this site only, no inline
# script anywhere (the templates load static files), nothing may frame the pages.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
CSRF_FAILURE_VIEW = "core.api_errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "audit.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
