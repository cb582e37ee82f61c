"use client";

import { InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from "react";
import { ApiError } from "@/lib/api";

/** The server's messages for one field, from `details.field_errors` (nested keys with dots: "source.url"). */
export function fieldError(error: ApiError | Error | null | undefined, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  let v: unknown = error.fieldErrors;
  for (const part of field.split(".")) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String).join(" ");
  if (typeof v === "object") return Object.entries(v as Record<string, unknown>).map(([k, m]) => `${k}: ${Array.isArray(m) ? m.join(" ") : String(m)}`).join("; ");
  return String(v);
}

export interface FieldProps {
  label: ReactNode;
  /** id of the control inside (for the label) and the base of the data-testids. */
  name: string;
  /** Message under the control; use fieldError(apiError, "name") for the server's. */
  error?: string | null;
  hint?: ReactNode;
  required?: boolean;
  children: ReactNode;
}

/** Label + control + hint + per-field error. */
export function Field({ label, name, error, hint, required, children }: FieldProps) {
  return (
    <div className={`field${error ? " has-error" : ""}`} data-testid={`field-${name}`}>
      <label htmlFor={name}>
        {label}
        {required && <span className="req">*</span>}
      </label>
      {children}
      {error ? (
        <div className="field-error" data-testid={`field-${name}-error`} role="alert">
          {error}
        </div>
      ) : hint ? (
        <div className="hint">{hint}</div>
      ) : null}
    </div>
  );
}

export function TextInput(props: InputHTMLAttributes<HTMLInputElement>) {
  return <input className="input" autoComplete="off" spellCheck={false} {...props} />;
}

export function TextArea(props: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <textarea className="textarea" spellCheck={false} {...props} />;
}

export function Select(props: SelectHTMLAttributes<HTMLSelectElement>) {
  return <select className="select" {...props} />;
}

/** One <option> per value, the value as its text. */
export function Options({ values }: { values: readonly string[] }) {
  return (
    <>
      {values.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </>
  );
}
