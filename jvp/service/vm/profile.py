"""The guest OS profile of create-vm (`os_profile`): which disk bus and NIC model a new VM gets.

- linux (the default): VirtIO disks (vda, vdb, ...) and VirtIO NICs, as before.
- windows: SATA disks (sda, sdb, ...: AHCI, which Windows drives out of the box) and e1000e NICs, because
  Windows has no VirtIO driver until the VirtIO driver ISO (virtio-win) is installed. `disk_bus: virtio` and a
  NIC `model: virtio` are taken when asked; on the installer path (a blank system disk) they need
  `virtio_iso`, the volume holding that driver ISO (it goes in as a second cdrom; Windows Setup loads the
  storage driver from it with "Load driver"), or Setup would find no disk. A template or volume is a prepared
  image, usually with the drivers installed already, so VirtIO is taken there as asked.
  The defaults stay SATA/e1000e even with `virtio_iso`: an install works without the extra step, and the
  drivers can be installed from that cdrom afterwards.
The Hyper-V enlightenments and the clock are the hypervisor layer's (hypervisor/domain_windows.py); the seed
Cloudbase-Init reads is cloudinit/cloudbase.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jvp.errors import InvalidInput

WINDOWS = "windows"
DEFAULTS = {"linux": ("virtio", "virtio"), WINDOWS: ("sata", "e1000e")}  # profile -> (disk bus, NIC model)
TARGET_PREFIX = {"virtio": "vd", "sata": "sd"}


@dataclass
class Devices:
    os_profile: str
    disk_bus: str
    nic_models: list[str]    # one per requested NIC, in order


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="InvalidInput", details={"field_errors": {field: [message]}})


def devices(req: dict[str, Any], blank_system_disk: bool) -> Devices:
    profile = req.get("os_profile") or "linux"
    bus_default, model_default = DEFAULTS[profile]
    bus = req.get("disk_bus") or bus_default
    models = [n.get("model") or model_default for n in req.get("nics") or []]
    if profile != WINDOWS:
        if req.get("virtio_iso"):
            raise _bad("virtio_iso", "virtio_iso (the VirtIO driver ISO for Windows) goes with os_profile: "
                       "windows; a Linux guest has the VirtIO drivers built in")
        return Devices(profile, bus, models)
    if blank_system_disk and not req.get("virtio_iso"):
        why = ("give virtio_iso (a volume holding the VirtIO driver ISO) to load the driver during Setup, or "
               "leave it out for the default")
        if bus == "virtio":
            raise _bad("disk_bus", f"Windows Setup has no VirtIO storage driver and would find no disk: {why} "
                       "(sata)")
        for i, model in enumerate(models):
            if model == "virtio":
                raise _bad(f"nics.{i}.model", f"Windows has no VirtIO network driver after Setup: {why} (e1000e)")
    return Devices(profile, bus, models)


def disk_target(bus: str, target: str) -> str:
    """The planner names disks vda, vdb, ...; on another bus they are sda, sdb, ..."""
    return TARGET_PREFIX[bus] + target[2:]
