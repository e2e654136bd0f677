"""Structured logs: one JSON object per line, tagged with the request or the task."""

import json
import logging

import pytest
from celery import shared_task
from django.db import OperationalError

from config.logging import ContextFilter, JsonFormatter, PlainFormatter, logging_config

URL = "/api/v1/feedback/"


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.addFilter(ContextFilter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines():
    handler = Capture(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    django_logger = logging.getLogger("django")  # does not propagate to the root
    django_logger.addHandler(handler)
    yield handler.lines
    root.removeHandler(handler)
    django_logger.removeHandler(handler)


def entries(lines):
    return [json.loads(line) for line in lines]


def test_a_request_id_from_the_caller_tags_every_line_and_comes_back(
    api, source, monkeypatch, json_lines
):
    def down(**kwargs):
        raise OperationalError("connection to server failed")

    monkeypatch.setattr("feedback.api.views.feedback_ingest", down)
    response = api.post(
        URL,
        data=json.dumps({"external_id": "x-1", "body": "hello"}),
        content_type="application/json",
        HTTP_X_REQUEST_ID="lb-7f3a-0001",
    )
    assert response.status_code == 503
    assert response["X-Request-ID"] == "lb-7f3a-0001"
    logged = entries(json_lines)
    # Written inside the request (config.api_errors) and after it (django.request's 503 line).
    by_logger = {e["logger"]: e for e in logged}
    assert by_logger["config.api_errors"]["request_id"] == "lb-7f3a-0001"
    assert by_logger["django.request"]["request_id"] == "lb-7f3a-0001"
    for entry in logged:
        assert set(entry) >= {"timestamp", "level", "logger", "message", "request_id", "task_id"}
        assert entry["timestamp"].endswith("+00:00")


@pytest.mark.parametrize("header", [None, "", "has spaces", "x" * 200, "new\nline"])
def test_a_missing_or_unsafe_request_id_is_replaced(client, db, header):
    extra = {} if header is None else {"HTTP_X_REQUEST_ID": header}
    response = client.get("/healthz", **extra)
    request_id = response["X-Request-ID"]
    assert request_id != header and len(request_id) == 32
    int(request_id, 16)  # a uuid4 in hex


@shared_task(name="tests.faults.logs_a_line")
def logs_a_line():
    logging.getLogger("tests.faults").warning("inside the task")


def test_lines_written_by_a_task_carry_its_id(json_lines):
    result = logs_a_line.apply()
    [entry] = [e for e in entries(json_lines) if e["message"] == "inside the task"]
    assert entry["task_id"] == result.id
    assert entry["task"] == "tests.faults.logs_a_line"
    assert entry["request_id"] is None


def test_exceptions_and_extra_fields_stay_on_one_line():
    logger = logging.getLogger("tests.faults")
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logger.makeRecord(
            "tests.faults", logging.ERROR, __file__, 1, "failed %s", ("x",), None
        )
        import sys

        record.exc_info = sys.exc_info()
    record.item_id = 42
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed x" and entry["item_id"] == 42
    assert "ValueError: bad value" in entry["exception"]


def test_the_plain_format_shows_the_request_id(client, db):
    handler = Capture(PlainFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.get("/api/v1/feedback/no-such-page/", HTTP_X_REQUEST_ID="dev-1")
    finally:
        logger.removeHandler(handler)
    assert any("[request=dev-1]" in line for line in handler.lines), handler.lines


def test_log_format_is_json_or_plain():
    assert logging_config(fmt="json", level="INFO")["formatters"]["default"]["()"].endswith(
        "JsonFormatter"
    )
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(fmt="xml", level="INFO")
