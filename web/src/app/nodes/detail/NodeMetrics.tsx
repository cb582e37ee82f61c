"use client";

import { ErrorBanner } from "@/components/ErrorBanner";
import { LoadingBlock, Spinner } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { ChartSeries, TimeSeriesChart } from "@/components/TimeSeriesChart";
import { WindowPicker } from "@/components/WindowPicker";
import { isMissing } from "@/lib/format";
import { NodeMetrics, Series, WindowId, formatBytesAt, formatLoad, formatPercent, refreshMsOf, useMetrics, windowOf } from "@/lib/metrics";

/** allocation / capacity × 100 per point (a gap where either is missing or capacity is 0). */
function usedPercent(alloc: Series, cap: Series): Series {
  return alloc.map((a, i) => {
    const c = cap[i];
    return isMissing(a) || isMissing(c) || c <= 0 ? null : (a / c) * 100;
  });
}

function NodeCharts({ m, windowText }: { m: NodeMetrics; windowText: string }) {
  const s = m.series;
  const pools: ChartSeries[] = m.pools.map((p) => ({ label: p.name, values: usedPercent(p.series.allocation_bytes, p.series.capacity_bytes) }));
  return (
    <div className="chart-grid">
      <div className="card chart-card">
        <TimeSeriesChart title="CPU" time={s.time} series={[{ label: "CPU", values: s.cpu_percent }]} format={formatPercent} yRange={[0, 100]} windowText={windowText} testId="node-chart-cpu" />
      </div>
      <div className="card chart-card">
        <TimeSeriesChart
          title="Memory"
          time={s.time}
          series={[
            { label: "Used", values: s.memory_used_bytes, fill: true },
            { label: "Total", values: s.memory_total_bytes, dashed: true },
          ]}
          format={formatBytesAt}
          windowText={windowText}
          testId="node-chart-memory"
        />
      </div>
      <div className="card chart-card">
        <TimeSeriesChart
          title="Load average"
          time={s.time}
          series={[
            { label: "1 min", values: s.load1 },
            { label: "5 min", values: s.load5 },
            { label: "15 min", values: s.load15 },
          ]}
          format={formatLoad}
          windowText={windowText}
          testId="node-chart-load"
        />
      </div>
      <div className="card chart-card">
        {pools.length ? (
          <TimeSeriesChart title="Storage pools (used)" time={s.time} series={pools} format={formatPercent} yRange={[0, 100]} windowText={windowText} testId="node-chart-pools" />
        ) : (
          <div className="chart">
            <div className="chart-title">Storage pools (used)</div>
            <div className="muted small" data-testid="node-chart-pools-none">
              No active storage pool was sampled on this node in this window.
            </div>
          </div>
        )}
      </div>
    </div>
  );
}

/** The node's usage graphs over a chosen window (describe-node-metrics). */
export function NodeMetricsSection({ name, windowId, onWindow }: { name: string; windowId: WindowId; onWindow: (w: WindowId) => void }) {
  const w = windowOf(windowId);
  const q = useMetrics("describe-node-metrics", { name, window_s: w.seconds }, { refreshMs: refreshMsOf(w.seconds) });
  const m = q.data;
  return (
    <section className="stack" style={{ marginBottom: 20 }} data-testid="node-metrics">
      <Card
        title={
          <span className="split">
            Usage over {w.title} {q.fetching && <Spinner label="Refreshing" />}
          </span>
        }
        extra={<WindowPicker value={w.id} onChange={onWindow} testId="node-metrics-window" />}
      >
        <div className="muted small" data-testid="node-metrics-info">
          {m ? `one point per ${m.step_s} s · sampled every ${m.interval_s} s` : "Reading the samples…"}
          {m && (
            <span data-testid="node-metrics-load-source">
              {m.load_source ? ` · load from ${m.load_source}` : " · libvirt gives no load figure for this node"}
            </span>
          )}
        </div>
      </Card>
      <ErrorBanner error={q.error} title="Could not read the node's metrics" onRetry={() => void q.refresh()} testId="node-metrics-error" />
      {m ? <NodeCharts m={m} windowText={w.title} /> : q.loading ? <LoadingBlock testId="node-metrics-loading">Reading the samples…</LoadingBlock> : null}
    </section>
  );
}
