"use client";

import { WINDOWS, WindowId } from "@/lib/metrics";

/** The time window of a page's graphs: 1 h, 1 d, 7 d, 30 d (buttons with aria-pressed). */
export function WindowPicker({ value, onChange, testId = "window" }: { value: WindowId; onChange: (id: WindowId) => void; testId?: string }) {
  return (
    <div className="segmented" role="group" aria-label="Time window" data-testid={testId}>
      {WINDOWS.map((w) => (
        <button
          key={w.id}
          type="button"
          className={`segmented-item${w.id === value ? " active" : ""}`}
          aria-pressed={w.id === value}
          title={`Show ${w.title}`}
          onClick={() => onChange(w.id)}
          data-testid={`${testId}-${w.id}`}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
}
