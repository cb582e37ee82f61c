"use client";

import { ReactNode, useState } from "react";
import type { Schema } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatBytes, formatMiB, formatNumber, show } from "@/lib/format";
import { Column, DataTable } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Card } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { Tabs } from "@/components/Tabs";

type Pci = Schema<"PciDevice">;

// PCI base classes (the first byte of the class code), from the PCI specification.
const PCI_CLASSES: Record<string, string> = {
  "00": "Unclassified", "01": "Mass storage", "02": "Network", "03": "Display", "04": "Multimedia",
  "05": "Memory", "06": "Bridge", "07": "Communication", "08": "System peripheral", "09": "Input",
  "0a": "Docking station", "0b": "Processor", "0c": "Serial bus", "0d": "Wireless", "0e": "Intelligent I/O",
  "0f": "Satellite", "10": "Encryption", "11": "Signal processing", "12": "Accelerator", "ff": "Unassigned",
};

function pciClass(code: string | null | undefined): ReactNode {
  if (!code) return "—";
  const base = code.replace(/^0x/i, "").padStart(6, "0").slice(0, 2).toLowerCase();
  const label = PCI_CLASSES[base];
  return (
    <span title={code}>
      {label ?? "Other"} <span className="muted mono">{code}</span>
    </span>
  );
}

function nameOrId(name: string | null | undefined, id: string | null | undefined): ReactNode {
  if (name) return id ? <span title={id}>{name}</span> : name;
  return id ? <span className="mono">{id}</span> : "—";
}

const pciColumns: Column<Pci>[] = [
  {
    key: "address",
    header: "Address",
    render: (d) => (
      <div>
        <div className="mono cell-main">{d.address}</div>
        <div className="cell-sub">{d.name}</div>
      </div>
    ),
  },
  { key: "class", header: "Class", render: (d) => pciClass(d.class), sortValue: (d) => d.class },
  { key: "vendor", header: "Vendor", render: (d) => nameOrId(d.vendor, d.vendor_id), sortValue: (d) => d.vendor ?? d.vendor_id },
  { key: "product", header: "Product", render: (d) => nameOrId(d.product, d.product_id), sortValue: (d) => d.product ?? d.product_id },
  { key: "driver", header: "Driver", render: (d) => (d.driver ? <span className="mono">{d.driver}</span> : "—") },
  { key: "iommu_group", header: "IOMMU group", align: "num" },
  { key: "numa_node", header: "NUMA", align: "num" },
  { key: "vm", header: "Held by VM", render: (d) => (d.vm ? <strong>{d.vm}</strong> : <span className="muted">—</span>) },
];

const vmColumns: Column<Schema<"NodeVm">>[] = [
  { key: "name", header: "Name", render: (v) => <span className="cell-main">{v.name}</span> },
  { key: "state", header: "State", render: (v) => <StateBadge state={v.state} testId="vm-state" /> },
  { key: "vcpus", header: "vCPUs", align: "num" },
  { key: "memory_mib", header: "Memory", align: "num", render: (v) => formatMiB(v.memory_mib) },
  { key: "persistent", header: "Persistent", render: (v) => show(v.persistent) },
  { key: "uuid", header: "UUID", render: (v) => <span className="mono muted">{v.uuid}</span> },
];

const usbColumns: Column<Schema<"UsbDevice">>[] = [
  { key: "name", header: "Device", render: (d) => <span className="mono">{d.name}</span> },
  { key: "bus", header: "Bus", align: "num" },
  { key: "device", header: "Address", align: "num" },
  { key: "vendor", header: "Vendor", render: (d) => nameOrId(d.vendor, d.vendor_id), sortValue: (d) => d.vendor ?? d.vendor_id },
  { key: "product", header: "Product", render: (d) => nameOrId(d.product, d.product_id), sortValue: (d) => d.product ?? d.product_id },
  { key: "driver", header: "Driver", render: (d) => (d.driver ? <span className="mono">{d.driver}</span> : "—") },
];

// libvirt reports an unknown link speed as (unsigned) -1; that is "unknown", not 4 Pb/s.
const UNKNOWN_SPEED = 4294967295;
function speed(mbps: number | null | undefined): string {
  if (mbps == null || mbps < 0 || mbps >= UNKNOWN_SPEED) return "—";
  return mbps >= 1000 ? `${mbps / 1000} Gb/s` : `${mbps} Mb/s`;
}

const netColumns: Column<Schema<"NetDevice">>[] = [
  {
    key: "interface",
    header: "Interface",
    render: (d) => (
      <div>
        <div className="cell-main mono">{show(d.interface)}</div>
        <div className="cell-sub">{d.name}</div>
      </div>
    ),
  },
  { key: "mac", header: "MAC", render: (d) => (d.mac ? <span className="mono">{d.mac}</span> : "—") },
  {
    key: "link_state",
    header: "Link",
    render: (d) => (d.link_state ? <StateBadge state={d.link_state} tone={d.link_state === "up" ? "success" : d.link_state === "down" ? "danger" : "neutral"} /> : "—"),
  },
  { key: "speed_mbps", header: "Speed", align: "num", render: (d) => speed(d.speed_mbps) },
  { key: "parent", header: "Parent", render: (d) => (d.parent ? <span className="mono">{d.parent}</span> : "—") },
];

const diskColumns: Column<Schema<"DiskDevice">>[] = [
  {
    key: "block",
    header: "Device",
    render: (d) => (
      <div>
        <div className="cell-main mono">{show(d.block)}</div>
        <div className="cell-sub">{d.name}</div>
      </div>
    ),
    sortValue: (d) => d.block ?? d.name,
  },
  { key: "drive_type", header: "Type" },
  { key: "bus", header: "Bus" },
  { key: "model", header: "Model" },
  { key: "vendor", header: "Vendor" },
  { key: "serial", header: "Serial", render: (d) => (d.serial ? <span className="mono">{d.serial}</span> : "—") },
  { key: "size_bytes", header: "Size", align: "num", render: (d) => formatBytes(d.size_bytes) },
  { key: "removable", header: "Removable", render: (d) => show(d.removable) },
];

type TabId = "vms" | "pci" | "usb" | "net" | "disks" | "gpu";

/** The node's VMs and host devices, one tab per describe-node-* action. */
export function DeviceTabs({ name }: { name: string }) {
  const [tab, setTab] = useState<TabId>("vms");
  const body = { name };
  const vms = useQuery("describe-node-vms", body);
  const pci = useQuery("describe-node-pci", body);
  const usb = useQuery("describe-node-usb", body);
  const net = useQuery("describe-node-net", body);
  const disks = useQuery("describe-node-disks", body);
  const gpu = useQuery("describe-node-gpu", body);

  const tabs = [
    { id: "vms", label: "VMs", count: vms.data?.vms.length },
    { id: "pci", label: "PCI", count: pci.data?.pci.length },
    { id: "usb", label: "USB", count: usb.data?.usb.length },
    { id: "net", label: "Network", count: net.data?.net.length },
    { id: "disks", label: "Disks", count: disks.data?.disks.length },
    { id: "gpu", label: "GPU", count: gpu.data?.gpu.length },
  ];

  const current = { vms, pci, usb, net, disks, gpu }[tab];
  let table: ReactNode;
  switch (tab) {
    case "vms":
      table = <DataTable testId="vms-table" columns={vmColumns} rows={vms.data?.vms} rowKey={(v) => v.uuid} loading={vms.loading} empty="No VMs on this node" initialSort={{ key: "name", dir: "asc" }} />;
      break;
    case "pci":
      table = <DataTable testId="pci-table" columns={pciColumns} rows={pci.data?.pci} rowKey={(d) => d.name} loading={pci.loading} empty="No PCI devices reported" initialSort={{ key: "address", dir: "asc" }} />;
      break;
    case "usb":
      table = <DataTable testId="usb-table" columns={usbColumns} rows={usb.data?.usb} rowKey={(d) => d.name} loading={usb.loading} empty="No USB devices reported" />;
      break;
    case "net":
      table = <DataTable testId="net-table" columns={netColumns} rows={net.data?.net} rowKey={(d) => d.name} loading={net.loading} empty="No network interfaces reported" initialSort={{ key: "interface", dir: "asc" }} />;
      break;
    case "disks":
      table = <DataTable testId="disks-table" columns={diskColumns} rows={disks.data?.disks} rowKey={(d) => d.name} loading={disks.loading} empty="No block devices reported" />;
      break;
    case "gpu":
      table = <DataTable testId="gpu-table" columns={pciColumns} rows={gpu.data?.gpu} rowKey={(d) => d.name} loading={gpu.loading} empty="No GPUs (PCI class 0x03) on this node" />;
      break;
  }

  return (
    <Card bodyless testId="device-tabs">
      <Tabs tabs={tabs} active={tab} onChange={(id) => setTab(id as TabId)} />
      {current.error && (
        <div style={{ padding: "14px 14px 0" }}>
          <ErrorBanner error={current.error} title={`Could not read the ${tab} of ${name}`} onRetry={() => void current.refresh()} testId={`${tab}-error`} />
        </div>
      )}
      {table}
      {tab === "pci" && pci.data && pci.data.pci.length > 0 && (
        <div className="muted small" style={{ padding: "10px 14px", borderTop: "1px solid var(--border)" }}>
          {formatNumber(pci.data.pci.filter((d) => d.vm).length)} of {formatNumber(pci.data.pci.length)} devices held by a VM.
        </div>
      )}
    </Card>
  );
}
