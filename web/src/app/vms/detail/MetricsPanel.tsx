"use client";

import { useMemo, useState } from "react";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";
import { LoadingBlock, Spinner } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { ChartSeries, TimeSeriesChart } from "@/components/TimeSeriesChart";
import { WindowPicker } from "@/components/WindowPicker";
import { ValueFormat, VmMetrics, WindowId, formatBytesAt, formatIops, formatPercent, formatRate, refreshMsOf, useMetrics, windowOf } from "@/lib/metrics";

/** A chart card with a device choice ("all" or one device) in its header. */
function DevicePick({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: string[]; onChange: (v: string) => void }) {
  if (options.length < 2) return null;
  return (
    <Field label={label} name={id}>
      <Select id={id} className="select select-sm" value={value} onChange={(e) => onChange(e.target.value)} data-testid={id}>
        <option value="">All</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </Select>
    </Field>
  );
}

function VmCharts({ m, windowText }: { m: VmMetrics; windowText: string }) {
  const [disk, setDisk] = useState("");
  const [nic, setNic] = useState("");
  const s = m.series;
  const d = m.disks.find((x) => x.name === disk);
  const n = m.nics.find((x) => x.name === nic);
  const nicName = (x: VmMetrics["nics"][number]) => x.name || x.mac || "?";
  const charts: { key: string; title: string; series: ChartSeries[]; format: ValueFormat; yRange?: [number, number]; extra?: React.ReactNode }[] = [
    { key: "cpu", title: "CPU", series: [{ label: "CPU", values: s.cpu_percent }], format: formatPercent, yRange: [0, 100] },
    {
      key: "memory",
      title: "Memory",
      series: [
        { label: "Used", values: s.memory_used_bytes, fill: true },
        { label: "Available", values: s.memory_available_bytes, dashed: true },
      ],
      format: formatBytesAt,
    },
    {
      key: "disk",
      title: `Disk throughput${d ? ` (${d.name})` : ""}`,
      series: [
        { label: "Read", values: d ? d.series.read_bytes_per_s : s.disk_read_bytes_per_s },
        { label: "Write", values: d ? d.series.write_bytes_per_s : s.disk_write_bytes_per_s },
      ],
      format: formatRate,
      extra: <DevicePick id="metrics-disk" label="Disk" value={disk} options={m.disks.map((x) => x.name)} onChange={setDisk} />,
    },
    {
      key: "iops",
      title: `Disk operations${d ? ` (${d.name})` : ""}`,
      series: [
        { label: "Read", values: d ? d.series.read_iops : s.disk_read_iops },
        { label: "Write", values: d ? d.series.write_iops : s.disk_write_iops },
      ],
      format: formatIops,
    },
    {
      key: "net",
      title: `Network${n ? ` (${nicName(n)})` : ""}`,
      series: [
        { label: "Received", values: n ? n.series.rx_bytes_per_s : s.net_rx_bytes_per_s },
        { label: "Sent", values: n ? n.series.tx_bytes_per_s : s.net_tx_bytes_per_s },
      ],
      format: formatRate,
      extra: <DevicePick id="metrics-nic" label="Interface" value={nic} options={m.nics.map(nicName)} onChange={setNic} />,
    },
  ];
  return (
    <div className="chart-grid">
      {charts.map((c) => (
        <div className="card chart-card" key={c.key}>
          {c.extra && <div className="chart-card-extra">{c.extra}</div>}
          <TimeSeriesChart title={c.title} time={s.time} series={c.series} format={c.format} yRange={c.yRange} windowText={windowText} testId={`chart-${c.key}`} />
        </div>
      ))}
    </div>
  );
}

/** The VM's usage graphs over a chosen window (describe-vm-metrics). */
export function VmMetricsPanel({ node, name, windowId, onWindow }: { node: string; name: string; windowId: WindowId; onWindow: (w: WindowId) => void }) {
  const w = windowOf(windowId);
  const q = useMetrics("describe-vm-metrics", { node, name, window_s: w.seconds }, { refreshMs: refreshMsOf(w.seconds) });
  const m = q.data;
  const info = useMemo(() => {
    if (!m) return null;
    return `one point per ${m.step_s} s · sampled every ${m.interval_s} s`;
  }, [m]);
  return (
    <div className="stack" data-testid="vm-metrics">
      <Card
        title={
          <span className="split">
            Usage over {w.title} {q.fetching && <Spinner label="Refreshing" />}
          </span>
        }
        extra={<WindowPicker value={w.id} onChange={onWindow} testId="metrics-window" />}
      >
        <div className="muted small" data-testid="metrics-info">
          {info ?? "Reading the samples…"}
        </div>
      </Card>
      <ErrorBanner error={q.error} title="Could not read the VM's metrics" onRetry={() => void q.refresh()} testId="metrics-error" />
      {m ? <VmCharts m={m} windowText={w.title} /> : q.loading ? <LoadingBlock testId="metrics-loading">Reading the samples…</LoadingBlock> : null}
    </div>
  );
}
