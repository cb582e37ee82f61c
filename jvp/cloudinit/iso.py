"""The NoCloud seed ISO (volume label `cidata`), built in memory with pycdlib."""
from __future__ import annotations

import io

import pycdlib


def build_iso(files: dict[str, bytes]) -> bytes:
    """An ISO 9660 image with Joliet and Rock Ridge names (cloud-init reads `meta-data`, `user-data`,
    `network-config` by their long names)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata", sys_ident="LINUX")
    try:
        for i, (name, data) in enumerate(sorted(files.items())):
            iso.add_fp(io.BytesIO(data), len(data), f"/FILE{i};1", rr_name=name, joliet_path=f"/{name}")
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()
