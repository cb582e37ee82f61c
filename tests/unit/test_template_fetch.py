"""The download adapter against the local image server: URL rules, redirects, Range resume with If-Range,
size limits, hashing on the way; checksum files; and the partial-download sessions of the template module."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from jvp.errors import JvpError
from jvp.images.checksums import ChecksumError, find_in_checksum_file, parse_checksum
from jvp.images.fetch import Fetcher, Hashes, Remote, check_url
from jvp.images.urls import AddressPolicy
from jvp.service.template import download as template_download
from jvp.service.template.download import Downloads, UrlLock
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore
from tests.templateutil import MIB, image_server, images  # noqa: F401 - pytest fixtures


def fetcher(**kw) -> Fetcher:
    """A fetcher that may reach the loopback image server (download.allow_private on)."""
    return Fetcher(**{"max_bytes": 1024 * MIB, "max_redirects": 5, "timeout_s": 5,
                      "policy": AddressPolicy(allow_private=True), **kw})


def fetch(f: Fetcher, url: str, part: Path, known: Remote | None = None, hashes: Hashes | None = None):
    seen, started = [], []
    hashes = hashes or Hashes()
    remote = f.download(url, part, known, hashes, on_start=lambda r, o: started.append((r, o)),
                        progress=lambda d, t: seen.append((d, t)), wait=lambda s: None)
    return remote, hashes, seen, started


@pytest.mark.parametrize("url,code", [
    ("ftp://example.org/a.img", "UnsupportedUrlScheme"), ("gopher://x/y", "UnsupportedUrlScheme"),
    ("file:///etc/passwd", "UnsupportedUrlScheme"), ("javascript:alert(1)", "UnsupportedUrlScheme"),
    ("http://user:pw@example.org/a", "InvalidUrl"), ("http:///nohost", "InvalidUrl"),
    ("http://example.org/a b", "InvalidUrl"), ("http://example.org:99999/a", "InvalidUrl"), ("", "InvalidUrl")])
def test_only_plain_http_and_https_urls(url, code):
    with pytest.raises(JvpError) as err:
        check_url(url)
    assert err.value.code == code and err.value.status == 400


def test_file_urls_only_when_allowed():
    assert check_url("file:///srv/images/a.qcow2", allow_file=True)
    assert check_url("https://cloud.debian.org/images/x.qcow2")


def test_probe_follows_redirects_and_reads_validators(image_server, images):
    remote = fetcher().probe(image_server.url("/moved/small.qcow2"))
    assert remote.url == image_server.url("/images/small.qcow2")
    assert remote.length == images.small.stat().st_size
    assert remote.etag.startswith('"') and remote.last_modified


def test_a_redirect_loop_is_named_with_its_chain(image_server):
    with pytest.raises(JvpError) as err:
        fetcher().probe(image_server.url("/loop/a"))
    assert err.value.code == "RedirectLoop"
    assert [u.rsplit("/", 1)[1] for u in err.value.details["chain"]] == ["a", "b", "a"]


def test_redirects_beyond_the_limit(image_server):
    with pytest.raises(JvpError) as err:
        fetcher(max_redirects=0).probe(image_server.url("/moved/small.qcow2"))
    assert err.value.code == "TooManyRedirects"


def test_a_full_download_is_hashed_on_the_way(image_server, images, tmp_path):
    part = tmp_path / "x.part"
    remote, hashes, seen, started = fetch(fetcher(), image_server.url("/images/big.qcow2"), part)
    assert hashes.hexdigest("sha256") == images.big_sha
    assert hashlib.sha256(part.read_bytes()).hexdigest() == images.big_sha
    assert remote.length == images.big.stat().st_size and started[0][1] == 0
    assert seen[-1] == (remote.length, remote.length) and len(seen) > 3


def test_a_broken_connection_resumes_with_range_and_if_range(image_server, images, tmp_path):
    half = images.big.stat().st_size // 2
    image_server.drop_after("/images/big.qcow2", half, times=1)
    part = tmp_path / "x.part"
    _, hashes, _, started = fetch(fetcher(), image_server.url("/images/big.qcow2"), part)
    gets = image_server.gets("/images/big.qcow2")
    assert len(gets) == 2 and "Range" not in gets[0].headers
    offset = started[1][1]  # what had arrived when the connection was cut (an RST drops bytes in flight)
    assert started[0][1] == 0 and 0 < offset <= half
    assert gets[1].headers["Range"] == f"bytes={offset}-" and gets[1].headers["If-Range"].startswith('"')
    assert hashes.hexdigest("sha256") == images.big_sha == hashlib.sha256(part.read_bytes()).hexdigest()


def test_resuming_a_partial_file_left_by_a_restart(image_server, images, tmp_path):
    url = image_server.url("/images/big.qcow2")
    part = tmp_path / "x.part"
    part.write_bytes(images.big.read_bytes()[:3 * MIB])
    known = fetcher().probe(url)
    _, hashes, _, started = fetch(fetcher(), url, part, known)
    assert started[0][1] == 3 * MIB  # only the rest travelled; the first 3 MiB were hashed from the file
    assert hashes.hexdigest("sha256") == images.big_sha


def test_a_changed_image_is_fetched_whole_not_spliced(image_server, images, tmp_path):
    url = image_server.url("/images/small.qcow2")
    known = fetcher().probe(url)
    part = tmp_path / "x.part"
    part.write_bytes(images.small.read_bytes()[:MIB])
    image_server.replace_file("/images/small.qcow2", images.other)  # a new release at the same URL
    remote, hashes, _, started = fetch(fetcher(), url, part, known)
    assert started[0][1] == 0 and remote.etag != known.etag
    assert hashes.hexdigest("sha256") == images.other_sha == hashlib.sha256(part.read_bytes()).hexdigest()


def test_a_partial_file_that_is_already_complete(image_server, images, tmp_path):
    url = image_server.url("/images/small.qcow2")
    part = tmp_path / "x.part"
    part.write_bytes(images.small.read_bytes())
    _, hashes, _, _ = fetch(fetcher(), url, part, fetcher().probe(url))
    assert hashes.hexdigest("sha256") == images.small_sha
    assert image_server.gets("/images/small.qcow2")[-1].headers["Range"].startswith("bytes=")


def test_content_length_over_the_limit_is_refused_before_any_byte(image_server, tmp_path):
    part = tmp_path / "x.part"
    with pytest.raises(JvpError) as err:
        fetch(fetcher(max_bytes=MIB), image_server.url("/images/big.qcow2"), part)
    assert err.value.code == "DownloadTooLarge" and err.value.status == 413 and not part.exists()


def test_an_endless_body_is_cut_at_the_limit(image_server, tmp_path):
    with pytest.raises(JvpError) as err:
        fetch(fetcher(max_bytes=3 * MIB), image_server.url("/endless.img"), tmp_path / "x.part")
    assert err.value.code == "DownloadTooLarge"
    assert err.value.details["received_bytes"] > 3 * MIB


def test_errors_of_the_source(image_server, tmp_path):
    with pytest.raises(JvpError) as err:
        fetch(fetcher(), image_server.url("/nothing.img"), tmp_path / "x.part")
    assert err.value.code == "SourceNotFound"
    with pytest.raises(JvpError) as err:
        fetch(fetcher(), "http://127.0.0.1:9/x.img", tmp_path / "x.part")  # nothing listens on port 9
    assert err.value.code == "SourceUnreachable"


def test_it_gives_up_after_attempts_without_progress(image_server, tmp_path):
    image_server.drop_after("/images/small.qcow2", 0, times=100)
    with pytest.raises(JvpError) as err:
        fetch(fetcher(), image_server.url("/images/small.qcow2"), tmp_path / "x.part")
    assert err.value.code == "DownloadFailed" and "without progress" in err.value.message


# -- checksums ---------------------------------------------------------------------------------------------
def test_checksum_strings():
    digest = "ab" * 32
    assert str(parse_checksum(digest)) == f"sha256:{digest}"
    assert str(parse_checksum(f"SHA256:{digest.upper()}")) == f"sha256:{digest}"
    assert parse_checksum("sha512:" + "c" * 128).algorithm == "sha512"
    for bad in ("md5:" + "a" * 32, "sha256:xyz", "sha256:" + "a" * 63):
        with pytest.raises(ChecksumError):
            parse_checksum(bad)


def test_checksum_files_of_the_distributions():
    a, b = "1" * 64, "2" * 128
    gnu = f"{a}  noble-server-cloudimg-amd64.img\n{'3' * 64} *other.img\n"
    assert find_in_checksum_file(gnu, "noble-server-cloudimg-amd64.img").hexdigest == a
    debian = f"{b}  debian-12-genericcloud-amd64.qcow2\n"
    assert find_in_checksum_file(debian, "debian-12-genericcloud-amd64.qcow2").algorithm == "sha512"
    fedora = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# Fedora-Cloud.qcow2: 123 bytes\n"
              f"SHA256 (Fedora-Cloud.qcow2) = {a}\n-----BEGIN PGP SIGNATURE-----\nxyz\n")
    assert str(find_in_checksum_file(fedora, "Fedora-Cloud.qcow2")) == f"sha256:{a}"
    with pytest.raises(ChecksumError):
        find_in_checksum_file(gnu, "missing.img")


# -- partial downloads (the template module's sessions) -----------------------------------------------------
class _Handle:
    id = "t1"

    def __init__(self):
        self.rate_restarts: list[int] = []

    def check_cancelled(self) -> None:
        pass

    def restart_rate(self, bytes_done: int = 0) -> None:
        self.rate_restarts.append(bytes_done)


@pytest.fixture
def downloads(tmp_path):
    store = YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")
    return Downloads(store, tmp_path, fetcher())


def test_a_session_removes_its_file_however_it_ends(downloads, image_server):
    url = image_server.url("/images/small.qcow2")
    with downloads.session(url, "t1") as s:
        got = s.fetch(_Handle(), Hashes(), lambda d, t: None)
        assert got.part.exists() and downloads.store.get("download", s.key)["url"] == url
    assert not got.part.exists() and downloads.store.get("download", s.key) is None
    assert list(downloads.directory.iterdir()) == []  # no lock file either
    with pytest.raises(RuntimeError):
        with downloads.session(url, "t2"):
            raise RuntimeError("the task failed or was cancelled")
    assert list(downloads.directory.iterdir()) == []


def test_a_partial_file_left_by_a_dead_process_is_resumed(downloads, image_server, images):
    url = image_server.url("/images/big.qcow2")
    key = downloads.key(url)
    downloads.directory.mkdir(parents=True)
    (downloads.directory / f"{key}.part").write_bytes(images.big.read_bytes()[:5 * MIB])
    remote = fetcher().probe(url)
    downloads.store.put("download", key, doc={"url": url, "final_url": remote.url, "etag": remote.etag,
                                               "last_modified": remote.last_modified, "length": remote.length,
                                               "started_at": "2026-01-01T00:00:00Z"})
    with downloads.session(url, "t2") as s:
        hashes, handle = Hashes(), _Handle()
        got = s.fetch(handle, hashes, lambda d, t: None)
        assert got.resumed_from == 5 * MIB and hashes.hexdigest("sha256") == images.big_sha
        assert handle.rate_restarts == [5 * MIB]  # the ETA's rate leaves out the bytes fetched before
    assert image_server.gets("/images/big.qcow2")[-1].headers["Range"] == f"bytes={5 * MIB}-"


def test_one_download_per_url_at_a_time(downloads, image_server):
    url = image_server.url("/images/small.qcow2")
    inside, release = threading.Event(), threading.Event()

    def hold():
        with downloads.session(url, "t1"):
            inside.set()
            release.wait(10)
    t = threading.Thread(target=hold)
    t.start()
    inside.wait(10)
    try:
        with pytest.raises(JvpError) as err:
            with downloads.session(url, "t2"):
                pass
        assert err.value.code == "DownloadInProgress" and err.value.status == 409
    finally:
        release.set()
        t.join()
    assert list(downloads.directory.glob("*.lock")) == []
    with downloads.session(url, "t3"):  # free again
        assert len(list(downloads.directory.glob("*.lock"))) == 1


def test_a_removed_lock_file_is_never_held_twice(tmp_path, monkeypatch):
    """B opened the lock file while A held it; A lets go (removing the file) and C takes the URL's new lock
    file before B's flock runs. B's flock then succeeds on the removed file: B must notice and be refused by
    C's lock instead of downloading beside C."""
    path = tmp_path / "k.lock"
    a, b, c = UrlLock(path), UrlLock(path), UrlLock(path)
    assert a.acquire()
    real, calls = template_download.fcntl.flock, []

    def flock(fd, op):
        if not calls:
            calls.append(fd)
            a.release()
            assert c.acquire()
        return real(fd, op)
    monkeypatch.setattr(template_download.fcntl, "flock", flock)
    assert b.acquire() is False
    monkeypatch.setattr(template_download.fcntl, "flock", real)
    assert path.exists()   # C's file
    c.release()
    assert not path.exists() and b.acquire()
    b.release()
    assert not path.exists()


def test_abandoned_partial_files_are_swept(downloads, tmp_path):
    downloads.directory.mkdir(parents=True)
    orphan = downloads.directory / ("0" * 64 + ".part")
    orphan.write_bytes(b"x")
    old = "1" * 64
    (downloads.directory / f"{old}.part").write_bytes(b"y")
    downloads.store.put("download", old, doc={"url": "http://x/y", "final_url": "http://x/y",
                                               "started_at": "2020-01-01T00:00:00Z"})
    legacy = downloads.directory / ("2" * 64 + ".lock")   # an older JVP left these, one per URL
    legacy.touch()
    held = UrlLock(downloads.directory / ("3" * 64 + ".lock"))
    assert held.acquire()
    downloads.sweep()
    assert list(downloads.directory.glob("*.part")) == []
    assert downloads.store.get("download", old) is None
    assert [p.name for p in downloads.directory.glob("*.lock")] == ["3" * 64 + ".lock"]  # in use: kept
    held.release()
    assert list(downloads.directory.glob("*.lock")) == []
