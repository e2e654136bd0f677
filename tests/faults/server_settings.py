"""Settings for the processes the fault drills start (gunicorn, Celery worker and beat).

Like production, and unlike the in-process tests, tasks go through the broker. The drills
pass everything else through the environment (DATABASE_URL, REDIS_URL, ...).
"""

from config.settings.test import *  # noqa: F403  (settings modules are the exception)
from tests.faults.constants import WEBHOOK_RETRY_DELAYS as FAULT_WEBHOOK_RETRY_DELAYS

CELERY_TASK_ALWAYS_EAGER = False
# The webhook drill's receiver listens on 127.0.0.1; retries come quickly (~2 s in all).
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
WEBHOOK_RETRY_DELAYS = FAULT_WEBHOOK_RETRY_DELAYS
WEBHOOK_TIMEOUT = (1.0, 5.0)
