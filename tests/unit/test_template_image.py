"""What a downloaded file is (qemu-img info plus a look at its first sectors), and how the update check
decides from the source's validators."""
from __future__ import annotations

import subprocess

import pytest

from jvp.errors import JvpError
from jvp.images import qemu_img
from jvp.images.checksums import parse_checksum
from jvp.images.fetch import Remote
from jvp.service.template.update import compare
from tests.templateutil import HTML, MIB, images  # noqa: F401 - pytest fixture


def raw(path, size=MIB, mbr=False, head=b""):
    with open(path, "wb") as fh:
        fh.truncate(size)
        fh.write(head)
        if mbr:
            fh.seek(510)
            fh.write(b"\x55\xaa")
    return path


def refused(path, declared=None, code="NotADiskImage"):
    with pytest.raises(JvpError) as err:
        qemu_img.inspect(path, declared)
    assert err.value.code == code, err.value
    return err.value


def test_a_qcow2_image(images):
    facts = qemu_img.inspect(images.small)
    assert facts.format == "qcow2" and facts.virtual_size == 16 * MIB
    assert facts.size == images.small.stat().st_size
    refused(images.small, "raw", code="FormatMismatch")


def test_raw_needs_a_partition_table_or_an_explicit_format(tmp_path):
    assert qemu_img.inspect(raw(tmp_path / "disk.img", mbr=True)).format == "raw"
    blank = raw(tmp_path / "blank.img")
    err = refused(blank)
    assert "source.format=raw" in err.message
    assert qemu_img.inspect(blank, "raw").virtual_size == MIB
    refused(raw(tmp_path / "gpt.img", head=b"\x00" * 512 + b"EFI PART"), "qcow2", code="FormatMismatch")


def test_an_html_page_is_never_a_disk(tmp_path):
    page = tmp_path / "page.img"
    page.write_bytes(HTML)
    assert "an HTML page" in refused(page).message
    assert "an HTML page" in refused(page, "raw").message  # not even when the caller says raw


@pytest.mark.parametrize("magic,what", [(b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b\x08", "gzip"), (b"PK\x03\x04", "zip")])
def test_archives_are_named(tmp_path, magic, what):
    assert what in refused(raw(tmp_path / "a.img", size=4096, head=magic), "raw").message


def test_odd_sizes_empty_files_and_backing_files(tmp_path, images):
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"\x01" * 1000)
    assert "512-byte sectors" in refused(odd, "raw").message
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    refused(empty)
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(images.small), str(overlay)],
                   check=True)
    refused(overlay, code="BackingFileNotAllowed")


# -- the update check ---------------------------------------------------------------------------------------
def source(**kw):
    return {"type": "url", "url": "http://x/a.qcow2", "etag": '"e1"', "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT",
            "length": 100, "checksum": "sha256:" + "a" * 64, **kw}


def test_the_published_checksum_decides_first():
    same = parse_checksum("sha256:" + "a" * 64)
    available, by, changes = compare(source(), Remote("u", '"e2"', None, 100), same)
    assert (available, by) == (False, "checksum") and [c["field"] for c in changes] == ["etag"]
    available, by, _ = compare(source(), Remote("u", '"e1"', None, 100), parse_checksum("sha256:" + "b" * 64))
    assert (available, by) == (True, "checksum")


def test_then_etag_then_date_then_length():
    assert compare(source(), Remote("u", '"e2"', None, 100), None)[:2] == (True, "etag")
    later = "Tue, 02 Jan 2024 00:00:00 GMT"
    assert compare(source(etag=None), Remote("u", None, later, 100), None)[:2] == (True, "last_modified")
    assert compare(source(etag=None, last_modified=None), Remote("u", None, None, 101), None)[:2] == (True, "length")
    same_date = "Mon, 01 Jan 2024 00:00:00 +0000"
    assert compare(source(etag=None), Remote("u", None, same_date, 100), None)[:2] == (False, "last_modified")


def test_nothing_to_compare_is_unknown():
    assert compare(source(etag=None, last_modified=None, length=None), Remote("u"), None) == (None, None, [])


def test_a_published_sha512_is_compared_with_the_verified_sha512_not_the_sha256():
    """SPEC 2.4 keeps `checksum` a sha256; a sha512 the image was verified with is `verified_checksum`, and
    the update check compares a published sha512 with that one."""
    src = source(checksum="sha256:" + "a" * 64, verified_checksum="sha512:" + "c" * 128)
    same = parse_checksum("sha512:" + "c" * 128)
    assert compare(src, Remote("u", '"e2"', None, 100), same)[:2] == (False, "checksum")
    assert compare(src, Remote("u", '"e1"', None, 100), parse_checksum("sha512:" + "d" * 128))[:2] == (
        True, "checksum")
    assert compare(source(), Remote("u", '"e1"', None, 100), same)[:2] == (False, "etag")  # no sha512 kept


def test_verification_records_the_sha256_and_keeps_a_verified_sha512_beside_it():
    import hashlib

    from jvp.images.hashing import Hashes
    from jvp.service.template.register import TemplateRegistrar
    data = b"an image" * 1000
    sha256, sha512 = hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
    hashes = Hashes(("sha256", "sha512"))
    hashes.update(data)
    assert TemplateRegistrar.verify(parse_checksum(f"sha512:{sha512}"), hashes) == (
        f"sha256:{sha256}", f"sha512:{sha512}")
    assert TemplateRegistrar.verify(parse_checksum(sha256), hashes) == (f"sha256:{sha256}", None)
    assert TemplateRegistrar.verify(None, hashes) == (f"sha256:{sha256}", None)
    with pytest.raises(JvpError) as err:
        TemplateRegistrar.verify(parse_checksum("sha512:" + "0" * 128), hashes)
    assert err.value.code == "ChecksumMismatch" and err.value.details["expected"] == "sha512:" + "0" * 128
