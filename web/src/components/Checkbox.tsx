"use client";

import { ReactNode } from "react";

export interface CheckboxProps {
  /** id of the input (also its data-testid unless testId is given). */
  id: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  /** Text beside the box. */
  children: ReactNode;
  /** A line under the label. */
  hint?: ReactNode;
  disabled?: boolean;
  testId?: string;
}

/** A labelled checkbox with an optional hint line, for options in forms and dialogs. */
export function Checkbox({ id, checked, onChange, children, hint, disabled, testId }: CheckboxProps) {
  return (
    <div className="field" style={{ marginBottom: 12 }}>
      <label htmlFor={id} style={{ display: "flex", gap: 8, alignItems: "flex-start", fontWeight: 500, cursor: disabled ? "not-allowed" : "pointer" }}>
        <input
          id={id}
          type="checkbox"
          checked={checked}
          disabled={disabled}
          onChange={(e) => onChange(e.target.checked)}
          data-testid={testId ?? id}
          style={{ marginTop: 3 }}
        />
        <span>
          {children}
          {hint && <span className="hint" style={{ display: "block", fontWeight: 400 }}>{hint}</span>}
        </span>
      </label>
    </div>
  );
}
