"""Node URIs: which libvirt URIs a node may have (`validate_uri`), the form two of them are compared in
(`canonical_uri`) and whether one reaches the JVP server's own machine (`on_this_machine`)."""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jvp.errors import InvalidInput

DRIVERS = {"qemu", "test"}
TRANSPORTS = {None, "ssh", "tcp", "tls", "unix", "libssh", "libssh2"}
# libvirt URI parameters a node URI may carry. `command` (the local program the ssh/ext transports run) is
# not among them: an API token must not choose what the controller executes.
URI_PARAMS = {"name", "no_verify", "no_tty", "keyfile", "known_hosts", "known_hosts_verify", "sshauth",
              "pkipath", "tls_priority", "mode", "proxy", "netcat", "socket"}
TEST_DEFAULT = "test:///default"


def _invalid(uri: str, why: str, field_error: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"invalid libvirt URI {uri!r}: {why}", code="InvalidUri",
                        details={"field_errors": {"uri": [field_error]}, **details})


def _check_test_uri(uri: str, path: str, fixture_dirs: Sequence[Path]) -> None:
    """The test driver reads the file a URI names (as root). Only libvirt's built-in `test:///default` and
    `.xml` files inside JVP's own fixture directories are accepted, so a URI cannot make JVP read (and
    libvirt echo in its parse error) an arbitrary file of the controller."""
    if uri == TEST_DEFAULT:
        return
    dirs = ", ".join(str(d) for d in fixture_dirs) or "none configured"
    refusal = _invalid(uri, "the test driver accepts test:///default or a .xml fixture file in JVP's "
                       f"fixture directories ({dirs}; setting test_fixtures_dir)", "Not a JVP fixture file.")
    if not path.startswith("/") or not path.endswith(".xml"):
        raise refusal
    real = os.path.realpath(path)
    for base in fixture_dirs:
        base_real = os.path.realpath(base)
        if real.startswith(base_real.rstrip("/") + "/") and os.path.isfile(real):
            return
    raise refusal


def validate_uri(uri: str, fixture_dirs: Sequence[Path] = ()) -> None:
    """Accept libvirt URIs for the QEMU driver (and the test driver on JVP's own fixture files, for demos
    and tests). Refuses, as InvalidUri (400), anything else, including URIs urlsplit cannot parse."""
    if any(c.isspace() for c in uri) or len(uri) > 1024:
        raise _invalid(uri, "no whitespace, at most 1024 characters", "Invalid URI.")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise _invalid(uri, f"it cannot be parsed ({exc})", "Malformed URI.") from None
    driver, _, transport = parts.scheme.partition("+")
    if driver not in DRIVERS or (transport or None) not in TRANSPORTS:
        raise InvalidInput(
            f"unsupported libvirt URI scheme '{parts.scheme or uri}': use qemu:///system, "
            "qemu+ssh://user@host/system, qemu+tcp://host/system or qemu+tls://host/system",
            code="InvalidUri", details={"field_errors": {"uri": ["Unsupported URI scheme."]},
                                        "scheme": parts.scheme})
    unknown = sorted({k for k, _ in params} - URI_PARAMS)
    if unknown:
        raise _invalid(uri, f"parameter(s) {', '.join(unknown)} not accepted (allowed: "
                       f"{', '.join(sorted(URI_PARAMS))})", "Parameter not accepted.", parameters=unknown)
    if driver == "test":
        if transport or parts.netloc or params or parts.fragment:
            raise _invalid(uri, "the test driver is local only: test:///default or test:///<fixture>.xml",
                           "Not a JVP fixture file.")
        _check_test_uri(uri, parts.path, fixture_dirs)
        return
    if parts.path not in ("/system", "/session"):
        raise _invalid(uri, "the QEMU driver's path is /system or /session", "Invalid URI path.")
    if transport in ("ssh", "tcp", "tls", "libssh", "libssh2") and not parts.hostname:
        raise _invalid(uri, "a remote transport needs a host name", "Missing host.")


DEFAULT_PORTS = {"tls": 16514, "tcp": 16509, "ssh": 22, "libssh": 22, "libssh2": 22}


def canonical_uri(uri: str) -> str:
    """The form two node URIs are compared in ("one node per URI"), so spelling cannot register a second
    node over the same host: scheme and host lower-cased, an IPv6 address in its compressed form, a default
    port dropped (tls 16514, tcp 16509, ssh 22), `qemu://host` read as libvirt does (TLS) and `qemu+unix:///`
    as `qemu:///`, repeated and trailing slashes collapsed (a test driver's fixture path resolved as the
    driver opens it), parameters sorted, the fragment dropped. The user name is kept (two logins may see
    two session daemons). The URI a node is saved and shown with stays the one given."""
    try:
        parts = urlsplit(uri)
        port = parts.port
        params = sorted(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return uri
    driver, _, transport = parts.scheme.lower().partition("+")
    host = (parts.hostname or "").rstrip(".")
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
        host = f"[{addr}]" if addr.version == 6 else str(addr)
    except ValueError:
        pass
    if transport == "unix" and not host:
        transport = ""
    if host and not transport and driver != "test":
        transport = "tls"  # libvirt's default transport for a remote host
    if port is not None and DEFAULT_PORTS.get(transport) == port:
        port = None
    path = re.sub(r"/+", "/", parts.path)
    if driver == "test" and path.startswith("/") and path != "/default":
        path = os.path.realpath(path)
    elif len(path) > 1:
        path = path.rstrip("/")
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}{host}{f':{port}' if port else ''}"
    scheme = f"{driver}+{transport}" if transport else driver
    query = "&".join(f"{k}={v}" for k, v in params)
    return f"{scheme}://{netloc}{path}{f'?{query}' if query else ''}"


def on_this_machine(uri: str) -> bool:
    """Whether a node URI reaches the libvirt of the JVP server's own machine (no host, or a loopback
    one), whose filesystem is the controller's: paths can be resolved there."""
    try:
        host = (urlsplit(uri).hostname or "").rstrip(".")
    except ValueError:
        return False
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
