"""The product's settings with the bench-only URLconf: the ceilings are served by the same
gunicorn, middleware, authentication and throttling as the real endpoints they stand next to.
"""

from config.settings.base import *  # noqa: F403 (the whole product configuration, unchanged)

ROOT_URLCONF = "bench.ceiling_urls"
