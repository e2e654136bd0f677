"""The signature receivers check: HMAC-SHA256 over "<t>.<raw body>"."""

import time

from webhooks.services import signature_verify
from webhooks.signing import signature_compute, signature_header

SECRET = "whsec_test"
BODY = b'{"id":"1","event":"item.routed","data":{}}'


def test_a_fresh_signature_of_the_exact_body_verifies():
    header = signature_header(secret=SECRET, body=BODY)
    assert header.startswith("t=") and ",v1=" in header
    assert signature_verify(secret=SECRET, header=header, body=BODY)
    assert signature_verify(secret=SECRET, header=header, body=BODY.decode())


def test_a_changed_body_or_another_secret_does_not_verify():
    header = signature_header(secret=SECRET, body=BODY)
    assert not signature_verify(secret=SECRET, header=header, body=BODY + b" ")
    assert not signature_verify(secret="whsec_other", header=header, body=BODY)


def test_an_old_signature_is_refused_outside_the_tolerance():
    old = int(time.time()) - 301
    header = signature_header(secret=SECRET, body=BODY, timestamp=old)
    assert not signature_verify(secret=SECRET, header=header, body=BODY)
    assert signature_verify(secret=SECRET, header=header, body=BODY, tolerance=600)


def test_the_timestamp_is_signed_so_it_cannot_be_swapped():
    header = signature_header(secret=SECRET, body=BODY, timestamp=1_000)
    forged = header.replace("t=1000", f"t={int(time.time())}")
    assert not signature_verify(secret=SECRET, header=forged, body=BODY)


def test_malformed_headers_do_not_verify():
    for header in ["", "v1=abc", "t=abc,v1=abc", f"t={int(time.time())}", "garbage"]:
        assert not signature_verify(secret=SECRET, header=header, body=BODY)


def test_any_one_of_several_v1_signatures_may_match():
    t = int(time.time())
    good = signature_compute(secret=SECRET, timestamp=t, body=BODY)
    header = f"t={t},v1={'0' * 64},v1={good}"
    assert signature_verify(secret=SECRET, header=header, body=BODY)
