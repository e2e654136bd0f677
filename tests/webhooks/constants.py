"""Timings shared by the tests and the worker's settings (no Django imports here)."""

# In-process tests: short, distinct waits so a test sees the backoff grow in about 1.5 s.
FAST_DELAYS = [0.2, 0.4, 0.8]
# Real-worker tests: retries go through the broker with these countdowns (~2 s in all).
WORKER_DELAYS = [0.3, 0.6, 1.2]
