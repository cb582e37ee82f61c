"""What a downloaded file is, from `qemu-img info --output=json` on the controller's own copy (in its data
dir, before anything reaches a node), plus a look at its first sectors.

Templates are qcow2 or raw disk images. qemu-img calls anything it does not recognise "raw", so "raw" alone
says nothing: an HTML error page, a tarball or an .xz archive are all "raw" to it. A raw file is therefore
accepted only when it looks like a disk (an MBR boot signature 0x55AA at byte 510, or a GPT header
"EFI PART" at byte 512) or when the caller declared `format: raw` (a blank or unpartitioned disk), and
never when it starts like a text document (HTML, XML, JSON) or a known archive, and never when its size is not
a whole number of 512-byte sectors.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from jvp.errors import InvalidInput, JvpError, PreconditionFailed

MAX_VIRTUAL = 64 * 1024 ** 4        # 64 TiB, the bound on any size JVP takes
QEMU_IMG_TIMEOUT_S = 60
_ARCHIVES = {b"\xfd7zXZ\x00": "an xz archive", b"\x1f\x8b": "a gzip archive", b"BZh": "a bzip2 archive",
             b"PK\x03\x04": "a zip archive", b"\x28\xb5\x2f\xfd": "a zstd archive", b"7z\xbc\xaf": "a 7z archive"}


@dataclass(frozen=True)
class ImageFacts:
    format: str          # qcow2 | raw
    virtual_size: int    # bytes the guest sees
    size: int            # bytes of the file


def not_an_image(message: str, **details) -> InvalidInput:
    return InvalidInput(message, code="NotADiskImage", details=details)


def info(path: Path) -> dict:
    """qemu-img's own reading of the file (format probed; -U: never take a lock on it)."""
    try:
        out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True,
                             text=True, timeout=QEMU_IMG_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise PreconditionFailed("qemu-img is not installed on the JVP server (apt-get install qemu-utils); it is "
                                 "needed to check images", code="QemuImgMissing") from exc
    except subprocess.TimeoutExpired as exc:
        raise not_an_image(f"qemu-img could not read the image within {QEMU_IMG_TIMEOUT_S}s") from exc
    if out.returncode != 0:
        raise not_an_image(f"qemu-img cannot read the file: {out.stderr.strip()[:500]}",
                           qemu_img_error=out.stderr.strip()[:2000])
    try:
        return json.loads(out.stdout)
    except ValueError as exc:
        raise JvpError(f"qemu-img info printed no JSON: {out.stdout[:200]!r}", code="QemuImgFailed") from exc


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def describe_content(head: bytes) -> str | None:
    """What a non-disk file evidently is, for the error message (None when nothing is evident)."""
    for magic, what in _ARCHIVES.items():
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:512]:
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "an XML/HTML document"
    if text.startswith((b"{", b"[")):
        return "a JSON document"
    return None


def has_boot_structures(head: bytes) -> bool:
    return (len(head) >= 512 and head[510:512] == b"\x55\xaa") or head[512:520] == b"EFI PART"


def inspect(path: Path, declared: str | None = None) -> ImageFacts:
    """The image's format and virtual size, or NotADiskImage / FormatMismatch / BackingFileNotAllowed."""
    size = path.stat().st_size
    head = _head(path)
    what = describe_content(head)
    if size == 0:
        raise not_an_image("the downloaded file is empty")
    data = info(path)
    fmt = data.get("format")
    virtual = int(data.get("virtual-size") or 0)
    if fmt not in ("qcow2", "raw"):
        raise not_an_image(f"the file is a {fmt} image; templates are qcow2 or raw (convert it with qemu-img "
                           "convert -O qcow2)", detected=fmt)
    if declared and declared != fmt:
        raise InvalidInput(f"format={declared} was declared but the file is a {fmt} image", code="FormatMismatch",
                           details={"declared": declared, "detected": fmt})
    if fmt == "qcow2":
        if data.get("backing-filename"):
            raise InvalidInput("the qcow2 image names a backing file; a template must be standalone "
                               "(qemu-img convert -O qcow2 in.qcow2 out.qcow2)", code="BackingFileNotAllowed",
                               details={"backing_filename": data.get("backing-filename")})
        if data.get("encrypted"):
            raise not_an_image("the qcow2 image is encrypted; templates must be readable without a key")
    elif what is not None:
        raise not_an_image(f"the file is {what}, not a disk image (did the URL return an error or a download "
                           "page?)", detected=what)
    elif size % 512:
        raise not_an_image(f"the file is {size} bytes, not a whole number of 512-byte sectors: not a raw disk")
    elif declared != "raw" and not has_boot_structures(head):
        raise not_an_image("the file has no qcow2 header and no partition table (MBR or GPT): it does not look "
                           "like a disk image. If it is an unpartitioned raw disk, register it with "
                           "source.format=raw", detected="unknown")
    if not 0 < virtual <= MAX_VIRTUAL:
        raise not_an_image(f"the image's virtual size {virtual} bytes is not between 1 byte and 64 TiB")
    return ImageFacts(format=fmt, virtual_size=virtual, size=size)
