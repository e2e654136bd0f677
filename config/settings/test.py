"""Test settings: the real local PostgreSQL and Redis, isolated from development data."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("DEBUG", "false")
# Redis database 15 keeps test queues and cache apart from a running development stack.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Tests that need throttling set their own low rate; the rest must never be throttled.
os.environ.setdefault("API_RATE_LIMIT", "1000000/min")

from config.settings.base import *  # noqa: F403  (settings modules are the exception)

# Unit tests run tasks in-process; integration tests switch this off and start real workers.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CACHES["default"]["KEY_PREFIX"] = "switchboard-test"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
