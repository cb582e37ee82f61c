"use client";

import { ReactNode } from "react";
import { WizardForm } from "../wizardModel";

export interface StepProps {
  form: WizardForm;
  set: (patch: Partial<WizardForm>) => void;
  /** The message to show under a field: the wizard's own check, or the server's. */
  err: (path: string) => string | undefined;
  templatesSupported: boolean;
}

let nextId = 1;
export const newId = () => nextId++;

export function Radio({ name, value, checked, onChange, children, testId }: {
  name: string;
  value: string;
  checked: boolean;
  onChange: (v: string) => void;
  children: ReactNode;
  testId: string;
}) {
  return (
    <label
      className="card"
      style={{ display: "flex", gap: 10, padding: "12px 14px", cursor: "pointer", borderColor: checked ? "var(--primary)" : undefined, flex: "1 1 200px" }}
    >
      <input type="radio" name={name} value={value} checked={checked} onChange={() => onChange(value)} data-testid={testId} style={{ marginTop: 3 }} />
      <span>{children}</span>
    </label>
  );
}
