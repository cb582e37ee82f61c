import type { Problem } from "./storageUtil";

/** A warning badge on a row JVP listed with something wrong (its problems as the tooltip and the text). */
export function ProblemsBadge({ problems, testId = "problems" }: { problems?: Problem[] | null; testId?: string }) {
  if (!problems?.length) return null;
  const text = problems.map((p) => `${p.code}: ${p.message}`).join("\n");
  return (
    <span className="badge badge-warning" style={{ marginLeft: 6 }} title={text} data-testid={testId}>
      {problems.length === 1 ? problems[0].code : `${problems.length} problems`}
    </span>
  );
}
