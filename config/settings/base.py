"""Settings for every environment, read from the environment (and `.env` when present).

Development defaults point at the local PostgreSQL and Redis. With DEBUG off (production)
SECRET_KEY and ALLOWED_HOSTS must be given: a production server never runs on a default
secret.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    # No defaults here on purpose: a missing secret must stop the process, not weaken it.
    SECRET_KEY = env.str("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

# HTTPS. Production defaults are the safe ones (`manage.py check --deploy` is clean with them);
# each can be turned off from the environment, e.g. for a plain-HTTP staging box.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Behind a proxy that terminates TLS and sets X-Forwarded-Proto (and strips it from clients).
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancer probes and Prometheus talk plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "feedback",
    "routing",
    "departments",
    "webhooks",
    "privacy",
    "notifications",
    "axes",
]

MIDDLEWARE = [
    # First: tag every request (and its log lines), count every response, and refuse
    # oversized bodies before anything reads them.
    "config.middleware.RequestIdMiddleware",
    "config.middleware.ResponseMetricsMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RejectNulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Restricted models refuse to be read for a person or a key without naming the viewer
    # (config/access.py); the admin runs unguarded.
    "config.access.AccessGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # A view's "not found" is the app's 404 page, with DEBUG on too.
    "config.middleware.NotFoundPageMiddleware",
    # Last, so it sees the outcome of authentication (django-axes' requirement).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed logins and locks out repeated guessing (per username and IP).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# A page in the app's style saying how long the lockout lasts (axes' own is bare text).
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"

# Only the app's own script files may run: no inline scripts, no CDNs. Inline style
# attributes stay allowed for department colours.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "departments.context.workspace",
            ],
        },
    },
]

# psycopg 3 with Django's built-in connection pool: a new PostgreSQL connection per request
# costs about two-thirds of single-POST throughput on these machines (see DESIGN.md).
# CONN_MAX_AGE must stay 0 with the pool: the pool, not Django, keeps connections alive.
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://127.0.0.1:5432/switchboard"),
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
if env.bool("DATABASE_POOL", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
        # Fail fast when the database is gone instead of hanging a request for 30 s.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
        # psycopg_pool retries a lost connection with a doubling delay for this long, then
        # gives up and reconnects on demand. Its default (300 s) means a process could wait
        # minutes after the database is back; 10 s makes recovery take seconds.
        "reconnect_timeout": env.float("DATABASE_POOL_RECONNECT_TIMEOUT", default=10.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="switchboard"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "departments:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end packages come from npm at install time (`make` runs `npm ci`) and are served as
# static files; nothing is loaded from a CDN.
if (BASE_DIR / "node_modules" / "chart.js" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "feedback.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.api_support.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api_support.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.api_support.PrincipalRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"principal": env.str("API_RATE_LIMIT", default="1200/min")},
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": (
        "Post customer feedback in, read how it was routed, and work cases. Authenticate "
        "with `Authorization: Bearer <key>` (keys have scopes: ingest, read, write, "
        "webhooks). Errors are RFC 9457 problem details."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs describe the API; they reveal no data, so they are public.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "departments.models.Case.Status",
        "ItemStateEnum": "feedback.models.FeedbackItem.State",
        "IngestStatusEnum": ["created", "duplicate", "rejected"],
    },
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {
    "routing.tasks.route_items": {"queue": "routing"},
    "routing.tasks.*": {"queue": "maintenance"},
    "webhooks.tasks.sweep_due_deliveries": {"queue": "maintenance"},
    "webhooks.tasks.*": {"queue": "webhooks"},
    "feedback.tasks.*": {"queue": "maintenance"},
    "departments.tasks.*": {"queue": "maintenance"},
    "notifications.tasks.*": {"queue": "maintenance"},
}
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
# With acks_late, a message whose worker dies is redelivered after the visibility timeout;
# keep it above the hard time limit so a slow-but-alive task is never run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_SEND_TASK_EVENTS = False
# Loaded by every worker: its heartbeat bootstep (health) and task failure counters (metrics).
CELERY_IMPORTS = ["config.health", "config.metrics"]

ROUTING_SWEEP_AFTER = timedelta(seconds=env.int("ROUTING_SWEEP_AFTER_SECONDS", default=60))
ROUTING_SWEEP_EVERY = env.float("ROUTING_SWEEP_EVERY_SECONDS", default=30.0)
ROUTING_BATCH_SIZE = env.int("ROUTING_BATCH_SIZE", default=200)
# A scope (a department, source or intent) raises no spike until its first post is this
# many hours older than the hour scored: before that it has no usual level (a fresh install).
SPIKE_MIN_HISTORY_HOURS = env.int("SPIKE_MIN_HISTORY_HOURS", default=72)

# How often the dashboards' rollups are recomputed; a dashboard that finds them older asks
# for a refresh (at most once per interval).
ROLLUPS_REFRESH_EVERY = env.float("ROLLUPS_REFRESH_EVERY_SECONDS", default=300.0)

# "Your case is about to breach": how long before its first-response SLA ends the assignee
# is told, and how often the sweep looks (notifications.tasks.notify_breach_soon).
NOTIFY_BREACH_SOON_WITHIN = timedelta(
    minutes=env.int("NOTIFY_BREACH_SOON_WITHIN_MINUTES", default=30)
)
NOTIFY_BREACH_SOON_EVERY = env.float("NOTIFY_BREACH_SOON_EVERY_SECONDS", default=300.0)

CELERY_BEAT_SCHEDULE = {
    "sweep-unrouted-items": {
        "task": "routing.tasks.sweep_received",
        "schedule": ROUTING_SWEEP_EVERY,
    },
    "poll-due-feeds": {
        "task": "feedback.tasks.poll_due_feeds",
        "schedule": 60.0,
    },
    "refresh-dashboard-rollups": {
        "task": "departments.tasks.refresh_rollups",
        "schedule": ROLLUPS_REFRESH_EVERY,
    },
    "refresh-themes": {"task": "departments.tasks.refresh_themes", "schedule": 3600.0},
    "detect-spikes": {"task": "departments.tasks.detect_spikes", "schedule": 600.0},
    "weekly-digest": {
        "task": "departments.tasks.weekly_digest",
        "schedule": crontab(day_of_week="mon", hour=7, minute=0),
    },
    "notify-breach-soon": {
        "task": "notifications.tasks.notify_breach_soon",
        "schedule": NOTIFY_BREACH_SOON_EVERY,
    },
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_due_deliveries",
        "schedule": 30.0,
    },
    "retrain-classifier-nightly": {
        "task": "routing.tasks.retrain_classifier",
        "schedule": crontab(hour=3, minute=15),
    },
}

# --- Email (spike alerts, weekly digests) -------------------------------------------------
MAILERS = {
    "default": {
        "BACKEND": env.str(
            "EMAIL_BACKEND",
            default="django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": {
            "host": env.str("EMAIL_HOST", default="localhost"),
            "port": env.int("EMAIL_PORT", default=25),
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": env.str("EMAIL_HOST_PASSWORD", default=""),
            "use_tls": env.bool("EMAIL_USE_TLS", default=False),
        }
        if not DEBUG
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="switchboard@localhost")
# Where emails link to: the scheme and host the workspace is served from, no trailing slash.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Ingest -----------------------------------------------------------------------------
INGEST_MAX_ITEMS = env.int("INGEST_MAX_ITEMS", default=1000)
INGEST_MAX_BODY_CHARS = env.int("INGEST_MAX_BODY_CHARS", default=10_000)
# Enough for a full list of maximum-size items; Django refuses larger bodies.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=32 * 1024 * 1024)
# Any larger request body is refused with 413 before it is read (RequestSizeLimitMiddleware).
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)

# --- Outbound HTTP (webhooks, feeds) --------------------------------------------------------
# Webhook receivers and feeds on private, loopback, link-local or metadata addresses are
# refused outside development (config/outbound.py), so a URL cannot be used to probe
# internal services. WEBHOOK_ALLOW_PRIVATE_URLS is this setting's old name, still read from
# the environment so a deployment that set it keeps its receivers.
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "OUTBOUND_ALLOW_PRIVATE_ADDRESSES",
    default=env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG),
)

# --- Classifier -------------------------------------------------------------------------
CLASSIFIER_DEFAULT_ARTIFACT = BASE_DIR / "routing" / "artifacts" / "default.npz"
# Posts the model is not sure about are also read by the sentence encoder (multilingual-e5-
# small) and the two opinions averaged: better routing (docs/classifier.md) at ~15-36 such
# posts/s per worker thread instead of thousands, so off by default.
# seed_demo saves the demo's logins and API key here; `make run` prints it last.
DEMO_CREDENTIALS_FILE = BASE_DIR / ".run" / "demo-credentials.txt"
ROUTING_CASCADE = env.bool("ROUTING_CASCADE", default=False)
# A post no department is sure of goes to a sealed department's own triage (not the shared
# inbox every department reads) when that department's score is at least this.
SEALED_TRIAGE_FLOOR = env.float("SEALED_TRIAGE_FLOOR", default=0.25)
# Retraining needs no data file: it fits the organisation's layer on top of the shipped
# model from staff labels (routing/learning.py).

# --- Operations -------------------------------------------------------------------------
# One JSON object per line in production (request_id, task_id; see config/logging.py),
# readable lines in development. Celery workers keep this configuration too.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# Counters and heartbeats live in Redis (REDIS_URL) under this prefix; see config/metrics.py.
METRICS_KEY_PREFIX = env.str("METRICS_KEY_PREFIX", default=CACHES["default"]["KEY_PREFIX"])
# GET /metrics answers a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`. Without
# a token it is closed in production (403), unless METRICS_PUBLIC=true opens it on purpose
# (e.g. only the monitoring network reaches the process); development serves it openly.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=DEBUG)
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=30.0)
