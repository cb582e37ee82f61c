"""Which URLs the controller fetches images from, where they may lead, and how they appear in messages.

http and https only (file:// when the configuration allows local files; the caller turns it into a file
source); a host is required; credentials in the URL are refused, because the URL is kept in task records,
template metadata and the audit log.

Where a URL may lead (`AddressPolicy`, server-side request forgery): unless `download.allow_private` is
true, an address that is not globally routable is refused: loopback, link-local (169.254.169.254, the cloud
metadata service, and fe80::/10), private (RFC 1918, fc00::/7), shared (100.64.0.0/10), unspecified,
multicast, reserved, documentation and benchmarking ranges, the same addresses embedded in IPv6
(::ffff:a.b.c.d, 6to4, NAT64 64:ff9b::/96), and every address of this machine (what a socket can bind to).
JVP's own listener (an address of this machine at the `listen` port) is refused even with
`allow_private`: fetching the API from itself has no use. The check runs on every address a host name
resolves to (one refused address refuses the name), on every redirect hop, and the connection is then
made to the address that was checked (fetch.py), so a second DNS answer cannot swap it (DNS rebinding).
A literal address is checked when the request is made (400 at once); names when the task resolves them.

IPv6: `http://[::1]:8080/x`, `http://[::ffff:127.0.0.1]/x` and `http://[fe80::1%25eth0]/x` (RFC 6874 zone
identifier) are parsed as addresses, never as host:port strings.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

from jvp.errors import InvalidInput

MAX_URL = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}
REDACTED = "***"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def redact(url: str) -> str:
    """The URL without its query string, fragment and credentials (signed URLs carry secrets there), for
    messages, task records and logs: scheme, host, port and path are kept."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=netloc, query="", fragment="").geturl()
    except ValueError:
        return "<unparsable URL>"


def redact_values(url: str) -> str:
    """The URL with credentials and query values hidden but the query's keys kept (the audit log shows which
    parameters a request carried: `?X-Amz-Signature=***&token=***`). A query part without `=` is hidden
    whole; a password in the user info becomes `***`, and for http(s) the user name as well (it is a
    credential there, while in a libvirt URI it is the login of the ssh transport)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _ = userinfo.partition(":")
        if parts.scheme.lower() in ("http", "https", "ftp", "ftps"):
            userinfo = REDACTED
        else:
            userinfo = user + (f":{REDACTED}" if sep else "")
        netloc = f"{userinfo}@{hostport}"
    query = parts.query
    if query:
        query = "&".join(f"{p.partition('=')[0]}={REDACTED}" if "=" in p else REDACTED
                         for p in query.split("&") if p)
    fragment = REDACTED if parts.fragment else ""
    return parts._replace(netloc=netloc, query=query, fragment=fragment).geturl()


def url_host(parts) -> str:
    """The host of a split URL as the resolver wants it: brackets gone, an IPv6 zone identifier
    percent-decoded (`fe80::1%25eth0` -> `fe80::1%eth0`)."""
    host = parts.hostname or ""
    return unquote(host) if "%" in host else host


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded_v4(addr: IpAddress) -> ipaddress.IPv4Address | None:
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if addr.teredo is not None:
            return addr.teredo[1]
    return None


def address_kind(addr: IpAddress) -> str | None:
    """Why an address is not a public one (None: it is), in words for the refusal."""
    inner = _embedded_v4(addr)
    if inner is not None:
        why = address_kind(inner)
        return f"{why} (embedded in {addr})" if why else None
    for attr, why in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                      ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                      ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(addr, attr):
            return why
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "site-local"
    if not addr.is_global:
        return "not globally routable"
    return None


def is_own_address(addr: IpAddress) -> bool:
    """An address of this machine: one a socket can bind to (no interface list needed, and no address is
    missed: secondary addresses and every interface count)."""
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((str(addr), 0))
        return True
    except OSError:
        return False


class AddressRefused(InvalidInput):
    """The URL (or a redirect from it) leads to an address this server does not fetch from."""
    code = "AddressNotAllowed"


@dataclass(frozen=True)
class AddressPolicy:
    """Where downloads may connect (module docstring). `listen` is JVP's own (host, port)."""
    allow_private: bool = False
    listen: tuple[str, int] | None = None
    own: Callable[[IpAddress], bool] = is_own_address        # an address of this machine?
    classify: Callable[[IpAddress], str | None] = address_kind  # why an address is not public (None: it is)

    def _own_listener(self, addr: IpAddress, port: int) -> bool:
        if self.listen is None or port != self.listen[1]:
            return False
        host = self.listen[0].strip("[]")
        bound = literal_address(host)
        if bound is None:  # a name (localhost): its addresses are this machine's
            return self.own(addr)
        if bound.is_unspecified:  # 0.0.0.0 / :: listens on every address of the machine
            return self.own(addr) or addr.is_loopback
        return addr == bound or (_embedded_v4(addr) == bound)

    def refusal(self, addr: IpAddress, port: int) -> str | None:
        """Why connecting to addr:port is refused, or None."""
        plain = ipaddress.ip_address(str(addr).split("%", 1)[0])  # the zone does not change the kind
        if self._own_listener(plain, port):
            return "it is JVP's own listener"
        if self.allow_private:
            return None
        why = self.classify(plain)
        if why:
            return f"it is a {why} address"
        if self.own(plain):
            return "it is an address of the JVP server itself"
        return None

    def check(self, url: str, host: str, port: int, addresses: Iterable[IpAddress],
              field_name: str = "source.url") -> None:
        for addr in addresses:
            why = self.refusal(addr, port)
            if why:
                shown = redact(url)
                named = "" if literal_address(host) is not None else f" ({host} resolves to {addr})"
                msg = (f"{shown} is refused{named}: {why}; downloads go to public addresses only unless the "
                       "server's configuration allows private ones (download.allow_private)")
                raise AddressRefused(msg, details={"field_errors": {field_name: [msg]}, "url": shown,
                                                   "address": str(addr), "reason": why})


def check_url(url: str, *, allow_file: bool = False, field_name: str = "source.url",
              policy: AddressPolicy | None = None) -> str:
    """The URL if JVP may fetch it; InvalidUrl, UnsupportedUrlScheme or AddressNotAllowed (400) otherwise.
    A literal address is checked against `policy` here; a host name is checked when it is resolved."""
    def bad(msg: str, code: str = "InvalidUrl") -> InvalidInput:
        return InvalidInput(msg, code=code, details={"field_errors": {field_name: [msg]},
                                                     "url": redact(url[:200]) if isinstance(url, str) else None})
    if not isinstance(url, str) or not url or len(url) > MAX_URL or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise bad(f"not a usable URL: at most {MAX_URL} characters, no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port out of range
    except ValueError:
        raise bad("the URL cannot be parsed (a bracketed IPv6 address, then a port between 1 and 65535)") \
            from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_file:
            raise bad("file:// URLs are refused: this server's configuration does not allow local files "
                      "(download.allow_file_urls); use an http:// or https:// URL", code="UnsupportedUrlScheme")
        return url
    if scheme not in ("http", "https"):
        raise bad(f"URL scheme '{parts.scheme or '(none)'}' is not supported: use http:// or https://",
                  code="UnsupportedUrlScheme")
    if not parts.hostname:
        raise bad("the URL has no host name")
    if "@" in parts.netloc:
        raise bad("credentials in the URL are refused (they would be stored in task records and metadata)")
    host = url_host(parts)
    addr = literal_address(host)
    if "[" in parts.netloc and (addr is None or addr.version != 6):
        raise bad(f"[{parts.hostname}] is not an IPv6 address")
    if addr is None:
        try:
            host.encode("idna")
        except UnicodeError:
            raise bad(f"{host!r} is not a valid host name") from None
    elif policy is not None:
        policy.check(url, host, port or DEFAULT_PORTS[scheme], [addr], field_name)
    return url


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL checked by check_url."""
    parts = urlsplit(url)
    return url_host(parts), parts.port or DEFAULT_PORTS[parts.scheme.lower()]
