"""Remove what an interrupted test run left on the real host: every domain, storage pool, network and volume
whose name carries the tests' prefix (jvptest-) on qemu:///system. A test cleans up after itself, but a run
that is killed (a timeout, a lost session) cannot; its pools then point at deleted temporary directories,
turn inactive at the next libvirtd start, and make every later delete-template refuse (TemplateUsageUnknown).

Run by `make test` before the tests (so on one host, one test run at a time). Prints what it removed.
"""
from __future__ import annotations

import sys

import libvirt

PREFIX = "jvptest-"


def main(uri: str = "qemu:///system") -> int:
    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        print(f"clean-test-leftovers: {uri} does not answer ({exc}); nothing to clean")
        return 0
    removed: list[str] = []
    for dom in conn.listAllDomains(0):
        if dom.name().startswith(PREFIX):
            if dom.isActive():
                dom.destroy()
            try:
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                                  | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                  | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
            except libvirt.libvirtError:
                pass  # transient: gone with destroy
            removed.append(f"domain {dom.name()}")
    for net in conn.listAllNetworks(0):
        if net.name().startswith(PREFIX):
            if net.isActive():
                net.destroy()
            if net.isPersistent():
                net.undefine()
            removed.append(f"network {net.name()}")
    for pool in conn.listAllStoragePools(0):
        ours = pool.name().startswith(PREFIX)
        if pool.isActive():
            for vol in pool.listAllVolumes(0):
                if ours or vol.name().startswith(PREFIX):
                    try:
                        vol.delete(0)
                        removed.append(f"volume {pool.name()}/{vol.name()}")
                    except libvirt.libvirtError as exc:
                        print(f"clean-test-leftovers: volume {pool.name()}/{vol.name()}: {exc}", file=sys.stderr)
            if ours:
                pool.destroy()
        if ours:
            try:
                pool.delete(0)
            except libvirt.libvirtError:
                pass  # its directory is gone already, or holds foreign files
            if pool.isPersistent():
                pool.undefine()
            removed.append(f"pool {pool.name()}")
    conn.close()
    print(f"clean-test-leftovers: removed {len(removed)}" + (f": {', '.join(removed)}" if removed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
