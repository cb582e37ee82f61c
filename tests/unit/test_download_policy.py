"""Where template downloads may go (issue 14, findings 7 and 9): IPv6 URLs parsed as addresses, non-public
addresses refused unless download.allow_private, checked after DNS resolution (every address), on every
redirect hop, and the connection made to the address that was checked; credentials refused on every hop."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from jvp.errors import JvpError
from jvp.images.fetch import Fetcher
from jvp.images.urls import AddressPolicy, address_kind, check_url, redact, redact_values
from tests.imageserver import ImageServer
from tests.templateutil import MIB, image_server, images  # noqa: F401 - pytest fixtures

OFF = AddressPolicy()                      # the default: public addresses only
ON = AddressPolicy(allow_private=True)     # download.allow_private: true


def code_of(fn, *args, **kwargs) -> tuple[str, int, JvpError]:
    with pytest.raises(JvpError) as err:
        fn(*args, **kwargs)
    return err.value.code, err.value.status, err.value


def fetcher(policy: AddressPolicy = ON, **kw) -> Fetcher:
    return Fetcher(max_bytes=1024 * MIB, max_redirects=5, timeout_s=3, policy=policy, **kw)


def resolver(answers: dict[str, list[str]], calls: list[str] | None = None):
    """A getaddrinfo that answers the given addresses for a few made-up names (and nothing else)."""
    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ARG001
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in answers[host]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((fam, socket.SOCK_STREAM, 6, "", (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)))
        return out
    return getaddrinfo


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255", "fd00::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::", "64:ff9b::a9fe:a9fe", "198.18.0.1",
    "192.0.2.1", "2001:db8::1"])
def test_non_public_addresses_are_refused_unless_allowed(address):
    addr = ipaddress.ip_address(address)
    assert OFF.refusal(addr, 80), address
    assert address_kind(addr)
    assert ON.refusal(addr, 80) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "151.101.2.132"])
def test_public_addresses_pass(address):
    assert OFF.refusal(ipaddress.ip_address(address), 443) is None


def test_jvps_own_listener_is_refused_even_when_private_addresses_are_allowed():
    any_addr = AddressPolicy(allow_private=True, listen=("0.0.0.0", 7777))
    assert "JVP's own listener" in any_addr.refusal(ipaddress.ip_address("127.0.0.1"), 7777)
    assert any_addr.refusal(ipaddress.ip_address("127.0.0.1"), 8080) is None  # another service of the host
    one = AddressPolicy(allow_private=True, listen=("127.0.0.1", 7777))
    assert one.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), 7777)
    assert one.refusal(ipaddress.ip_address("127.0.0.2"), 7777) is None
    # with allow_private off, an address of this machine is refused whatever its kind (a public one too)
    public_here = AddressPolicy(own=lambda a: str(a) == "203.0.113.9", classify=lambda a: None)
    assert "JVP server itself" in public_here.refusal(ipaddress.ip_address("203.0.113.9"), 443)
    assert public_here.refusal(ipaddress.ip_address("203.0.113.10"), 443) is None


@pytest.mark.parametrize("url", ["http://[::1]/x", "http://[::1]:8080/x", "http://[::ffff:127.0.0.1]/x",
                                 "http://[fe80::1%25eth0]/x", "https://169.254.169.254/latest/meta-data/",
                                 "http://127.0.0.1:7777/api/openapi.json", "http://[::]/x", "http://0.0.0.0/x"])
def test_literal_addresses_are_refused_when_the_request_is_made(url):
    code, status, err = code_of(check_url, url, policy=OFF)
    assert (code, status) == ("AddressNotAllowed", 400), err
    assert err.details["field_errors"]["source.url"]
    assert check_url(url, policy=ON) == url or url.endswith(":7777/api/openapi.json")


@pytest.mark.parametrize("url", ["http://[::1/x", "http://[zz::1]/x", "http://[127.0.0.1]/x", "http://[::1]:0x/x",
                                 "http://@example.org/x", "http://u@example.org/x", "http://exa\u00admple..org/"])
def test_malformed_hosts_are_invalid_urls(url):
    code, status, _ = code_of(check_url, url, policy=ON)
    assert (code, status) == ("InvalidUrl", 400)


@pytest.fixture
def server6(images):
    try:
        srv = ImageServer(host="::1").start()
    except OSError as exc:  # pragma: no cover - a machine without IPv6 loopback
        pytest.skip(f"no IPv6 loopback: {exc}")
    srv.add_file("/images/small.qcow2", images.small)
    yield srv
    srv.stop()


def test_an_ipv6_literal_url_is_fetched_from_that_address(server6, images):
    """Before: http.client read "::1" as host ":" and port 1 ("Name or service not known")."""
    url = server6.url("/images/small.qcow2")
    assert url.startswith("http://[::1]:")
    remote = fetcher().probe(url)
    assert remote.length == images.small.stat().st_size
    assert server6.requests[-1].headers["Host"] == f"[::1]:{server6.port}"


def test_an_ipv4_mapped_ipv6_url_reaches_the_ipv4_server(image_server, images):
    """Before: "::ffff:127.0.0.1" made http.client raise InvalidURL (nonnumeric port) outside any handler:
    the task ended with InternalError."""
    remote = fetcher().probe(f"http://[::ffff:127.0.0.1]:{image_server.port}/images/small.qcow2")
    assert remote.length == images.small.stat().st_size
    code, status, _ = code_of(fetcher(OFF).probe, f"http://[::ffff:127.0.0.1]:{image_server.port}/images/small.qcow2")
    assert (code, status) == ("AddressNotAllowed", 400)


def test_a_zone_identifier_is_parsed_and_an_unknown_interface_is_unreachable():
    code, status, _ = code_of(fetcher().probe, "http://[fe80::1%25nosuchif0]:9/x")
    assert (code, status) == ("SourceUnreachable", 502)
    code, status, _ = code_of(fetcher(OFF).probe, "http://[fe80::1%25nosuchif0]:9/x")
    assert (code, status) == ("AddressNotAllowed", 400)


def test_every_resolved_address_is_checked():
    f = fetcher(OFF, getaddrinfo=resolver({"mirror.test": ["8.8.8.8", "169.254.169.254"],
                                          "local.test": ["127.0.0.1"]}))
    code, status, err = code_of(f.probe, "http://mirror.test/img.qcow2")
    assert (code, status) == ("AddressNotAllowed", 400)
    assert err.details["address"] == "169.254.169.254" and "mirror.test resolves to 169.254.169.254" in err.message
    assert code_of(f.probe, "http://local.test/img.qcow2")[0] == "AddressNotAllowed"
    assert code_of(f.probe, "http://nowhere.test/img.qcow2")[0] == "SourceUnreachable"


def test_the_connection_goes_to_the_checked_address(image_server, images):
    """The name is resolved once per request and the socket connects to that answer: a second, different
    answer of the resolver (DNS rebinding) is never asked for."""
    calls: list[str] = []
    f = fetcher(getaddrinfo=resolver({"mirror.test": ["127.0.0.1"]}, calls))
    remote = f.probe(f"http://mirror.test:{image_server.port}/images/small.qcow2")
    assert remote.length == images.small.stat().st_size
    assert calls == ["mirror.test"]
    assert image_server.requests[-1].headers["Host"] == f"mirror.test:{image_server.port}"


def test_each_redirect_hop_is_checked(image_server):
    """127.0.0.1 counts as public here (a made-up classification) so the first hop passes; the redirect to
    another loopback address, to the metadata service or to JVP's own listener is refused."""
    policy = AddressPolicy(own=lambda a: False, listen=("0.0.0.0", 7777),
                           classify=lambda a: None if str(a) == "127.0.0.1" else address_kind(a))
    image_server.redirect("/to-meta", "http://169.254.169.254/latest/meta-data/iam")
    image_server.redirect("/to-loopback", "http://127.0.0.2/x")
    image_server.redirect("/to-jvp", "http://127.0.0.1:7777/api/openapi.json")
    for path in ("/to-meta", "/to-loopback", "/to-jvp"):
        code, status, err = code_of(fetcher(policy).probe, image_server.url(path))
        assert (code, status) == ("AddressNotAllowed", 400), (path, err)
    assert [r.path for r in image_server.requests] == ["/to-meta", "/to-loopback", "/to-jvp"]


def test_credentials_are_refused_on_every_hop(image_server):
    image_server.redirect("/creds", f"http://admin:s3cret@127.0.0.1:{image_server.port}/images/small.qcow2")
    code, status, err = code_of(fetcher().probe, image_server.url("/creds"))
    assert (code, status) == ("InvalidRedirect", 422)
    assert "s3cret" not in err.message and "s3cret" not in str(err.details)
    assert len(image_server.requests) == 1


def test_redaction_of_urls():
    url = "https://u:pw@bucket.example/img.qcow2?X-Amz-Signature=abc&token=t0k&flag#frag"
    assert redact(url) == "https://bucket.example/img.qcow2"
    assert redact_values(url) == "https://***@bucket.example/img.qcow2?X-Amz-Signature=***&token=***&***#***"
    assert redact_values("qemu+ssh://root@h/system?keyfile=/k") == "qemu+ssh://root@h/system?keyfile=***"
    assert redact_values("http://[::1/x") == "<unparsable URL>"
