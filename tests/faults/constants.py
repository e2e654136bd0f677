"""Timings shared by the drills and the settings of the processes they start (no Django
imports here: the settings module reads it)."""

# Webhook retries through the broker: about 2 s from the first attempt to the last.
WEBHOOK_RETRY_DELAYS = [0.3, 0.6, 1.2]
