"""One table of what a node's libvirt driver may lack, and what JVP does instead.

libvirt drivers differ (the test driver, older daemons, remote daemons of other versions): an API may be
missing altogether, or refuse a flag. JVP never checks version numbers; it tries the call and, when the
driver answers with one of the feature's "not here" codes, takes the fallback written in this table. Each
call site names its feature (`support.lacks("sparse_streams", exc)`), so the codes that mean "not
supported" and the fallback taken are decided once, here, and listed in one place for a reader.
(Model: virt-manager's virtinst/support.py, a table of checks with what each needs.)
"""
from __future__ import annotations

from dataclasses import dataclass

import libvirt

# The codes with which a driver says "I do not have this": the base of every feature's set.
NOT_SUPPORTED = frozenset({libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED})
ARG_UNSUPPORTED = frozenset({libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED})
INVALID_ARG = frozenset({libvirt.VIR_ERR_INVALID_ARG})
CONFIG_UNSUPPORTED = frozenset({libvirt.VIR_ERR_CONFIG_UNSUPPORTED})


@dataclass(frozen=True)
class Feature:
    api: str               # the libvirt call (and flag) that may be missing
    codes: frozenset[int]  # the error codes that mean the driver lacks it
    fallback: str          # what JVP does then


FEATURES: dict[str, Feature] = {
    "bulk_domain_stats": Feature(
        "virConnectGetAllDomainStats", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "list the domains and read each one's state (one call per domain)"),
    "network_list": Feature(
        "virConnectListAllNetworks", NOT_SUPPORTED,
        "a driver without networks: a VM's NICs on networks are not checked (no NetworkNotFound problem)"),
    "domain_metadata": Feature(
        "virDomainSetMetadata (live or config)", NOT_SUPPORTED | ARG_UNSUPPORTED | CONFIG_UNSUPPORTED,
        "JVP's live-only facts (the start time behind uptime) are not recorded; uptime is null"),
    "domain_capabilities": Feature(
        "virConnectGetDomainCapabilities", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG | CONFIG_UNSUPPORTED,
        "no CPU model, firmware or nested-KVM facts: they are reported as unknown (null)"),
    "host_interfaces": Feature(
        "virConnectListAllInterfaces", NOT_SUPPORTED | ARG_UNSUPPORTED,
        "host interfaces are unknown (null); bridge names come from the node's libvirt networks"),
    "network_leases": Feature(
        "virNetworkGetDHCPLeases", NOT_SUPPORTED | ARG_UNSUPPORTED,
        "no lease addresses (list-network-leases answers NotSupported; VM IPs from the agent only)"),
    "network_inactive_xml": Feature(
        "virNetworkGetXMLDesc(INACTIVE)", NOT_SUPPORTED | INVALID_ARG,
        "the live definition stands for both (drivers that keep one definition)"),
    "interface_addresses": Feature(
        "virDomainInterfaceAddresses", NOT_SUPPORTED | ARG_UNSUPPORTED,
        "no addresses from that source; the other sources still answer"),
    "node_memory_stats": Feature(
        "virNodeGetMemoryStats", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "free/cached memory unknown (null); total memory from getInfo"),
    "node_cpu_stats": Feature(
        "virNodeGetCPUStats", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "the node's CPU % is unknown (null in the metrics series)"),
    "node_free_memory": Feature(
        "virNodeGetFreeMemory", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "the node's used memory is unknown (null in the metrics series)"),
    "domain_device_stats": Feature(
        "virDomainGetInfo / MemoryStats / BlockStats / InterfaceStats (a driver whose bulk stats lack them)",
        NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "that figure of the VM is unknown (null in the metrics series)"),
    "numa_free_memory": Feature(
        "virNodeGetCellsFreeMemory", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "free memory per NUMA cell unknown (null)"),
    "hugepages_free": Feature(
        "virNodeGetFreePages", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "free huge pages unknown (null); totals from the capabilities"),
    "sparse_streams": Feature(
        "virStorageVolUpload/Download(SPARSE_STREAM)", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "plain streams: holes are sent as zeros"),
    "volume_physical_size": Feature(
        "virStorageVolGetInfoFlags(GET_PHYSICAL)", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "the allocation of virStorageVolGetInfo stands for the physical size"),
    "disk_only_snapshot_live": Feature(
        "virDomainSnapshotCreateXML(DISK_ONLY) of a running domain",
        NOT_SUPPORTED | ARG_UNSUPPORTED | CONFIG_UNSUPPORTED,
        "JVP captures the disks itself through QMP (hypervisor/snapshot_live.py)"),
    "undefine_nvram": Feature(
        "virDomainUndefineFlags(NVRAM | CHECKPOINTS_METADATA)", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "a driver that keeps no NVRAM files or checkpoints (libvirt's test driver): undefined without those "
        "flags, and delete-vm answers nvram_removed: false"),
    "snapshot_listing": Feature(
        "virDomainSnapshotNum / virDomainListAllSnapshots", NOT_SUPPORTED,
        "the driver keeps no snapshots: there are none to delete with the domain"),
    "cpu_compare": Feature(
        "virConnectCompareHypervisorCPU", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG | CONFIG_UNSUPPORTED,
        "the migration preflight's CPU check is skipped (reported as not checked)"),
    "migration_downtime": Feature(
        "virDomainMigrateSetMaxDowntime before the job starts", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "the downtime limit is set once the migration job runs"),
    "pool_build_no_overwrite": Feature(
        "virStoragePoolBuild(NO_OVERWRITE) of an fs, logical or disk pool", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "none: the pool is not created (422 NotSupported), since a build without the flag may write over a "
        "filesystem, volume group or partition table; prepare the device yourself and create the pool with "
        "build: false"),
    "job_stats": Feature(
        "virDomainGetJobStats", NOT_SUPPORTED | ARG_UNSUPPORTED | INVALID_ARG,
        "no progress figures while the migration runs (progress null)"),
}


def codes(feature: str) -> frozenset[int]:
    return FEATURES[feature].codes


def lacks(feature: str, exc: libvirt.libvirtError) -> bool:
    """The driver answered that it lacks `feature`: take the table's fallback."""
    return exc.get_error_code() in FEATURES[feature].codes


def table() -> list[tuple[str, str, str]]:
    """(feature, libvirt API, fallback) rows, for docs and `jvp check`."""
    return [(name, f.api, f.fallback) for name, f in FEATURES.items()]
