"""The receiver snippet in docs/webhooks.md verifies real signatures (the docs stay true)."""

import re
import time
from pathlib import Path

from webhooks.signing import signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def test_the_documented_receiver_verifies_our_signatures(monkeypatch):
    snippet = re.search(r'```python\n("""A minimal Switchboard.*?)```', DOC.read_text(), re.S)
    assert snippet, "the receiver example is missing from docs/webhooks.md"
    monkeypatch.setenv("SWITCHBOARD_SECRET", "whsec_docs")
    namespace = {"__name__": "receiver"}
    exec(compile(snippet.group(1), str(DOC), "exec"), namespace)  # noqa: S102  (our own docs)
    verify = namespace["verify"]

    body = b'{"id":"1","event":"item.routed","data":{}}'
    assert verify(signature_header(secret="whsec_docs", body=body), body)
    assert not verify(signature_header(secret="whsec_other", body=body), body)
    assert not verify(signature_header(secret="whsec_docs", body=body), body + b" ")
    stale = signature_header(secret="whsec_docs", body=body, timestamp=int(time.time()) - 301)
    assert not verify(stale, body)
