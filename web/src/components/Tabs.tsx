"use client";

import { ReactNode } from "react";

export interface TabDef {
  id: string;
  label: ReactNode;
  /** A count shown next to the label (omit when unknown). */
  count?: number | null;
}

/** Tab headers; the page renders the active tab's content itself. */
export function Tabs({ tabs, active, onChange, testId = "tabs" }: {
  tabs: TabDef[];
  active: string;
  onChange: (id: string) => void;
  testId?: string;
}) {
  return (
    <div className="tabs" role="tablist" data-testid={testId}>
      {tabs.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          aria-selected={t.id === active}
          className={`tab${t.id === active ? " active" : ""}`}
          onClick={() => onChange(t.id)}
          data-testid={`tab-${t.id}`}
        >
          {t.label}
          {typeof t.count === "number" && <span className="count">{t.count}</span>}
        </button>
      ))}
    </div>
  );
}
