import { formatBytes, percent } from "@/lib/format";

export interface CapacityBarProps {
  used: number | null | undefined;
  total: number | null | undefined;
  /** Text before the figures, e.g. "Memory". */
  label?: string;
  /** How to print used/total (default: bytes, binary units). */
  format?: (n: number | null | undefined) => string;
  /** Percentages from which the bar turns amber / red (default 75 / 90). */
  warnAt?: number;
  critAt?: number;
  testId?: string;
  /** Why the figures cannot be trusted (e.g. libvirt reported them wrapped): the bar then says "unknown",
   * with the reason as its tooltip, instead of printing them. */
  unknown?: string | null;
}

/** used / total with a percentage and a bar; "—" and an empty bar when a figure is missing. */
export function CapacityBar({ used, total, label, format = formatBytes, warnAt = 75, critAt = 90, testId = "capacity", unknown }: CapacityBarProps) {
  if (unknown) {
    return (
      <div data-testid={testId} title={unknown}>
        <div className="capacity-head">
          <span>
            {label && <>{label}: </>}
            <strong data-testid={`${testId}-used`}>unknown</strong>
          </span>
          <span data-testid={`${testId}-percent`}>—</span>
        </div>
        {/* no meter role: a meter needs a value, and "unknown" is said in the text above */}
        <div className="bar" aria-hidden="true">
          <div className="bar-fill" style={{ width: "0%" }} />
        </div>
      </div>
    );
  }
  const pct = percent(used, total);
  const tone = pct === null ? "" : pct >= critAt ? "crit" : pct >= warnAt ? "warn" : "";
  return (
    <div data-testid={testId}>
      <div className="capacity-head">
        <span>
          {label && <>{label}: </>}
          <strong data-testid={`${testId}-used`}>{format(used)}</strong> of <span data-testid={`${testId}-total`}>{format(total)}</span>
        </span>
        <span data-testid={`${testId}-percent`}>{pct === null ? "—" : `${pct.toFixed(pct < 10 ? 1 : 0)}%`}</span>
      </div>
      {/* a meter needs a value: with no percentage (no total) the bar is decoration and the text says "—" */}
      <div className="bar" {...(pct === null ? { "aria-hidden": true } : { role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": label ?? "usage" })}>
        <div className={`bar-fill ${tone}`} style={{ width: `${pct ?? 0}%` }} />
      </div>
    </div>
  );
}
