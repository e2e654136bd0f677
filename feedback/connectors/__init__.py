"""Ingest connectors: everything that brings posts in other than the JSON API.

- `feeds` — RSS/Atom feeds polled on a schedule (services `feed_poll`, `feeds_claim_due`,
  `feed_claim`; the Celery tasks in `feedback.tasks` wrap them);
- `importer` — streaming CSV / JSONL import used by `manage.py import_feedback`;
- `html` — HTML to plain text, for feed entries that carry HTML.

Payload adapters for platform shapes (X, Reddit, app stores, web forms) live in
`feedback.adapters`. Every connector stores posts through `feedback.services.feedback_ingest`
and nothing else, so validation, idempotency and routing are the same for all of them.
"""
