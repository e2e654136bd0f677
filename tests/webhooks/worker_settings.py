"""Settings for the Celery worker the webhook integration tests start (tests/workers.py).

The test settings run tasks eagerly, which in a worker would turn a retry's countdown into
an immediate call; a real worker must publish retries to the broker as in production.
"""

from config.settings.test import *  # noqa: F403  (settings modules are the exception)
from tests.webhooks.constants import WORKER_DELAYS

CELERY_TASK_ALWAYS_EAGER = False
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True  # the test receiver listens on 127.0.0.1
WEBHOOK_RETRY_DELAYS = WORKER_DELAYS
WEBHOOK_TIMEOUT = (1.0, 10.0)
