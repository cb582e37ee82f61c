"use client";

import { ReactNode } from "react";
import { Icon } from "@/components/Icon";
import styles from "./Stepper.module.css";

export interface StepDef {
  id: string;
  label: ReactNode;
  /** A short line under the label (e.g. what was chosen). */
  sub?: ReactNode;
  /** The step holds a field the server complained about. */
  error?: boolean;
  /** Not reachable yet (e.g. an earlier step is incomplete). */
  disabled?: boolean;
}

/** The step headers of a wizard: numbered, the active one highlighted, finished ones ticked, steps with
 * errors in red. Clicking a header calls onSelect (omit it for a strictly linear wizard). The page renders
 * the active step's content itself (and a <StepperFooter/> with back/next). */
export function Stepper({ steps, active, onSelect, testId = "stepper" }: {
  steps: StepDef[];
  active: string;
  onSelect?: (id: string) => void;
  testId?: string;
}) {
  const activeIndex = steps.findIndex((s) => s.id === active);
  return (
    <ol className={styles.stepper} data-testid={testId} aria-label="Steps">
      {steps.map((s, i) => {
        const state = s.id === active ? "active" : s.error ? "error" : i < activeIndex ? "done" : "todo";
        return (
          <li key={s.id} className={`${styles.step} ${styles[state] ?? ""}`} data-testid={`${testId}-${s.id}`} data-state={state}>
            <button
              type="button"
              className={styles.button}
              onClick={() => onSelect?.(s.id)}
              disabled={!onSelect || s.disabled}
              aria-current={s.id === active ? "step" : undefined}
            >
              <span className={styles.num}>{state === "done" ? <Icon name="check" size={12} /> : state === "error" ? "!" : i + 1}</span>
              <span className={styles.label}>
                {s.label}
                {s.sub && <span className={styles.sub}>{s.sub}</span>}
              </span>
            </button>
          </li>
        );
      })}
    </ol>
  );
}

/** Back / next buttons under a wizard step (`extra` goes in the middle). */
export function StepperFooter({ onBack, onNext, nextLabel = "Next", backLabel = "Back", nextDisabled, busy, extra, testId = "stepper" }: {
  onBack?: () => void;
  onNext?: () => void;
  nextLabel?: ReactNode;
  backLabel?: ReactNode;
  nextDisabled?: boolean;
  busy?: boolean;
  extra?: ReactNode;
  testId?: string;
}) {
  return (
    <div className={styles.footer}>
      <div>
        {onBack && (
          <button type="button" className="btn" onClick={onBack} disabled={busy} data-testid={`${testId}-back`}>
            {backLabel}
          </button>
        )}
      </div>
      {extra}
      <div>
        {onNext && (
          <button type="button" className="btn btn-primary" onClick={onNext} disabled={nextDisabled || busy} data-testid={`${testId}-next`}>
            {busy && <span className="spinner" role="status" aria-label="Working" />}
            {nextLabel}
          </button>
        )}
      </div>
    </div>
  );
}
