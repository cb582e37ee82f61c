"use client";

// Tab headers on Radix's Tabs (role=tablist/tab, arrow keys move between tabs, Home/End). The page renders
// the active tab's content itself, so no tab points at a panel (aria-controls is left out).

import * as RadixTabs from "@radix-ui/react-tabs";
import { ReactNode } from "react";

export interface TabDef {
  id: string;
  label: ReactNode;
  /** A count shown next to the label (omit when unknown). */
  count?: number | null;
}

export function Tabs({ tabs, active, onChange, testId = "tabs" }: {
  tabs: TabDef[];
  active: string;
  onChange: (id: string) => void;
  testId?: string;
}) {
  return (
    <RadixTabs.Root value={active} onValueChange={onChange} activationMode="manual">
      <RadixTabs.List className="tabs" data-testid={testId} loop>
        {tabs.map((t) => (
          <RadixTabs.Trigger
            key={t.id}
            value={t.id}
            className={`tab${t.id === active ? " active" : ""}`}
            data-testid={`tab-${t.id}`}
            aria-controls={undefined}
          >
            {t.label}
            {typeof t.count === "number" && <span className="count">{t.count}</span>}
          </RadixTabs.Trigger>
        ))}
      </RadixTabs.List>
    </RadixTabs.Root>
  );
}
