"""Fixtures shared by the template tests of every tier: the local image server with a few generated qcow2
images (real data, so checksums differ), an HTML page, a checksum file, a redirect loop and an endless body.

    from tests.templateutil import images, image_server  # noqa: F401 - pytest fixtures
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.imageserver import MIB, ImageServer, make_qcow2, sha256_file

HTML = b"<!DOCTYPE html>\n<html><head><title>Download</title></head><body>Your download starts soon</body></html>\n"


@dataclass
class Images:
    dir: Path
    small: Path          # 16 MiB virtual, 2 MiB of data
    small_sha: str
    other: Path          # another version of it (different data)
    other_sha: str
    big: Path            # 64 MiB virtual, 24 MiB of data: long enough to cut half-way
    big_sha: str


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Images:
    d = tmp_path_factory.mktemp("template-images")
    small = make_qcow2(d / "small.qcow2", virtual_mib=16, data_mib=2, seed=1)
    other = make_qcow2(d / "small-v2.qcow2", virtual_mib=16, data_mib=2, seed=2)
    big = make_qcow2(d / "big.qcow2", virtual_mib=64, data_mib=24, seed=3)
    return Images(d, small, sha256_file(small), other, sha256_file(other), big, sha256_file(big))


def sums(*entries: tuple[str, str]) -> bytes:
    """A SHA256SUMS file (GNU format, binary marker) listing (digest, file name) pairs."""
    return "".join(f"{digest} *{name}\n" for digest, name in entries).encode()


@pytest.fixture
def image_server(images):
    srv = ImageServer().start()
    srv.add_file("/images/small.qcow2", images.small)
    srv.add_file("/images/big.qcow2", images.big)
    srv.add_bytes("/images/SHA256SUMS", sums((images.small_sha, "small.qcow2"), (images.big_sha, "big.qcow2")),
                  content_type="text/plain")
    srv.add_bytes("/bad/SHA256SUMS", sums((hashlib.sha256(b"not it").hexdigest(), "small.qcow2")),
                  content_type="text/plain")
    srv.add_file("/bad/small.qcow2", images.small)
    srv.add_bytes("/page.html", HTML, content_type="text/html")
    srv.redirect("/loop/a", "/loop/b")
    srv.redirect("/loop/b", "/loop/a")
    srv.redirect("/moved/small.qcow2", "/images/small.qcow2")
    srv.endless("/endless.img")
    yield srv
    srv.stop()


__all__ = ["HTML", "Images", "MIB", "images", "image_server", "sums"]
