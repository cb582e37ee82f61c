export type Tone = "success" | "danger" | "warning" | "info" | "neutral";

// One place that maps every state word of the API to a colour. Later modules add their states here.
const TONES: Record<string, Tone> = {
  online: "success",
  running: "success",
  active: "success",
  succeeded: "success",
  ok: "success",
  available: "success",
  offline: "danger",
  failed: "danger",
  error: "danger",
  crashed: "danger",
  maintenance: "warning",
  paused: "warning",
  suspended: "warning",
  degraded: "warning",
  inaccessible: "danger",
  pmsuspended: "warning",
  pending: "info",
  running_task: "info",
  building: "info",
  migrating: "info",
  stopped: "neutral",
  shutoff: "neutral",
  inactive: "neutral",
  cancelled: "neutral",
  blocked: "neutral",
  nostate: "neutral",
  unknown: "neutral",
};

export function toneOf(state: string | null | undefined): Tone {
  return (state && TONES[state.toLowerCase()]) || "neutral";
}

/** A coloured pill for a state word (online/offline/maintenance/running/stopped/...). */
export function StateBadge({ state, tone, testId = "state-badge" }: { state: string | null | undefined; tone?: Tone; testId?: string }) {
  const label = state || "unknown";
  return (
    <span className={`badge badge-${tone ?? toneOf(state)}`} data-testid={testId} data-state={label}>
      {label}
    </span>
  );
}
