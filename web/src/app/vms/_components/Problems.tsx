"use client";

import { Alert } from "@/components/ErrorBanner";
import { VmProblem } from "./vmUtil";

/** A warning pill on a VM row that has problems (issue 13): the row is still there and can be acted on; the
 * title lists what is wrong. */
export function ProblemsBadge({ problems }: { problems: VmProblem[] | null | undefined }) {
  if (!problems?.length) return null;
  const text = problems.map((p) => `${p.code}: ${p.message}`).join("\n");
  return (
    <span className="badge badge-warning" title={text} data-testid="vm-problems" data-count={problems.length} style={{ marginLeft: 6 }}>
      {problems.length === 1 ? "1 problem" : `${problems.length} problems`}
    </span>
  );
}

/** The problems of one VM, each on its own line (the detail page). */
export function ProblemsAlert({ problems }: { problems: VmProblem[] | null | undefined }) {
  if (!problems?.length) return null;
  return (
    <Alert tone="warning" title={problems.length === 1 ? "Something is wrong with this VM" : `${problems.length} things are wrong with this VM`} testId="vm-problems-alert">
      <ul style={{ margin: 0, paddingLeft: 18 }}>
        {problems.map((p, i) => (
          <li key={i} data-testid="vm-problem" data-code={p.code}>
            <span className="mono small">{p.code}</span> {p.message}
          </li>
        ))}
      </ul>
    </Alert>
  );
}
