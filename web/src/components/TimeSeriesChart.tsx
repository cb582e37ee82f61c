"use client";

// A time-series graph drawn by uPlot (canvas; columnar data: one time array, one array per series, null =
// gap, exactly the shape the metrics actions answer). uPlot needs `window`, so it is loaded with import()
// inside an effect; the chart follows its container's width (ResizeObserver).
//
// Accessibility: the canvas is role="img" with an aria-label that says what the graph shows in words
// (per series: last, average and maximum over the window); the same figures are printed under the graph
// as its legend, and while the pointer is over the graph the legend shows the values at that time.

import { useEffect, useMemo, useRef, useState } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { Series, ValueFormat, axisLabels, seriesStats } from "@/lib/metrics";
import { formatTime } from "@/lib/format";

export interface ChartSeries {
  label: string;
  values: Series;
  /** CSS colour of the line (default: the palette, in order). */
  color?: string;
  /** Fill the area under the line (default: only when the chart has one series). */
  fill?: boolean;
  /** Dashed line (e.g. a limit such as total memory). */
  dashed?: boolean;
}

export interface TimeSeriesChartProps {
  title: string;
  /** Unix seconds. */
  time: number[];
  series: ChartSeries[];
  /** How a value is printed (axis, legend, summary); `digits` is given for axis ticks. */
  format: ValueFormat;
  /** The fixed range of the y axis (e.g. [0, 100] for percentages); default: 0 to the data's maximum. */
  yRange?: [number, number];
  /** Words for the window, e.g. "the last hour" (goes into the text summary). */
  windowText?: string;
  height?: number;
  testId?: string;
}

/** A colour token of the current theme (globals.css), for canvas drawing that CSS cannot reach. */
function token(name: string, fallback: string): string {
  if (typeof window === "undefined") return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#4d7c0f"];

function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/** The text summary of a chart: "CPU over the last hour: last 12%, average 8%, maximum 40%" per series. */
export function chartSummary(title: string, series: ChartSeries[], format: (v: number) => string, windowText?: string): string {
  const parts = series.map((s) => {
    const st = seriesStats(s.values);
    const name = series.length > 1 ? `${s.label}: ` : "";
    return st ? `${name}last ${format(st.last)}, average ${format(st.avg)}, maximum ${format(st.max)}` : `${name}no samples`;
  });
  return `${title}${windowText ? ` over ${windowText}` : ""}: ${parts.join("; ")}`;
}

export function TimeSeriesChart({ title, time, series, format, yRange, windowText, height = 180, testId = "chart" }: TimeSeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [width, setWidth] = useState(0);
  const [cursorIdx, setCursorIdx] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  const colored = useMemo(
    () => series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length], fill: s.fill ?? series.length === 1 })),
    [series],
  );
  const data = useMemo(() => [time, ...colored.map((s) => s.values)] as uPlot.AlignedData, [time, colored]);
  const stats = useMemo(() => colored.map((s) => seriesStats(s.values)), [colored]);
  const empty = stats.every((s) => s === null);
  // The chart is rebuilt when the series' names, colours or the range change; new values only setData.
  const shape = JSON.stringify([colored.map((s) => [s.label, s.color, s.fill, s.dashed]), yRange, height]);
  const formatRef = useRef(format);
  formatRef.current = format;

  // Follow the container's width.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.floor(el.clientWidth)));
    ro.observe(el);
    setWidth(Math.floor(el.clientWidth));
    return () => ro.disconnect();
  }, []);

  // Build (or rebuild) the chart.
  useEffect(() => {
    const el = box.current;
    if (!el || width <= 0) return;
    let cancelled = false;
    let made: uPlot | null = null;
    import("uplot")
      .then(({ default: UPlot }) => {
        if (cancelled) return;
        const fmt: ValueFormat = (v, digits) => formatRef.current(v, digits);
        const opts: uPlot.Options = {
          width,
          height,
          legend: { show: false },
          cursor: { drag: { x: false, y: false }, points: { size: 6 } },
          scales: {
            x: { time: true },
            y: yRange
              ? { range: () => [yRange[0], yRange[1]] }
              : { range: (_u, _min, max) => [0, max != null && max > 0 ? max * 1.1 : 1] },
          },
          axes: [
            { stroke: token("--text-3", "#64748b"), grid: { stroke: token("--border", "#e2e8f0"), width: 1 }, ticks: { stroke: token("--border", "#e2e8f0"), width: 1 }, font: "11px system-ui, sans-serif" },
            {
              stroke: token("--text-3", "#64748b"),
              grid: { stroke: token("--border", "#e2e8f0"), width: 1 },
              ticks: { show: false },
              font: "11px system-ui, sans-serif",
              values: (_u, splits) => axisLabels(splits, fmt),
              size: (_u, values) => {
                const longest = (values ?? []).reduce((m, v) => Math.max(m, String(v).length), 0);
                return Math.max(36, longest * 6.4 + 14);
              },
            },
          ],
          series: [
            {},
            ...colored.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 1.6,
              fill: s.fill ? alpha(s.color, 0.12) : undefined,
              dash: s.dashed ? [5, 4] : undefined,
              points: { show: false },
              value: (_u: uPlot, v: number | null) => fmt(v),
            })),
          ],
          hooks: {
            setCursor: [
              (u) => {
                const idx = u.cursor.idx;
                setCursorIdx(idx == null ? null : idx);
              },
            ],
          },
        };
        made = new UPlot(opts, data, el);
        plot.current = made;
        setLoadError(null);
      })
      .catch((err: unknown) => {
        if (!cancelled) setLoadError(err instanceof Error ? err.message : String(err));
      });
    return () => {
      cancelled = true;
      made?.destroy();
      if (plot.current === made) plot.current = null;
    };
    // `data` is applied by the next effect; the chart is rebuilt only when its shape or width changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, width > 0]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  useEffect(() => {
    if (plot.current && width > 0) plot.current.setSize({ width, height });
  }, [width, height]);

  const summary = chartSummary(title, colored, (v) => format(v), windowText);
  const at = cursorIdx != null && cursorIdx < time.length ? cursorIdx : null;
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart-title">
        <span>{title}</span>
        {at != null && <span className="chart-at muted small">{formatTime(new Date(time[at] * 1000).toISOString())}</span>}
      </figcaption>
      <div className="chart-plot" style={{ height }}>
        <div ref={box} className="chart-canvas" role="img" aria-label={summary} data-testid={`${testId}-plot`} />
        {empty && (
          <div className="chart-empty" data-testid={`${testId}-empty`}>
            No samples in this window yet
          </div>
        )}
        {loadError && <div className="chart-empty">The graph could not be drawn: {loadError}</div>}
      </div>
      <ul className="chart-legend" data-testid={`${testId}-legend`}>
        {colored.map((s, i) => {
          const st = stats[i];
          const value = at != null ? s.values[at] : null;
          return (
            <li key={s.label} data-testid={`${testId}-series`} data-label={s.label}>
              <span className={`chart-swatch${s.dashed ? " dashed" : ""}`} style={{ borderColor: s.color, background: s.dashed ? "transparent" : s.color }} aria-hidden="true" />
              <span className="chart-series-label">{s.label}</span>{" "}
              {at != null ? (
                <strong>{format(value)}</strong>
              ) : st ? (
                <span className="chart-stats">
                  last <strong data-testid={`${testId}-last`}>{format(st.last)}</strong> · avg {format(st.avg)} · max {format(st.max)}
                </span>
              ) : (
                <span className="muted">no samples</span>
              )}
            </li>
          );
        })}
      </ul>
    </figure>
  );
}
