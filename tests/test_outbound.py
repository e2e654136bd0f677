"""config.outbound: one resolve per hop, every address checked, the socket opened to exactly
the checked address, redirects re-checked, bodies and time bounded.

No test reaches beyond loopback: names come from the `network` fixture's table (tests/
network.py) and a connection to any other address is either refused by it without a socket
or, after `network.serve_as(port)`, lands on a loopback test server standing in for it.
"""

import base64
import gzip
import re
import shutil
import ssl
import subprocess

import pytest

from config import outbound
from config.outbound import (
    AddressRefused,
    ConnectionFailed,
    OutboundError,
    ReadTimeout,
    ResponseTooLarge,
    address_refusal,
    outbound_request,
    url_refusal,
)
from tests.network import LoopbackServer, redirect, slow

PUBLIC = "93.184.216.34"
FEED = (200, {"Content-Type": "application/rss+xml"}, b"<rss version='2.0'></rss>")


def get(url: str, **kwargs) -> outbound.OutboundResponse:
    options = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_bytes": 100_000}
    return outbound_request(method="GET", url=url, **{**options, **kwargs})


@pytest.fixture
def server():
    s = LoopbackServer(routes={"/feed.rss": FEED}).start()
    yield s
    s.stop()


@pytest.fixture
def production(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    return settings


# Every range that must be refused, with the words the refusal uses.
BLOCKED = [
    ("127.0.0.1", "is a loopback address"),
    ("127.10.0.5", "is a loopback address"),
    ("::1", "is a loopback address"),
    ("10.0.0.1", "is a private address"),
    ("172.16.3.4", "is a private address"),
    ("192.168.1.10", "is a private address"),
    ("fc00::1", "is a private address"),
    ("fd12:3456::1", "is a private address"),
    ("169.254.169.254", "is a cloud metadata address"),
    ("fd00:ec2::254", "is a cloud metadata address"),
    ("169.254.10.20", "is a link-local address"),
    ("fe80::1", "is a link-local address"),
    ("fe80::1%eth0", "is a link-local address"),
    ("100.64.0.1", "is a shared (carrier-grade NAT) address"),
    ("0.0.0.0", "is an unspecified address"),  # noqa: S104 (an address to refuse)
    ("::", "is an unspecified address"),
    ("224.0.0.251", "is a multicast address"),
    ("ff02::1", "is a multicast address"),
    ("240.0.0.1", "is a reserved address"),
    ("255.255.255.255", "is a reserved address"),
    ("192.0.2.7", "is not a public address"),  # documentation range
    ("0.1.2.3", "is not a public address"),  # "this network"
    # IPv6 spellings of IPv4 addresses reach the IPv4 address.
    ("::ffff:127.0.0.1", "is a loopback address (127.0.0.1)"),
    ("::ffff:10.0.0.1", "is a private address (10.0.0.1)"),
    ("::ffff:169.254.169.254", "is a cloud metadata address (169.254.169.254)"),
    ("64:ff9b::a00:1", "is a private address (10.0.0.1)"),  # NAT64
    ("2002:a00:1::", "is a private address (10.0.0.1)"),  # 6to4
    ("::7f00:1", "is a loopback address (127.0.0.1)"),  # IPv4-compatible
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_each_blocked_range_has_a_reason(address, reason):
    assert address_refusal(address) == reason


@pytest.mark.parametrize(
    "address", [PUBLIC, "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", f"::ffff:{PUBLIC}"]
)
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) is None


class TestRefusedBeforeAnySocket:
    @pytest.mark.parametrize(("address", "reason"), BLOCKED)
    def test_a_name_resolving_into_a_blocked_range(self, production, network, address, reason):
        network.answer("feeds.acme.test", [address])
        with pytest.raises(AddressRefused) as refused:
            get("https://feeds.acme.test/feed.rss")
        assert (
            str(refused.value) == f"Refused: feeds.acme.test resolves to {address}, which {reason}."
        )
        assert network.connects == []

    @pytest.mark.parametrize("host", ["10.0.0.1", "[::ffff:127.0.0.1]", "169.254.169.254"])
    def test_an_address_in_the_url(self, production, network, host):
        with pytest.raises(AddressRefused, match=r"^Refused: .* is a "):
            get(f"http://{host}/latest/meta-data/")
        assert network.lookups == [] and network.connects == []

    def test_one_private_answer_among_public_ones_refuses_the_name(self, production, network):
        network.answer("feeds.acme.test", [PUBLIC, "10.0.0.1"])
        with pytest.raises(
            AddressRefused, match=re.escape("resolves to 10.0.0.1, which is a private")
        ):
            get("http://feeds.acme.test/feed.rss")
        assert network.connects == []

    def test_the_error_message_for_a_literal_address(self, production):
        with pytest.raises(AddressRefused) as refused:
            get("http://10.0.0.1/feed.rss")
        assert str(refused.value) == "Refused: 10.0.0.1 is a private address."


class TestDnsRebinding:
    """The name answers with a public address first and an internal one next time."""

    @pytest.mark.parametrize("internal", ["10.0.0.1", "127.0.0.1"])
    def test_the_client_resolves_once_and_connects_to_what_it_checked(
        self, production, network, server, internal
    ):
        network.answer("feeds.acme.test", [PUBLIC], [internal])
        network.serve_as(server.port)  # the test server plays 93.184.216.34

        response = get("http://feeds.acme.test/feed.rss")

        assert response.status == 200 and response.content == FEED[2]
        assert network.lookups == ["feeds.acme.test"]
        assert network.connects == [(PUBLIC, 80)]
        # The pinned connection still names the host: virtual hosting works.
        assert server.requests[0].headers["Host"] == "feeds.acme.test"

    @pytest.mark.parametrize("internal", ["10.0.0.1", "127.0.0.1"])
    def test_an_earlier_check_does_not_vouch_for_the_connection(
        self, production, network, internal
    ):
        # What the old code did: check the name, then let the HTTP library resolve it again.
        network.answer("feeds.acme.test", [PUBLIC], [internal])
        assert url_refusal("http://feeds.acme.test/feed.rss") is None  # first answer: public

        with pytest.raises(AddressRefused, match=f"resolves to {internal}, which"):
            get("http://feeds.acme.test/feed.rss")
        assert network.connects == []


class TestRedirects:
    def test_a_redirect_to_a_private_address_is_refused(self, production, network, server):
        server.routes["/moved"] = redirect("http://169.254.169.254/latest/meta-data/")
        network.answer("feeds.acme.test", [PUBLIC])
        network.serve_as(server.port)

        with pytest.raises(AddressRefused) as refused:
            get("http://feeds.acme.test/moved")

        assert str(refused.value) == (
            "Refused (redirected to http://169.254.169.254/latest/meta-data/): "
            "169.254.169.254 is a cloud metadata address."
        )
        assert network.connects == [(PUBLIC, 80)]  # the first hop only

    def test_each_hop_resolves_its_own_host(self, production, network, server):
        server.routes["/moved"] = redirect("http://internal.acme.test/admin")
        network.answer("feeds.acme.test", [PUBLIC])
        network.answer("internal.acme.test", ["192.168.0.10"])
        network.serve_as(server.port)

        with pytest.raises(
            AddressRefused, match=re.escape("internal.acme.test resolves to 192.168.0.10")
        ):
            get("http://feeds.acme.test/moved")
        assert network.lookups == ["feeds.acme.test", "internal.acme.test"]

    def test_redirects_are_followed_and_the_final_url_is_reported(self, server):
        server.routes["/old"] = redirect("/older", 301)
        server.routes["/older"] = redirect(f"http://127.0.0.1:{server.port}/feed.rss", 308)

        response = get(f"http://127.0.0.1:{server.port}/old")

        assert response.status == 200 and response.url.endswith("/feed.rss")
        assert server.paths() == ["/old", "/older", "/feed.rss"]

    def test_more_than_five_redirects_is_an_error(self, server):
        server.routes["/loop"] = redirect("/loop")
        with pytest.raises(OutboundError, match="More than 5 redirects"):
            get(f"http://127.0.0.1:{server.port}/loop")
        assert len(server.requests) == 6

    def test_without_following_a_3xx_is_the_answer(self, server):
        server.routes["/moved"] = redirect("http://10.0.0.1/")
        response = get(f"http://127.0.0.1:{server.port}/moved", max_redirects=0)
        assert response.status == 302 and server.paths() == ["/moved"]

    def test_credentials_stay_with_their_host(self, network, server):
        server.routes["/moved"] = redirect(f"http://mirror.acme.test:{server.port}/feed.rss")
        network.answer("mirror.acme.test", ["127.0.0.1"])

        get(f"http://127.0.0.1:{server.port}/moved", headers={"Authorization": "Bearer s3cret"})

        first, second = server.requests
        assert first.headers["Authorization"] == "Bearer s3cret"
        assert "Authorization" not in second.headers

    def test_a_303_after_a_post_becomes_a_get(self, server):
        server.routes["/submit"] = redirect("/feed.rss", 303)
        outbound_request(
            method="POST",
            url=f"http://127.0.0.1:{server.port}/submit",
            body=b"{}",
            headers={"Content-Type": "application/json"},
            connect_timeout=2,
            read_timeout=2,
            max_bytes=1000,
        )
        assert [(s.method, s.body) for s in server.requests] == [("POST", b"{}"), ("GET", b"")]


def test_credentials_in_the_url_become_basic_auth(server):
    get(f"http://feeds:p%40ss@127.0.0.1:{server.port}/feed.rss")
    token = base64.b64encode(b"feeds:p@ss").decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {token}"


class TestAllowSetting:
    @pytest.mark.parametrize(("address", "reason"), BLOCKED)
    def test_with_the_setting_on_every_range_is_connected_to(
        self, settings, network, server, address, reason
    ):
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
        network.answer("feeds.acme.test", [address])
        network.serve_as(server.port)  # stands in for the private address: nothing leaves

        assert get("http://feeds.acme.test/feed.rss").status == 200
        assert network.connects == [(address, 80)]

    def test_with_the_setting_on_the_loopback_server_answers(self, settings, server):
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
        assert get(f"http://127.0.0.1:{server.port}/feed.rss").content == FEED[2]

    def test_url_refusal_follows_the_setting(self, settings):
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
        assert url_refusal("http://10.0.0.1/") is None
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
        assert url_refusal("http://10.0.0.1/") == "Refused: 10.0.0.1 is a private address."
        assert url_refusal("http://nowhere.test/") == "The host 'nowhere.test' does not resolve."


class TestLimits:
    def test_a_body_over_the_cap_is_an_error(self, server):
        server.routes["/big"] = (200, {}, b"x" * 5000)
        with pytest.raises(ResponseTooLarge, match="5000 bytes; the limit is 4096"):
            get(f"http://127.0.0.1:{server.port}/big", max_bytes=4096)

    def test_or_is_cut_at_the_cap(self, server):
        server.routes["/big"] = (200, {}, b"x" * 5000)
        response = get(f"http://127.0.0.1:{server.port}/big", max_bytes=2048, truncate=True)
        assert response.content == b"x" * 2048 and response.truncated

    def test_gzip_is_decoded_and_the_cap_counts_decoded_bytes(self, server):
        bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB on the wire
        server.routes["/small.gz"] = (200, {"Content-Encoding": "gzip"}, gzip.compress(b"hello"))
        server.routes["/bomb.gz"] = (200, {"Content-Encoding": "gzip"}, bomb)

        assert get(f"http://127.0.0.1:{server.port}/small.gz").content == b"hello"
        with pytest.raises(ResponseTooLarge, match="larger than 100000 bytes"):
            get(f"http://127.0.0.1:{server.port}/bomb.gz")

    def test_silence_past_the_read_timeout(self, server):
        server.routes["/slow"] = slow(1.0, FEED)
        with pytest.raises(ReadTimeout, match=re.escape("No answer from 127.0.0.1 within 0.2 s")):
            get(f"http://127.0.0.1:{server.port}/slow", read_timeout=0.2)

    def test_the_deadline_bounds_the_whole_exchange(self, server):
        server.routes["/slow"] = slow(1.0, FEED)
        with pytest.raises(ReadTimeout, match=re.escape("took longer than 0.3 s")):
            get(f"http://127.0.0.1:{server.port}/slow", read_timeout=5, deadline=0.3)

    def test_nothing_listening_is_a_connection_failure(self, network):
        with pytest.raises(ConnectionFailed, match="refused"):
            get("http://127.0.0.1:9/")
        assert network.connects == [("127.0.0.1", 9)]

    @pytest.mark.parametrize("url", ["ftp://example.test/", "http:///path", "http://a:99999/"])
    def test_urls_that_are_not_http_are_errors(self, url):
        with pytest.raises(OutboundError):
            get(url)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A throwaway CA and a certificate for feeds.acme.test, made with the openssl CLI."""
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (d / "leaf.ext").write_text(
        "subjectAltName=DNS:feeds.acme.test\nauthorityKeyIdentifier=keyid\n"
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    for command in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=Switchboard test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=feeds.acme.test"],
        ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"],
    ):  # fmt: skip
        subprocess.run(["openssl", *command], cwd=d, check=True, capture_output=True)
    return d


class TestTls:
    @pytest.fixture
    def https_server(self, certificates):
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
        s = LoopbackServer(routes={"/feed.rss": FEED}, tls=tls).start()
        yield s
        s.stop()

    @pytest.fixture
    def trust(self, certificates):
        return ssl.create_default_context(cafile=str(certificates / "ca.pem"))

    def test_sni_and_the_certificate_are_for_the_host_name_not_the_pinned_ip(
        self, production, network, https_server, trust
    ):
        network.answer("feeds.acme.test", [PUBLIC])
        network.serve_as(https_server.port)

        response = get("https://feeds.acme.test/feed.rss", tls_context=trust)

        assert response.status == 200 and network.connects == [(PUBLIC, 443)]
        assert https_server.server_names == ["feeds.acme.test"]
        assert https_server.requests[0].headers["Host"] == "feeds.acme.test"

    def test_a_certificate_for_another_name_is_refused(
        self, production, network, https_server, trust
    ):
        network.answer("other.acme.test", [PUBLIC])
        network.serve_as(https_server.port)

        with pytest.raises(ConnectionFailed, match="TLS certificate not valid"):
            get("https://other.acme.test/feed.rss", tls_context=trust)
        assert https_server.requests == []
