"use client";

import Link from "next/link";
import { useMemo } from "react";
import type { Schema } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatBytes, percent } from "@/lib/format";
import { lastValue, useMetrics } from "@/lib/metrics";
import { Card } from "@/components/PageHeader";
import { EmptyState, LoadingBlock } from "@/components/Loading";
import { StateBadge } from "@/components/StateBadge";
import { Node, nodeHref, vmCounts } from "../nodes/_components/nodeUtil";
import { PercentBar } from "./Bars";

type Pool = Schema<"StoragePool">;

export interface StorageTotals {
  capacity: number;
  allocation: number;
  pools: number;
}

/** Capacity and allocation of a node's active, non-internal pools, summed (null: no such pool). */
export function storageTotals(pools: Pool[] | undefined): StorageTotals | null {
  let t: StorageTotals | null = null;
  for (const p of pools ?? []) {
    if (!p.active || p.internal || p.capacity_bytes == null || p.allocation_bytes == null) continue;
    t ??= { capacity: 0, allocation: 0, pools: 0 };
    t.capacity += p.capacity_bytes;
    t.allocation += p.allocation_bytes;
    t.pools += 1;
  }
  return t;
}

/** One node: state, VM counts, and CPU / memory / storage bars. CPU (and memory, when sampled) come from
 * the collector's latest sample (describe-node-metrics); memory falls back to libvirt's live figure
 * (describe-node-summary) when the node has no sample yet; storage is the sum of its active pools
 * (list-storage-pools). */
function NodeUsage({ node }: { node: Node }) {
  const pools = useQuery("list-storage-pools", { node: node.name }, { enabled: node.reachable, refreshMs: 30_000 });
  const storage = useMemo(() => storageTotals(pools.data?.pools), [pools.data]);
  const m = useMetrics("describe-node-metrics", { name: node.name, window_s: 3600 }, { refreshMs: 10_000 });
  const cpu = lastValue(m.data?.series.cpu_percent);
  const memUsedSampled = lastValue(m.data?.series.memory_used_bytes);
  const memTotalSampled = lastValue(m.data?.series.memory_total_bytes);
  const needSummary = node.reachable && (!!m.error || (!!m.data && memUsedSampled == null));
  const summary = useQuery("describe-node-summary", { name: node.name }, { enabled: needSummary, refreshMs: 30_000 });
  const memUsed = memUsedSampled ?? summary.data?.summary.memory.used_bytes ?? null;
  const memTotal = memTotalSampled ?? summary.data?.summary.memory.total_bytes ?? node.memory_bytes ?? null;
  const counts = vmCounts(node);
  return (
    <li className="dash-node" data-testid="dash-node" data-key={node.name}>
      <div className="dash-node-head">
        <Link href={nodeHref(node.name)} className="cell-main" data-testid="dash-node-link">
          {node.name}
        </Link>
        <StateBadge state={node.state} testId="dash-node-state" />
        <span className="muted small" data-testid="dash-node-vms">
          {counts ? `${counts.running} of ${counts.total} VMs running` : "VMs unknown"}
        </span>
      </div>
      {!node.reachable && node.last_error && (
        <div className="cell-error" data-testid="dash-node-error">
          {node.last_error}
        </div>
      )}
      <div className="dash-node-bars">
        <PercentBar label="CPU" pct={node.reachable ? cpu : null} testId="dash-node-cpu" />
        <PercentBar
          label="Memory"
          pct={node.reachable ? percent(memUsed, memTotal) : null}
          detail={memUsed != null && memTotal != null ? `${formatBytes(memUsed)} of ${formatBytes(memTotal)}` : undefined}
          testId="dash-node-memory"
        />
        <PercentBar
          label="Storage"
          pct={node.reachable && storage ? percent(storage.allocation, storage.capacity) : null}
          detail={node.reachable && storage ? `${formatBytes(storage.allocation)} of ${formatBytes(storage.capacity)}, ${storage.pools} pool${storage.pools === 1 ? "" : "s"}` : undefined}
          testId="dash-node-storage"
        />
      </div>
    </li>
  );
}

export function NodesCard({ nodes, loading }: { nodes: Node[] | undefined; loading: boolean }) {
  return (
    <Card title="Nodes" extra={<Link href="/nodes/" className="small">All nodes</Link>} testId="dash-nodes-card">
      {loading && !nodes ? (
        <LoadingBlock />
      ) : !nodes?.length ? (
        <EmptyState title="No nodes" testId="dash-nodes-empty" />
      ) : (
        <ul className="dash-node-list">
          {[...nodes]
            .sort((a, b) => Number(b.local) - Number(a.local) || a.name.localeCompare(b.name))
            .map((n) => (
              <NodeUsage key={n.name} node={n} />
            ))}
        </ul>
      )}
    </Card>
  );
}
