export interface ProgressBarProps {
  /** 0-100; null/undefined draws an indeterminate (moving) bar. */
  value?: number | null;
  label?: string;
  /** Tone of the fill: default blue, "ok" green (done), "crit" red (failed). */
  tone?: "default" | "ok" | "crit";
  testId?: string;
}

/** Progress of a task: determinate with a percentage, or indeterminate when progress is unknown. */
export function ProgressBar({ value, label, tone = "default", testId = "progress" }: ProgressBarProps) {
  const known = typeof value === "number" && !Number.isNaN(value);
  const v = known ? Math.max(0, Math.min(100, value)) : null;
  return (
    <div data-testid={testId} data-progress={v ?? "indeterminate"}>
      {(label || known) && (
        <div className="capacity-head">
          <span>{label}</span>
          <span>{known ? `${Math.round(v!)}%` : ""}</span>
        </div>
      )}
      <div
        className={`bar${known ? "" : " bar-indeterminate"}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={v ?? undefined}
        aria-label={label ?? "progress"}
      >
        <div className={`bar-fill ${tone === "default" ? "" : tone}`} style={known ? { width: `${v}%` } : undefined} />
      </div>
    </div>
  );
}
