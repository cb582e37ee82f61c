"""HTTP(S) fetches of base images by the controller.

- Redirects are followed by hand, up to `max_redirects`; a redirect back to a URL already visited is a loop
  and is named as one (with the chain); a redirect to any other scheme, or to a URL with credentials, is
  refused.
- Every hop's host is resolved here and each of its addresses checked against the address policy
  (urls.py: no loopback, link-local, private... unless `download.allow_private`); the connection then goes
  to an address that was checked (`_pinned`), never to a second answer of the resolver.
- Downloads resume: the partial file's validator (a strong ETag, else Last-Modified) goes in If-Range with a
  Range from the partial file's size, so a changed image is sent whole (200) instead of being spliced onto
  the old bytes; without a validator the download starts over. A connection that breaks after the source
  answered is retried with back-off while attempts make progress; a source that never answers fails at once.
- Size: a Content-Length over `max_bytes` is refused before a byte is read; a body that grows past it (no
  Content-Length, or an endless one) is cut at the limit.
- Bytes are hashed as they arrive, in a second thread that the receiving thread helps when it falls behind
  (hashing.py); resuming re-hashes the partial file once.

The standard library's http.client reads the body straight into a few reused buffers (readinto): no
allocation, zero-filling or copy per block beyond the socket read itself, which is what keeps the download
near curl's speed with the checksum on. No proxy or netrc from the server's environment: the URL is the
contract.
"""
from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from jvp import __version__
from jvp.errors import Conflict, JvpError, PayloadTooLarge, PreconditionFailed
from jvp.images.hashing import Hashes, HashPipe
from jvp.images.urls import (AddressPolicy, check_url, host_port, literal_address,  # noqa: F401 - re-exported
                             redact)

log = logging.getLogger(__name__)

# Blocks of 256 KiB: a block is still in the CPU cache when it is hashed, just after it was received and
# written. With 1 MiB blocks (ten of them in flight) the hash read each block back from memory, and the
# download ran at half the speed (276 against 570 MiB/s on this 2-core host, the fetch loop alone,
# interleaved; 128 and 512 KiB are as good as 256).
CHUNK = 256 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
RETRY_BACKOFF_S = (1, 2, 4, 8, 15)           # consecutive failed attempts tolerated, and the waits between
SMALL_LIMIT = 1024 * 1024                    # checksum files
_NETWORK = (OSError, http.client.HTTPException)


class SourceError(JvpError):
    """The source answered, but not with the image (HTTP error status, bad redirect, wrong size)."""
    code, status = "DownloadFailed", 502


class TransientError(Exception):
    """A broken transfer worth another attempt (connection reset, short body, 5xx)."""


@dataclass
class Remote:
    """What the source says about the image (after redirects)."""
    url: str
    etag: str | None = None
    last_modified: str | None = None
    length: int | None = None

    @classmethod
    def of(cls, resp: http.client.HTTPResponse, url: str) -> "Remote":
        size = resp.getheader("Content-Length")
        if resp.status == 206:
            total = (resp.getheader("Content-Range") or "").rpartition("/")[2]
            size = total if total.isdigit() else None
        return cls(url=url, etag=resp.getheader("ETag"), last_modified=resp.getheader("Last-Modified"),
                   length=int(size) if size and size.isdigit() else None)

    def if_range(self) -> str | None:
        """A validator If-Range accepts: a strong ETag, else the date (a weak ETag cannot be used)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "etag": self.etag, "last_modified": self.last_modified, "length": self.length}


def _http_error(status: int, url: str) -> JvpError:
    if status in (404, 410):
        return SourceError(f"the source answered {status}: nothing at {redact(url)}; check the URL",
                           code="SourceNotFound", status=422, details={"http_status": status, "url": redact(url)})
    return SourceError(f"the source answered HTTP {status} for {redact(url)}",
                       details={"http_status": status, "url": redact(url)})


def busy(url: str, task: str | None) -> Conflict:
    return Conflict(f"{redact(url)} is being downloaded by another task{f' ({task})' if task else ''}; wait "
                    "for it to finish", code="DownloadInProgress", details={"url": redact(url), "task": task})


class Fetcher:
    def __init__(self, *, max_bytes: int, max_redirects: int, timeout_s: float,
                 policy: AddressPolicy | None = None,
                 getaddrinfo: Callable[..., list] = socket.getaddrinfo):
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.timeout_s = timeout_s
        self.policy = policy or AddressPolicy()  # public addresses only unless told otherwise
        self._getaddrinfo = getaddrinfo  # tests give a resolver that answers what they need
        self._tls = ssl.create_default_context()

    # -- requests ------------------------------------------------------------------------------------------
    def _resolve(self, url: str, host: str, port: int) -> list[tuple[int, tuple]]:
        """Every (family, socket address) of the host, each checked against the policy (AddressNotAllowed
        when one is refused). A name that does not resolve is a TransientError (SourceUnreachable when
        nothing was fetched yet)."""
        addr = literal_address(host)
        if addr is not None:
            self.policy.check(url, host, port, [addr])
        try:  # a literal is never sent to DNS (an unknown IPv6 zone must not become a name lookup)
            infos = self._getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                      flags=socket.AI_NUMERICHOST if addr is not None else 0)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransientError(f"{redact(url)}: cannot resolve {host}: {exc}") from exc
        found = [(family, sockaddr) for family, _, _, _, sockaddr in infos
                 if family in (socket.AF_INET, socket.AF_INET6)]
        if not found:
            raise TransientError(f"{redact(url)}: {host} has no IPv4 or IPv6 address")
        addrs = [literal_address(sa[0].split("%", 1)[0]) for _, sa in found]
        self.policy.check(url, host, port, [a for a in addrs if a is not None])
        return found

    def _pinned(self, targets: list[tuple[int, tuple]]) -> Callable[..., socket.socket]:
        """A replacement for http.client's socket.create_connection that connects to the checked addresses
        only (in the resolver's order, the first that answers), whatever host name the request carries."""
        def connect(_address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
            last: OSError | None = None
            for family, sockaddr in targets:
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    if timeout is not None:
                        sock.settimeout(timeout)
                    sock.connect(sockaddr)
                    return sock
                except OSError as exc:
                    sock.close()
                    last = exc
            raise last or OSError("no address to connect to")
        return connect

    def _request(self, url: str, method: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        host, port = host_port(url)
        targets = self._resolve(url, host, port)
        cls = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
        kwargs: dict[str, Any] = {"context": self._tls} if cls is http.client.HTTPSConnection else {}
        # host and port are given apart: http.client would otherwise read "::1" as host ":" and port 1
        conn = cls(host, port, timeout=self.timeout_s, **kwargs)
        conn._create_connection = self._pinned(targets)  # type: ignore[attr-defined]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, headers={"User-Agent": f"jvp/{__version__}", "Accept-Encoding": "identity",
                                                **headers})
            return conn.getresponse()  # closing the response (at the end of its body) closes the connection
        except ssl.SSLError as exc:
            conn.close()
            raise SourceError(f"TLS with {host} failed: {exc}", code="TlsError",
                              details={"url": redact(url)}) from exc
        except (*_NETWORK, ValueError) as exc:
            conn.close()
            raise TransientError(f"{redact(url)}: {exc or type(exc).__name__}") from exc

    def open(self, url: str, *, method: str = "GET", headers: dict[str, str] | None = None
             ) -> tuple[http.client.HTTPResponse, str]:
        """The response of the last hop and its URL. Raises TransientError for network failures."""
        chain = [url]
        while True:
            resp = self._request(url, method, headers or {})
            location = resp.getheader("Location")
            if resp.status not in REDIRECTS or not location:
                return resp, url
            resp.close()
            try:
                nxt = urljoin(url, location)
                nparts = urlsplit(nxt)
                nparts.port  # noqa: B018 - raises on a port out of range
            except ValueError:
                raise SourceError(f"{redact(url)} redirects to a URL that cannot be parsed", code="InvalidRedirect",
                                  status=422, details={"location": location[:200]}) from None
            if nparts.scheme.lower() not in ("http", "https"):
                raise SourceError(f"{redact(url)} redirects to a non-HTTP URL ({nparts.scheme}:), which is "
                                  "refused", code="InvalidRedirect", status=422, details={"location": redact(nxt)})
            if "@" in nparts.netloc or not nparts.hostname:
                raise SourceError(f"{redact(url)} redirects to a URL with credentials or without a host "
                                  f"({redact(nxt)}), which is refused", code="InvalidRedirect", status=422,
                                  details={"location": redact(nxt)})
            if nxt in chain:
                raise SourceError(f"redirect loop: {' -> '.join(redact(u) for u in chain + [nxt])}; the source is "
                                  "misconfigured, use the final URL of the image", code="RedirectLoop", status=422,
                                  details={"chain": [redact(u) for u in chain + [nxt]]})
            if len(chain) > self.max_redirects:
                raise SourceError(f"more than {self.max_redirects} redirects from {redact(chain[0])} "
                                  "(download.max_redirects); use the final URL of the image",
                                  code="TooManyRedirects", status=422,
                                  details={"chain": [redact(u) for u in chain + [nxt]]})
            chain.append(nxt)
            url = nxt
            if resp.status == 303 and method != "HEAD":
                method = "GET"

    def _open_once(self, url: str, **kwargs: Any) -> tuple[http.client.HTTPResponse, str]:
        """open() for one-shot requests: a network failure is the source's error, not a retry."""
        try:
            return self.open(url, **kwargs)
        except TransientError as exc:
            raise SourceError(f"the source cannot be reached: {exc}", code="SourceUnreachable",
                              details={"url": redact(url)}) from exc

    def probe(self, url: str) -> Remote:
        """The source's validators without the body: HEAD, or a one-byte ranged GET when HEAD is refused."""
        resp, final = self._open_once(url, method="HEAD")
        if resp.status in (405, 501):
            resp.close()
            resp, final = self._open_once(url, headers={"Range": "bytes=0-0"})
        try:
            if resp.status not in (200, 206):
                raise _http_error(resp.status, final)
            return Remote.of(resp, final)
        finally:
            resp.close()

    def get_small(self, url: str, limit: int = SMALL_LIMIT) -> bytes:
        """A small document (a checksum file), bounded by `limit`."""
        resp, final = self._open_once(url)
        try:
            if resp.status != 200:
                raise _http_error(resp.status, final)
            try:
                data = resp.read(limit + 1)
            except _NETWORK as exc:
                raise SourceError(f"reading {redact(final)} failed: {exc}") from exc
            if len(data) > limit:
                raise SourceError(f"{redact(final)} is larger than {limit} bytes: not a checksum file",
                                  code="ChecksumFileTooLarge", status=422)
            return data
        finally:
            resp.close()

    # -- the resumable download ----------------------------------------------------------------------------
    def download(self, url: str, part: Path, known: Remote | None, hashes: Hashes, *,
                 on_start: Callable[[Remote, int], None], progress: Callable[[int, int | None], None],
                 wait: Callable[[float], None] = time.sleep) -> Remote:
        """Fetch `url` into `part`, continuing the bytes already there when `known` (their validators)
        still matches the source. `on_start(remote, offset)` runs once the source has answered and before a
        byte is written (the caller persists the validators and checks space); `progress(done, total)`
        may raise to stop (cancellation). Returns the validators of the complete file."""
        failures = 0
        current: dict[str, Any] = {"known": known, "answered": False}

        def started(remote: Remote, offset: int) -> None:
            current.update(known=remote, answered=True)  # the validators of the bytes in `part` from now on
            on_start(remote, offset)
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                return self._attempt(url, part, current["known"] if part.exists() else None, hashes, started,
                                     progress)
            except TransientError as exc:
                last = exc
                if not current["answered"]:  # never reached: a wrong host or port, not a hiccup
                    raise SourceError(f"the source cannot be reached: {exc}", code="SourceUnreachable",
                                      details={"url": redact(url)}) from exc
            after = part.stat().st_size if part.exists() else 0
            failures = 0 if after > before else failures + 1
            if failures >= len(RETRY_BACKOFF_S):
                raise SourceError(f"downloading {redact(url)} failed {failures} times in a row without progress "
                                  f"(last error: {last}); {after} bytes were received", details={
                                      "url": redact(url), "bytes_received": after, "last_error": str(last)})
            delay = RETRY_BACKOFF_S[max(failures - 1, 0)]
            log.info("download of %s interrupted at %d bytes (%s); resuming in %ss", redact(url), after, last, delay)
            wait(delay)

    def _attempt(self, url: str, part: Path, known: Remote | None, hashes: Hashes,
                 on_start: Callable[[Remote, int], None], progress: Callable[[int, int | None], None]) -> Remote:
        offset = part.stat().st_size if part.exists() and known is not None else 0
        validator = known.if_range() if known is not None else None
        headers = {"Range": f"bytes={offset}-", "If-Range": validator} if offset and validator else {}
        resp, final = self.open(url, headers=headers)
        try:
            status = resp.status
            if status == 416 and known is not None and known.length == offset:
                if hashes.done != offset:
                    hashes.catch_up(part, offset)
                on_start(known, offset)
                progress(offset, offset)
                return known  # the partial file was already complete (a restart after the last byte)
            if status == 429 or status >= 500:
                raise TransientError(f"{redact(final)} answered HTTP {status}")
            if status not in (200, 206):
                raise _http_error(status, final)
            if status == 206 and not self._continues(resp, offset):
                resp.close()  # not the range we asked for: start over rather than splice
                return self._attempt(url, part, None, hashes, on_start, progress)
            remote = Remote.of(resp, final)
            if status == 200:
                offset = 0
            elif known is not None:
                remote.etag = remote.etag or known.etag
                remote.last_modified = remote.last_modified or known.last_modified
            if remote.length is not None and remote.length > self.max_bytes:
                raise PayloadTooLarge(f"{redact(final)} is {remote.length} bytes, over the download limit of "
                                      f"{self.max_bytes} bytes (download.max_bytes); nothing was downloaded",
                                      code="DownloadTooLarge", details={"length": remote.length,
                                                                        "max_bytes": self.max_bytes})
            on_start(remote, offset)
            if offset and hashes.done != offset:
                hashes.catch_up(part, offset)
            elif not offset:
                hashes.reset()
            self._body(resp, part, offset, remote, hashes, progress)
            return remote
        finally:
            resp.close()

    @staticmethod
    def _continues(resp: http.client.HTTPResponse, offset: int) -> bool:
        m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.getheader("Content-Range") or "")
        return bool(m) and int(m.group(1)) == offset

    def _body(self, resp: http.client.HTTPResponse, part: Path, offset: int, remote: Remote, hashes: Hashes,
              progress: Callable[[int, int | None], None]) -> None:
        done = offset
        buffers = [bytearray(CHUNK) for _ in range(HashPipe.BUFFERS)]
        pipe = HashPipe(hashes)
        try:
            with open(part, "r+b" if offset else "wb", buffering=0,
                      opener=lambda p, flags: os.open(p, flags, 0o600)) as fh:  # the data dir's files are 0600
                fh.seek(offset)
                fh.truncate()
                for i in range(1 << 62):
                    buf = buffers[i % len(buffers)]
                    try:
                        n = resp.readinto(buf)
                    except _NETWORK as exc:
                        raise TransientError(f"{redact(remote.url)} broke off after {done} bytes: {exc}") from exc
                    if not n:
                        break
                    if done + n > self.max_bytes:
                        raise PayloadTooLarge(
                            f"{redact(remote.url)} sent more than the download limit of {self.max_bytes} bytes "
                            "(download.max_bytes); the download was stopped and removed", code="DownloadTooLarge",
                            details={"max_bytes": self.max_bytes, "received_bytes": done + n})
                    view = memoryview(buf)[:n]
                    rest = view
                    while rest:  # an unbuffered write may be short
                        rest = rest[fh.write(rest):]
                    pipe.put(view)
                    done += n
                    progress(done, remote.length)
        except OSError as exc:
            raise PreconditionFailed(f"writing the download to {part} failed: {exc.strerror}",
                                     code="DownloadWriteFailed", details={"path": str(part)}) from exc
        finally:
            pipe.close()
        if remote.length is not None and done < remote.length:
            raise TransientError(f"{redact(remote.url)} ended after {done} of {remote.length} bytes")
        if remote.length is None:
            remote.length = done
