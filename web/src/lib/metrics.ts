"use client";

// The metrics actions (describe-vm-metrics, describe-node-metrics, list-vm-usage) and what the pages do
// with their answers: the windows a graph offers, the latest value of a series, rates as text.
//
// LOCAL TYPES: the three answers are typed here by hand, from the actions' contract, until their generated
// types exist (`npm run gen` after the actions are on main). To switch, replace the three interfaces by
// `ResponseOf<"describe-vm-metrics">` etc. and `useMetrics` by `useQuery`; nothing else changes.

import type { ActionName } from "@/lib/api";
import { QueryOptions, QueryState, useQuery } from "@/lib/hooks";
import { formatBytes, isMissing } from "@/lib/format";

/** One value per entry of `time`; null where there is no sample (a gap). */
export type Series = (number | null)[];

export interface VmMetrics {
  node: string;
  name: string;
  uuid?: string | null;
  window_s: number;
  step_s: number;
  interval_s: number;
  series: {
    /** Unix seconds. */
    time: number[];
    cpu_percent: Series;
    memory_used_bytes: Series;
    memory_available_bytes: Series;
    disk_read_bytes_per_s: Series;
    disk_write_bytes_per_s: Series;
    disk_read_iops: Series;
    disk_write_iops: Series;
    net_rx_bytes_per_s: Series;
    net_tx_bytes_per_s: Series;
  };
  disks: { name: string; series: { read_bytes_per_s: Series; write_bytes_per_s: Series; read_iops: Series; write_iops: Series } }[];
  nics: { name: string; mac?: string | null; series: { rx_bytes_per_s: Series; tx_bytes_per_s: Series } }[];
}

export interface NodeMetrics {
  name: string;
  window_s: number;
  step_s: number;
  interval_s: number;
  /** Where load1/5/15 come from (`/proc/loadavg` for the node on JVP's own machine); null: not known. */
  load_source?: string | null;
  series: {
    time: number[];
    cpu_percent: Series;
    memory_used_bytes: Series;
    memory_total_bytes: Series;
    load1: Series;
    load5: Series;
    load15: Series;
  };
  pools: { name: string; series: { capacity_bytes: Series; allocation_bytes: Series; available_bytes: Series } }[];
}

export interface VmUsage {
  node: string;
  name: string;
  uuid?: string | null;
  /** Time of the sample (RFC 3339 or unix seconds). */
  time?: string | number | null;
  state?: string | null;
  cpu_percent: number | null;
  memory_used_bytes: number | null;
  memory_available_bytes: number | null;
  disk_read_bytes_per_s: number | null;
  disk_write_bytes_per_s: number | null;
  net_rx_bytes_per_s: number | null;
  net_tx_bytes_per_s: number | null;
  /** CPU % of the last 30 samples, oldest first. */
  cpu_recent: (number | null)[];
}

export interface VmUsageList {
  vms: VmUsage[];
  errors: { node?: string | null; code?: string | null; message: string }[];
}

interface MetricsActions {
  "describe-vm-metrics": { req: { node?: string; name: string; window_s?: number; step_s?: number }; res: VmMetrics };
  "describe-node-metrics": { req: { name: string; window_s?: number; step_s?: number }; res: NodeMetrics };
  "list-vm-usage": { req: { node?: string }; res: VmUsageList };
}

/** `useQuery` for the metrics actions (see LOCAL TYPES above). */
export function useMetrics<K extends keyof MetricsActions>(
  action: K,
  body: MetricsActions[K]["req"],
  opts: QueryOptions = {},
): QueryState<MetricsActions[K]["res"]> {
  return useQuery(action as unknown as ActionName, body as never, opts) as unknown as QueryState<MetricsActions[K]["res"]>;
}

/** The windows a graph offers (seconds), in the order of the buttons. */
export const WINDOWS = [
  { id: "1h", label: "1 h", seconds: 3600, title: "the last hour" },
  { id: "1d", label: "1 d", seconds: 86400, title: "the last day" },
  { id: "7d", label: "7 d", seconds: 7 * 86400, title: "the last 7 days" },
  { id: "30d", label: "30 d", seconds: 30 * 86400, title: "the last 30 days" },
] as const;
export type WindowId = (typeof WINDOWS)[number]["id"];

export function windowOf(id: string | null | undefined): (typeof WINDOWS)[number] {
  return WINDOWS.find((w) => w.id === id) ?? WINDOWS[0];
}

/** How often a graph of this window re-reads its data: the last hour moves every sample, a month barely. */
export function refreshMsOf(windowS: number): number {
  return windowS <= 3600 ? 10_000 : windowS <= 86400 ? 60_000 : 300_000;
}

/** The last value of a series that is not a gap, or null. */
export function lastValue(s: Series | undefined | null): number | null {
  if (!s) return null;
  for (let i = s.length - 1; i >= 0; i -= 1) {
    const v = s[i];
    if (!isMissing(v)) return v;
  }
  return null;
}

export interface SeriesStats {
  min: number;
  max: number;
  avg: number;
  last: number;
  /** Samples that are not gaps. */
  count: number;
}

/** min / max / average / last of the values that are not gaps; null when every value is a gap. */
export function seriesStats(s: Series | undefined | null): SeriesStats | null {
  if (!s) return null;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  let last = NaN;
  for (const v of s) {
    if (isMissing(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    count += 1;
    last = v;
  }
  return count ? { min, max, avg: sum / count, last, count } : null;
}

/** Element-wise sum of series of the same length (a gap where every input is a gap). */
export function sumSeries(list: Series[], length: number): Series {
  const out: Series = new Array(length).fill(null);
  for (const s of list) {
    for (let i = 0; i < length; i += 1) {
      const v = s[i];
      if (isMissing(v)) continue;
      out[i] = (out[i] ?? 0) + v;
    }
  }
  return out;
}

/** CPU and other percentages: "12.3%" ("—" when missing). */
export function formatPercent(v: number | null | undefined, digits?: number): string {
  if (isMissing(v)) return "—";
  const d = digits ?? (Math.abs(v) < 10 ? 1 : 0);
  return `${v.toFixed(d)}%`;
}

/** A byte rate: "1.2 MiB/s". */
export function formatRate(v: number | null | undefined, digits?: number): string {
  return isMissing(v) ? "—" : `${formatBytes(v, digits ?? 1)}/s`;
}

/** Bytes with a chosen number of decimals (for graph axes): "1.5 GiB". */
export function formatBytesAt(v: number | null | undefined, digits?: number): string {
  return formatBytes(v, digits ?? 1);
}

/** Operations per second: "12 IOPS", "1.5 IOPS". */
export function formatIops(v: number | null | undefined, digits?: number): string {
  if (isMissing(v)) return "—";
  const d = digits ?? (Math.abs(v) < 10 ? 1 : 0);
  return `${d === 0 ? Math.round(v).toLocaleString("en-US") : v.toFixed(d)} IOPS`;
}

/** A load average: "0.42". */
export function formatLoad(v: number | null | undefined, digits?: number): string {
  return isMissing(v) ? "—" : v.toFixed(digits ?? 2);
}

/** A value formatter of the graphs: the value, and optionally how many decimals (axes pick the fewest that
 * keep their tick labels distinct). */
export type ValueFormat = (v: number | null | undefined, digits?: number) => string;

/** Tick labels with the fewest decimals that tell the ticks apart (default precision first). */
export function axisLabels(splits: number[], format: ValueFormat): string[] {
  const distinct = (labels: string[]) => new Set(labels).size === labels.length;
  let labels = splits.map((v) => format(v));
  if (distinct(labels)) return labels;
  for (const d of [0, 1, 2, 3]) {
    labels = splits.map((v) => format(v, d));
    if (distinct(labels)) return labels;
  }
  return labels;
}

/** "node/name": the key of a VM across nodes. */
export function usageKey(u: { node: string; name: string }): string {
  return `${u.node}/${u.name}`;
}
