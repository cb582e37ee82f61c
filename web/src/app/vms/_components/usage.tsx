"use client";

// The VM list's usage columns: the latest sample of every VM (list-vm-usage), CPU with a sparkline of its
// last 30 samples, memory in use, disk and network rates. A VM without a sample (stopped, just created, its
// node down) shows "—", never a made-up 0.

import type { Column } from "@/components/DataTable";
import { Sparkline } from "@/components/Sparkline";
import { formatBytes, percent } from "@/lib/format";
import { VmUsage, formatPercent, formatRate, usageKey } from "@/lib/metrics";
import type { VmSummary } from "./vmUtil";

export type UsageIndex = Map<string, VmUsage>;

export function indexUsage(vms: VmUsage[] | undefined): UsageIndex {
  return new Map((vms ?? []).map((u) => [usageKey(u), u]));
}

function sumOrNull(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null && b == null ? null : (a ?? 0) + (b ?? 0);
}

/** "286.1 MiB used · 14%" under a VM's memory size (nothing without a sample). */
export function MemoryUsed({ vm, usage }: { vm: VmSummary; usage: UsageIndex }) {
  const used = usage.get(usageKey(vm))?.memory_used_bytes;
  if (used == null) return null;
  const pct = percent(used, vm.memory_mib != null ? vm.memory_mib * 1024 * 1024 : null);
  return (
    <div className="cell-sub" style={{ whiteSpace: "nowrap" }} data-testid="vm-mem-used">
      {formatBytes(used)} used{pct != null ? ` · ${formatPercent(pct)}` : ""}
    </div>
  );
}

/** The usage columns of the VM list, reading `usage` (keyed node/name). */
export function usageColumns(usage: UsageIndex): Column<VmSummary>[] {
  const of = (v: VmSummary) => usage.get(usageKey(v));
  return [
    {
      key: "cpu_percent",
      header: "CPU",
      align: "num",
      sortValue: (v) => of(v)?.cpu_percent ?? null,
      render: (v) => {
        const u = of(v);
        return (
          <div className="usage-cell" data-testid="vm-cpu">
            {u && u.cpu_recent.length > 0 && (
              <Sparkline values={u.cpu_recent} max={100} label={`CPU of ${v.name}`} format={(x) => formatPercent(x)} width={60} height={22} testId="vm-cpu-spark" />
            )}
            <span className="usage-value" data-testid="vm-cpu-value">{formatPercent(u?.cpu_percent)}</span>
          </div>
        );
      },
    },
    {
      key: "io",
      header: "Disk / Net",
      align: "num",
      sortValue: (v) => sumOrNull(sumOrNull(of(v)?.disk_read_bytes_per_s, of(v)?.disk_write_bytes_per_s), sumOrNull(of(v)?.net_rx_bytes_per_s, of(v)?.net_tx_bytes_per_s)),
      render: (v) => {
        const u = of(v);
        const disk = sumOrNull(u?.disk_read_bytes_per_s, u?.disk_write_bytes_per_s);
        const net = sumOrNull(u?.net_rx_bytes_per_s, u?.net_tx_bytes_per_s);
        const diskText = `disk read ${formatRate(u?.disk_read_bytes_per_s)}, write ${formatRate(u?.disk_write_bytes_per_s)}`;
        const netText = `network received ${formatRate(u?.net_rx_bytes_per_s)}, sent ${formatRate(u?.net_tx_bytes_per_s)}`;
        return (
          <div className="small rate-pair" data-testid="vm-io">
            <div title={diskText} data-testid="vm-disk-io" data-read={u?.disk_read_bytes_per_s ?? ""} data-write={u?.disk_write_bytes_per_s ?? ""}>
              <span className="muted" aria-hidden="true">disk </span>
              <span aria-hidden="true">{formatRate(disk)}</span>
              <span className="visually-hidden">{diskText}</span>
            </div>
            <div title={netText} data-testid="vm-net-io" data-rx={u?.net_rx_bytes_per_s ?? ""} data-tx={u?.net_tx_bytes_per_s ?? ""}>
              <span className="muted" aria-hidden="true">net </span>
              <span aria-hidden="true">{formatRate(net)}</span>
              <span className="visually-hidden">{netText}</span>
            </div>
          </div>
        );
      },
    },
  ];
}
