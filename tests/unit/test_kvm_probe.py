"""The KVM probe's boot sector matches its assembly source."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jvp.hypervisor import kvm_probe

SOURCE = Path(kvm_probe.__file__).with_name("kvm_probe.S")


def test_probe_image_is_a_bootable_mbr():
    img = kvm_probe.probe_image()
    assert len(img) == kvm_probe.IMAGE_BYTES and img[510:512] == b"\x55\xaa"
    assert img[:len(kvm_probe.BOOT_SECTOR_CODE)] == kvm_probe.BOOT_SECTOR_CODE


@pytest.mark.skipif(not (shutil.which("as") and shutil.which("ld")), reason="binutils not installed")
def test_boot_sector_bytes_come_from_the_source(tmp_path):
    subprocess.run(["as", "--32", "-o", str(tmp_path / "p.o"), str(SOURCE)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o",
                    str(tmp_path / "p.bin"), str(tmp_path / "p.o")], check=True)
    built = (tmp_path / "p.bin").read_bytes()
    assert built[510:512] == b"\x55\xaa"
    assert built[:510].rstrip(b"\0") == kvm_probe.BOOT_SECTOR_CODE
