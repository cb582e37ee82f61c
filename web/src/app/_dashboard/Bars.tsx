import { isMissing } from "@/lib/format";
import { formatPercent } from "@/lib/metrics";

/** A labelled usage bar from a percentage: "CPU  12%" over the bar, "—" and an empty bar when unknown.
 * The bar is a role="meter" with the label and the figures as its accessible name and value text. */
export function PercentBar({ label, pct, detail, warnAt = 75, critAt = 90, testId }: {
  label: string;
  pct: number | null | undefined;
  /** Figures after the percentage, e.g. "3.1 GiB of 16 GiB". */
  detail?: string;
  warnAt?: number;
  critAt?: number;
  testId: string;
}) {
  const known = !isMissing(pct);
  const v = known ? Math.max(0, Math.min(100, pct)) : 0;
  const tone = !known ? "" : v >= critAt ? "crit" : v >= warnAt ? "warn" : "";
  const text = known ? `${formatPercent(v)}${detail ? ` (${detail})` : ""}` : "unknown";
  return (
    <div className="pbar" data-testid={testId} data-percent={known ? v.toFixed(1) : ""}>
      <div className="capacity-head">
        <span>{label}</span>
        <strong data-testid={`${testId}-percent`}>{known ? formatPercent(v) : "—"}</strong>
      </div>
      <div
        className="bar"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        // a meter needs a value (axe aria-required-attr): 0 when unknown, and the value text says "unknown"
        aria-valuenow={known ? Math.round(v) : 0}
        aria-valuetext={text}
      >
        <div className={`bar-fill ${tone}`} style={{ width: `${v}%` }} />
      </div>
      {detail && known && (
        <div className="pbar-detail" data-testid={`${testId}-detail`}>
          {detail}
        </div>
      )}
    </div>
  );
}
