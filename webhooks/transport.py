"""How a delivery goes over the wire: the URL policy, the request body, one HTTP POST.

No state changes here; webhooks.services decides what an answer means for the delivery.
"""

import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

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


def allow_private() -> bool:
    # Off in production: a webhook URL must not reach the cloud metadata endpoint or an
    # internal service and then show its answer in the delivery log (SSRF).
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", settings.DEBUG))


# --- URLs -----------------------------------------------------------------------------------

_url_syntax = URLValidator(schemes=["http", "https"])


def private_reason(host: str) -> str | None:
    """Why sending to `host` is refused, or None. Resolves the name (all addresses)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"The host {host!r} does not resolve."
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global:
            return f"The host {host!r} resolves to a private address ({ip}); not allowed."
    return None


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def check_url(url: str) -> None:
    """http or https, a host, and (unless WEBHOOK_ALLOW_PRIVATE_URLS) a public address.
    Raises django.core.exceptions.ValidationError, so forms and serializers show it."""
    try:
        _url_syntax(url)
    except ValidationError as exc:
        raise ValidationError("Enter a valid http:// or https:// URL.") from exc
    if not allow_private():
        reason = private_reason(url_host(url))
        if reason:
            raise ValidationError(reason)


# --- sending --------------------------------------------------------------------------------------


@dataclass
class Answer:
    code: int | None = None
    ms: int | None = None  # None: nothing was sent
    body: str = ""
    error: str = ""

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
    timeout = _timeout()
    started = time.monotonic()
    try:
        # No redirects: a 3xx is an answer (not 2xx, so retried), and following it could
        # lead to an address the URL check never saw.
        with requests.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            answer.code = response.status_code
            received = b""
            for chunk in response.iter_content(chunk_size=RESPONSE_BODY_MAX):
                received += chunk
                if len(received) >= RESPONSE_BODY_MAX:
                    break
            answer.body = (
                received[:RESPONSE_BODY_MAX].decode("utf-8", "replace").replace("\x00", "")
            )
    except requests.ConnectTimeout:
        answer.error = f"Connection timed out after {timeout[0]:g} s."
    except requests.ReadTimeout:
        answer.error = f"No answer within the read timeout ({timeout[1]:g} s)."
    except requests.ConnectionError as exc:
        if "timed out" in str(exc).lower():  # a read timeout while reading the body
            answer.error = f"No answer within the read timeout ({timeout[1]:g} s)."
        else:
            answer.error = f"Connection failed: {_short(exc)}"
    except Exception as exc:  # anything else (bad URL, TLS, a soft time limit) is logged
        answer.error = f"{type(exc).__name__}: {_short(exc)}"
    answer.ms = round((time.monotonic() - started) * 1000)
    if answer.code is not None and not answer.ok and not answer.error:
        answer.error = f"HTTP {answer.code}"
    return answer


def _short(exc: Exception) -> str:
    return str(exc).replace("\x00", "")[:500]
