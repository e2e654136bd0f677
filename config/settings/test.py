"""Test settings: the real local PostgreSQL and Redis, isolated from development data."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("DEBUG", "false")
# Redis database 15 keeps test queues and cache apart from a running development stack.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Tests that need throttling set their own low rate; the rest must never be throttled.
os.environ.setdefault("API_RATE_LIMIT", "1000000/min")
# Tests run with DEBUG off but speak plain HTTP to the test client and live servers.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from config.settings.base import *  # noqa: F403  (settings modules are the exception)

# Unit tests run tasks in-process; integration tests switch this off and start real workers
# (tests/workers.py sets CELERY_EAGER=false for the worker processes it starts).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_EAGER", default=True)  # noqa: F405
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True  # test receivers and feed servers listen on 127.0.0.1
CELERY_TASK_EAGER_PROPAGATES = True
CACHES["default"]["KEY_PREFIX"] = "switchboard-test"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# The demo seed's tests must not overwrite a developer's .run/demo-credentials.txt.
DEMO_CREDENTIALS_FILE = Path(tempfile.gettempdir()) / "switchboard-test-demo-credentials.txt"
