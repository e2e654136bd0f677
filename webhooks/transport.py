"""How a delivery goes over the wire: the URL check, the request body, one HTTP POST.

No state changes here; webhooks.services decides what an answer means for the delivery.
The POST goes through config.outbound, which resolves the receiver's name once, refuses
private, loopback and metadata addresses (unless OUTBOUND_ALLOW_PRIVATE_ADDRESSES) and
connects to exactly the address it checked.
"""

import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from config import outbound
from webhooks.models import Delivery, Subscription
from webhooks.payloads import slack_text

logger = logging.getLogger(__name__)

USER_AGENT = "Switchboard-Webhooks/1"
RESPONSE_BODY_MAX = 2048
DEFAULT_TIMEOUT = (3.0, 10.0)  # (connect, read) seconds


def _timeout() -> tuple[float, float]:
    value = getattr(settings, "WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT)
    if isinstance(value, int | float):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


# --- URLs -----------------------------------------------------------------------------------

_url_syntax = URLValidator(schemes=["http", "https"])


def check_url(url: str) -> None:
    """http or https, a host, and (unless OUTBOUND_ALLOW_PRIVATE_ADDRESSES) a public address.
    Raises django.core.exceptions.ValidationError, so forms and serializers show it.

    Early feedback when a subscription is saved; each attempt is checked again where it
    connects (the name may resolve elsewhere by then)."""
    try:
        _url_syntax(url)
    except ValidationError as exc:
        raise ValidationError("Enter a valid http:// or https:// URL.") from exc
    reason = outbound.url_refusal(url)
    if reason:
        raise ValidationError(reason)


# --- sending --------------------------------------------------------------------------------------


@dataclass
class Answer:
    code: int | None = None
    ms: int | None = None  # None: nothing was sent
    body: str = ""
    error: str = ""
    # The address is not allowed: retrying cannot help until the URL or its DNS changes.
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def request_body(*, subscription: Subscription, delivery: Delivery) -> bytes:
    if subscription.format == Subscription.Format.SLACK:
        try:
            text = slack_text(event=delivery.event, data=delivery.payload.get("data") or {})
        except Exception:  # a summary bug must not cost the delivery
            logger.exception("slack summary failed for delivery %s", delivery.pk)
            text = f"Switchboard event {delivery.event}"
        content = {"text": text}
    else:
        content = delivery.payload
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def http_post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """One HTTP POST. Never raises: every failure becomes the answer's error."""
    answer = Answer()
    connect_timeout, read_timeout = _timeout()
    started = time.monotonic()
    try:
        # No redirects: a 3xx is an answer (not 2xx, so retried) and shows in the delivery
        # log. The signed body was meant for this URL; a moved receiver means a URL to fix.
        response = outbound.outbound_request(
            method="POST",
            url=url,
            headers=headers,
            body=body,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_bytes=RESPONSE_BODY_MAX,
            truncate=True,
            max_redirects=0,
        )
        answer.code = response.status
        answer.body = response.content.decode("utf-8", "replace").replace("\x00", "")
    except outbound.AddressRefused as exc:
        answer.error, answer.refused = str(exc), True
    except outbound.ConnectTimeout:
        answer.error = f"Connection timed out after {connect_timeout:g} s."
    except outbound.ReadTimeout:
        answer.error = f"No answer within the read timeout ({read_timeout:g} s)."
    except outbound.ConnectionFailed as exc:
        answer.error = f"Connection failed: {_short(exc)}"
    except Exception as exc:  # anything else (a bad URL, a soft time limit) is logged
        answer.error = f"{type(exc).__name__}: {_short(exc)}"
    answer.ms = round((time.monotonic() - started) * 1000)
    if answer.code is not None and not answer.ok and not answer.error:
        answer.error = f"HTTP {answer.code}"
    return answer


def _short(exc: Exception) -> str:
    return str(exc).replace("\x00", "")[:500]
