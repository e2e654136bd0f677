"""The one way Switchboard makes HTTP requests to addresses someone typed in (webhook
receivers, RSS/Atom feeds).

Why a client of our own. Those URLs are chosen by admins and integrations, and the answer
is shown back (delivery log, a feed's last error), so a careless fetch is server-side request
forgery: `http://169.254.169.254/` would read the cloud's credentials, `http://10.0.0.5:9200/`
an internal service. Checking the URL's host and then letting an HTTP library resolve the
name again is not enough: DNS can answer differently the second time (rebinding), and a
redirect can lead anywhere. So for every hop of a request this module

1. resolves the host once, with an injectable `resolver` (default `host_resolve`);
2. checks every address it got (`address_refusal`); one refused address refuses the request,
   so a name cannot hide a private address among public ones;
3. opens the socket to one of exactly those checked addresses, with an injectable
   `connector` (default `tcp_connect`), never by name; the Host header, TLS SNI and the
   certificate check still use the host name from the URL;
4. follows redirects itself (never a library), every new hop going through 1-3 again.

A connect timeout, a read timeout, an optional deadline for the whole exchange and a cap on
the (decoded) body bound what one request can cost. Proxy settings in the environment are
ignored on purpose: a proxy would resolve the name itself, after our check.

`OUTBOUND_ALLOW_PRIVATE_ADDRESSES` (off in production) skips step 2: development, the test
suite's loopback servers, an on-premises receiver.
"""

import base64
import http.client
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import cache
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import certifi
from django.conf import settings

# (host, port) -> the addresses to choose from, as strings ("93.184.216.34", "2001:db8::1").
Resolver = Callable[[str, int], Sequence[str]]
# (ip, port, connect timeout in seconds) -> a connected socket. Given only checked addresses.
Connector = Callable[[str, int, float], socket.socket]

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_READ_CHUNK = 64 * 1024
# Ask for gzip only: it is what servers compress feeds with, and it is decoded (and capped)
# here. Anything else is passed on as received, as requests did.
_ACCEPT_ENCODING = "gzip"
# Headers that carry credentials for one site: not sent on to another host after a redirect.
_CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization"}


# --- errors ---------------------------------------------------------------------------------


class OutboundError(Exception):
    """The request gave no usable answer. The message is for people (a feed's last error, the
    delivery log), so it says what happened without a traceback."""


class AddressRefused(OutboundError):
    """The host is, or resolves to, an address this deployment must not reach."""


class ConnectionFailed(OutboundError):
    """The host does not resolve, nothing answered, TLS failed, or the answer broke off."""


class OutboundTimeout(OutboundError):
    pass


class ConnectTimeout(OutboundTimeout):
    pass


class ReadTimeout(OutboundTimeout):
    """Silence for longer than the read timeout, or the whole exchange past its deadline."""


class ResponseTooLarge(OutboundError):
    pass


# --- the address policy ---------------------------------------------------------------------


def private_allowed() -> bool:
    # Off in production; see the module docstring for what it guards against.
    return bool(settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES)


_IPv4 = ipaddress.IPv4Network
_IPv6 = ipaddress.IPv6Network
# Where the cloud providers' instance-metadata services answer (credentials, user data).
_METADATA = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
}
_SHARED = _IPv4("100.64.0.0/10")  # carrier-grade NAT: inside some provider's network
_PRIVATE = (_IPv4("10.0.0.0/8"), _IPv4("172.16.0.0/12"), _IPv4("192.168.0.0/16"))
_UNIQUE_LOCAL = _IPv6("fc00::/7")
# IPv6 forms that carry an IPv4 address which the packets end up at.
_NAT64 = _IPv6("64:ff9b::/96")
_IPV4_COMPATIBLE = _IPv6("::/96")  # deprecated, but some stacks still route it


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(address: str) -> str | None:
    """Why `address` (an IP as a string) must not be connected to, as the end of a sentence
    ("is a private address"), or None for a public address. Ignores the allow setting."""
    try:
        # Without the zone ("fe80::1%eth0"): it names an interface, not another address.
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(str(inner))
            return reason and f"{reason} ({inner})"
    # The order picks the most telling name: 169.254.169.254 is link-local too, but "cloud
    # metadata" is what the admin should read.
    if ip in _METADATA:
        return "is a cloud metadata address"
    if ip.is_unspecified:
        return "is an unspecified address"
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_link_local:
        return "is a link-local address"
    if ip in _SHARED:
        return "is a shared (carrier-grade NAT) address"
    if ip.is_multicast:  # multicast counts as "global" to ipaddress, so ask first
        return "is a multicast address"
    if any(ip in net for net in _PRIVATE) or ip in _UNIQUE_LOCAL:
        return "is a private address"
    if ip.is_reserved:
        return "is a reserved address"
    if not ip.is_global:  # documentation, benchmarking, protocol assignments, …
        return "is not a public address"
    return None


def host_resolve(host: str, port: int) -> list[str]:
    """The system resolver: every address of `host`, in the order it gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def tcp_connect(ip: str, port: int, timeout: float) -> socket.socket:
    """Open a TCP connection to an address (never a name: nothing is resolved here)."""
    return socket.create_connection((ip, port), timeout=timeout)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _checked_addresses(
    host: str, port: int, *, resolver: Resolver, allow_private: bool, via: str = ""
) -> list[str]:
    """Resolve `host` once and return its addresses, each of them allowed; raise
    AddressRefused naming the first that is not (`via`: the redirect that led here)."""
    if _is_ip(host):
        addresses = [host]  # a literal: nothing to resolve, so no resolver is asked
    else:
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise ConnectionFailed(f"The host {host!r} does not resolve.") from exc
        if not addresses:
            raise ConnectionFailed(f"The host {host!r} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                where = address if address == host else f"{host} resolves to {address}, which"
                refused = f"Refused (redirected to {via[:200]})" if via else "Refused"
                raise AddressRefused(f"{refused}: {where} {reason}.")
    return addresses


def url_refusal(url: str, *, resolver: Resolver | None = None) -> str | None:
    """Why a request to `url` would be refused now, or None. For saving a webhook or feed:
    early feedback only, since the name may resolve elsewhere by the time it is used; the
    request itself checks again (and that check is the one that counts)."""
    if private_allowed():
        return None
    try:
        target = _Target.parse(url)
        _checked_addresses(
            target.host, target.port, resolver=resolver or host_resolve, allow_private=False
        )
    except OutboundError as exc:
        return str(exc)
    return None


# --- connections pinned to a checked address ------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to `host` (which the Host header names) over a socket opened to `ip`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ip: str,
        connector: Connector,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=read_timeout)
        self.ip = ip
        self._connector = connector
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def connect(self) -> None:
        sock = self._connector(self.ip, self.port, self._connect_timeout)
        try:
            sock.settimeout(self._connect_timeout)  # also bounds a TLS handshake that stalls
            self.sock = self._wrap(sock)
        except BaseException:
            sock.close()
            raise
        self.sock.settimeout(self._read_timeout)

    def _wrap(self, sock: socket.socket) -> socket.socket:
        return sock


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = http.client.HTTPS_PORT  # so the Host header leaves out :443

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext, **kwargs) -> None:
        super().__init__(host, port, **kwargs)
        self._tls = tls

    def _wrap(self, sock: socket.socket) -> socket.socket:
        # SNI and the certificate check are for the name in the URL, not the pinned IP.
        return self._tls.wrap_socket(sock, server_hostname=self.host)


@cache
def _default_tls() -> ssl.SSLContext:
    # certifi's bundle: the trust store deliveries and feed fetches had under requests.
    return ssl.create_default_context(cafile=certifi.where())


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    reason: str
    headers: Message  # case-insensitive .get(); repeated headers with get_all()
    content: bytes  # decoded (gzip), at most the cap
    url: str  # where the answer came from, after redirects
    truncated: bool = False  # the body went past the cap and was cut there


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str  # ASCII (IDNA), no brackets
    port: int
    path: str  # path and query: the request target
    userinfo: tuple[str, str] | None

    @classmethod
    def parse(cls, url: str) -> "_Target":
        try:
            parts: SplitResult = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise OutboundError(f"Not a valid URL: {url[:200]!r}.") from exc
        if parts.scheme not in ("http", "https"):
            raise OutboundError(f"Not an http:// or https:// URL: {url[:200]!r}.")
        if not parts.hostname:
            raise OutboundError(f"The URL has no host: {url[:200]!r}.")
        host = parts.hostname
        if not _is_ip(host):
            try:
                host = host.encode("idna").decode("ascii")  # what DNS, Host and SNI expect
            except UnicodeError as exc:
                raise OutboundError(f"Not a valid host name: {host!r}.") from exc
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        userinfo = (
            (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        )
        default = 443 if parts.scheme == "https" else 80
        return cls(url, parts.scheme, host, port or default, path, userinfo)


class _Clock:
    """The read timeout, shortened near the deadline; says which of the two ran out."""

    def __init__(self, *, host: str, read_timeout: float, deadline: float | None) -> None:
        self.host = host
        self.read_timeout = read_timeout
        self.deadline = deadline
        self._ends = time.monotonic() + deadline if deadline is not None else None
        self._bound_by_deadline = False

    def next_timeout(self) -> float:
        if self._ends is None:
            return self.read_timeout
        left = self._ends - time.monotonic()
        if left <= 0:
            raise self.expired()
        self._bound_by_deadline = left < self.read_timeout
        return min(left, self.read_timeout)

    def expired(self) -> ReadTimeout:
        if self._bound_by_deadline or (self._ends is not None and time.monotonic() >= self._ends):
            return ReadTimeout(
                f"The exchange with {self.host} took longer than {self.deadline:g} s."
            )
        return ReadTimeout(f"No answer from {self.host} within {self.read_timeout:g} s.")


@dataclass(frozen=True)
class _Setup:
    """What every hop of one request shares."""

    connect_timeout: float
    clock: _Clock
    max_bytes: int
    truncate: bool
    connector: Connector
    tls: ssl.SSLContext


def outbound_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    connect_timeout: float,
    read_timeout: float,
    deadline: float | None = None,
    max_bytes: int,
    truncate: bool = False,
    max_redirects: int = MAX_REDIRECTS,
    resolver: Resolver | None = None,
    connector: Connector | None = None,
    tls_context: ssl.SSLContext | None = None,
    allow_private: bool | None = None,
) -> OutboundResponse:
    """Send one request (following up to `max_redirects` redirects) and read the answer.

    Any status is an answer, not an error; with `max_redirects=0` a 3xx is returned as it
    is. Bodies over `max_bytes` raise ResponseTooLarge, or with `truncate` are cut there.
    `deadline` (seconds) bounds the whole exchange, redirects included. `allow_private`
    None means the OUTBOUND_ALLOW_PRIVATE_ADDRESSES setting. Raises OutboundError (one of
    its subclasses) for everything that is not an answer; AddressRefused is raised before
    any socket is opened to the refused address.
    """
    allow = private_allowed() if allow_private is None else allow_private
    setup = _Setup(
        connect_timeout,
        _Clock(host="", read_timeout=read_timeout, deadline=deadline),
        max_bytes,
        truncate,
        connector or tcp_connect,
        tls_context or _default_tls(),
    )
    sent = dict(headers or {})
    target = _Target.parse(url)
    for hop in range(max_redirects + 1):
        setup.clock.host = target.host
        addresses = _checked_addresses(
            target.host,
            target.port,
            resolver=resolver or host_resolve,
            allow_private=allow,
            via=target.url if hop else "",
        )
        response = _exchange(
            target, addresses, method, sent, body, follow=hop < max_redirects, setup=setup
        )
        location = response.headers.get("Location") if response.status in _REDIRECTS else None
        if not location or max_redirects == 0:
            return response
        if hop == max_redirects:
            break
        following = _Target.parse(urljoin(target.url, location.strip()))
        if following.host != target.host:
            sent = {k: v for k, v in sent.items() if k.lower() not in _CREDENTIAL_HEADERS}
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            # What browsers do, and what a 303 asks for: the body is not sent on.
            method, body = ("HEAD" if method == "HEAD" else "GET"), None
            sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
        target = following
    raise OutboundError(f"More than {max_redirects} redirects (the last to {target.url[:200]}).")


def _exchange(
    target: _Target,
    addresses: list[str],
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    follow: bool,
    setup: _Setup,
) -> OutboundResponse:
    """One request on a fresh connection to one of `addresses` (all checked already).
    With `follow`, a redirect's body is not read."""
    conn = _connect(target, addresses, setup=setup)
    sent = {"Accept-Encoding": _ACCEPT_ENCODING, "Connection": "close", **headers}
    if target.userinfo and not any(k.lower() == "authorization" for k in sent):
        token = base64.b64encode(":".join(target.userinfo).encode()).decode()
        sent["Authorization"] = f"Basic {token}"
    # Our own handle on the socket: http.client lets go of conn.sock once a response that
    # closes the connection arrives, while the response goes on reading from it.
    sock = conn.sock
    clock = setup.clock
    response: http.client.HTTPResponse | None = None
    try:
        sock.settimeout(clock.next_timeout())
        conn.request(method, target.path, body=body, headers=sent)
        response = conn.getresponse()
        content, truncated = b"", False
        if not (follow and response.status in _REDIRECTS and response.getheader("Location")):
            content, truncated = _read_body(response, sock=sock, setup=setup)
        return OutboundResponse(
            response.status, response.reason, response.msg, content, target.url, truncated
        )
    except TimeoutError as exc:
        raise clock.expired() from exc
    except http.client.InvalidURL as exc:  # control characters in the path, say
        raise OutboundError(f"Not a valid URL: {_describe(exc)}") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise ConnectionFailed(f"{target.host}: {_describe(exc)}") from exc
    finally:
        if response is not None:
            response.close()  # unread body (a redirect, a cut one) is not waited for
        conn.close()
        sock.close()


def _connect(target: _Target, addresses: list[str], *, setup: _Setup) -> _PinnedHTTPConnection:
    """A connection to the first of `addresses` that accepts one."""
    failure: OutboundError | None = None
    for ip in addresses:
        setup.clock.next_timeout()  # past the deadline: no further address is tried
        pinned = dict(
            ip=ip,
            connector=setup.connector,
            connect_timeout=setup.connect_timeout,
            read_timeout=setup.clock.read_timeout,
        )
        conn = (
            _PinnedHTTPSConnection(target.host, target.port, tls=setup.tls, **pinned)
            if target.scheme == "https"
            else _PinnedHTTPConnection(target.host, target.port, **pinned)
        )
        try:
            conn.connect()
            return conn
        except TimeoutError:
            failure = ConnectTimeout(
                f"Connecting to {target.host} ({ip}) timed out after {setup.connect_timeout:g} s."
            )
        except ssl.SSLCertVerificationError as exc:
            failure = ConnectionFailed(
                f"{target.host}: TLS certificate not valid ({exc.verify_message})."
            )
        except OSError as exc:
            failure = ConnectionFailed(f"{target.host} ({ip}): {_describe(exc)}")
        conn.close()
    assert failure is not None  # `addresses` is never empty
    raise failure


def _read_body(
    response: http.client.HTTPResponse, *, sock: socket.socket, setup: _Setup
) -> tuple[bytes, bool]:
    clock, max_bytes, truncate = setup.clock, setup.max_bytes, setup.truncate
    declared = response.getheader("Content-Length", "")
    encoding = (response.getheader("Content-Encoding") or "").strip().lower()
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"The response is {int(declared)} bytes; the limit is {max_bytes}.")
    # Decoded bytes are what is capped: a small gzip body can inflate a thousandfold.
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip") else None
    received = bytearray()
    # The response closes itself (and with it the socket) once the whole body is in.
    while not response.isclosed():
        sock.settimeout(clock.next_timeout())
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            break
        if inflate is not None:
            try:
                # At most one byte past the cap, so a bomb never inflates in memory.
                chunk = inflate.decompress(chunk, max_bytes - len(received) + 1)
            except zlib.error as exc:
                raise ConnectionFailed(f"The gzip body could not be decoded: {exc}.") from exc
        received += chunk
        if len(received) > max_bytes:
            break
    if inflate is not None and len(received) <= max_bytes:
        received += inflate.flush()
    if len(received) > max_bytes:
        if truncate:
            return bytes(received[:max_bytes]), True
        raise ResponseTooLarge(f"The response is larger than {max_bytes} bytes.")
    return bytes(received), False


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\x00", "")[:300]
