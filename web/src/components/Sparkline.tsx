// A tiny line of recent values (inline SVG: a list row gets 30 points, a canvas chart per row would be
// waste). Gaps (null) break the line. role="img" with an aria-label that says the figures in words.

import { isMissing } from "@/lib/format";

export interface SparklineProps {
  values: (number | null | undefined)[];
  /** The value at the top of the box (default: the largest value, at least 1). */
  max?: number;
  /** What the values are, for the aria-label, e.g. "CPU". */
  label: string;
  format: (v: number) => string;
  width?: number;
  height?: number;
  testId?: string;
}

export function sparklineSummary(label: string, values: (number | null | undefined)[], format: (v: number) => string): string {
  const present = values.filter((v): v is number => !isMissing(v));
  if (!present.length) return `${label}: no recent samples`;
  const max = Math.max(...present);
  const min = Math.min(...present);
  return `${label}, last ${present.length} samples: now ${format(present[present.length - 1])}, minimum ${format(min)}, maximum ${format(max)}`;
}

export function Sparkline({ values, max, label, format, width = 96, height = 24, testId = "sparkline" }: SparklineProps) {
  const present = values.filter((v): v is number => !isMissing(v));
  const top = max ?? Math.max(1, ...present);
  const n = values.length;
  const step = n > 1 ? width / (n - 1) : width;
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (isMissing(v)) {
      pen = false;
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (height - 1 - (Math.min(v, top) / top) * (height - 2)).toFixed(1);
    d += `${pen ? "L" : "M"}${x} ${y}`;
    pen = true;
  });
  // A lone sample between gaps is a dot, not an invisible zero-length line.
  const dots = values
    .map((v, i) => ({ v, i }))
    .filter(({ v, i }) => !isMissing(v) && isMissing(values[i - 1]) && isMissing(values[i + 1]));
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={sparklineSummary(label, values, format)}
      data-testid={testId}
      data-points={present.length}
    >
      <line x1={0} x2={width} y1={height - 0.5} y2={height - 0.5} className="sparkline-base" />
      {d && <path d={d} className="sparkline-line" />}
      {dots.map(({ v, i }) => (
        <circle key={i} cx={i * step} cy={height - 1 - (Math.min(v as number, top) / top) * (height - 2)} r={1.5} className="sparkline-dot" />
      ))}
    </svg>
  );
}
