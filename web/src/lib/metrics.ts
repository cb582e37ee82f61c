"use client";

// The metrics actions (describe-vm-metrics, describe-node-metrics, list-vm-usage) and what the pages do
// with their answers: the windows a graph offers, the latest value of a series, rates as text.
//
// The answers' types are the generated ones (`ResponseOf<...>`), except that the OpenAPI document describes
// each `series` as a map of arrays (its keys are named only in the description): the types below name the
// keys the actions always send, so a page reads `m.series.cpu_percent`, not an index that may be missing.

import type { RequestOf, ResponseOf, Schema } from "@/lib/api";
import { QueryOptions, QueryState, useQuery } from "@/lib/hooks";
import { formatBytes, isMissing } from "@/lib/format";

/** One value per entry of `time`; null where there is no sample (a gap). */
export type Series = (number | null)[];
type Keyed<K extends string> = { [key in K]: Series };

type VmSeries = { time: number[] } & Keyed<
  | "cpu_percent"
  | "memory_used_bytes"
  | "memory_available_bytes"
  | "disk_read_bytes_per_s"
  | "disk_write_bytes_per_s"
  | "disk_read_iops"
  | "disk_write_iops"
  | "net_rx_bytes_per_s"
  | "net_tx_bytes_per_s"
>;
type NodeSeries = { time: number[] } & Keyed<"cpu_percent" | "memory_used_bytes" | "memory_total_bytes" | "load1" | "load5" | "load15">;
type WithSeries<T, S> = Omit<T, "series"> & { series: S };

export type VmMetrics = WithSeries<Omit<ResponseOf<"describe-vm-metrics">, "disks" | "nics">, VmSeries> & {
  disks: WithSeries<Schema<"DiskSeries">, Keyed<"read_bytes_per_s" | "write_bytes_per_s" | "read_iops" | "write_iops">>[];
  nics: WithSeries<Schema<"NicSeries">, Keyed<"rx_bytes_per_s" | "tx_bytes_per_s">>[];
};

export type NodeMetrics = WithSeries<Omit<ResponseOf<"describe-node-metrics">, "pools">, NodeSeries> & {
  pools: WithSeries<Schema<"PoolSeries">, Keyed<"capacity_bytes" | "allocation_bytes" | "available_bytes">>[];
};

export type VmUsage = Schema<"VmUsage">;
export type VmUsageList = ResponseOf<"list-vm-usage">;

interface MetricsAnswers {
  "describe-vm-metrics": VmMetrics;
  "describe-node-metrics": NodeMetrics;
  "list-vm-usage": VmUsageList;
}

/** `useQuery` for the metrics actions, with their series typed by key (see above). */
export function useMetrics<K extends keyof MetricsAnswers>(action: K, body: RequestOf<K>, opts: QueryOptions = {}): QueryState<MetricsAnswers[K]> {
  return useQuery(action, body, opts) as unknown as QueryState<MetricsAnswers[K]>;
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
