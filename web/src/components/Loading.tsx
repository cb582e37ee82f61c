import { ReactNode } from "react";

export function Spinner({ label }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label ?? "Loading"} />;
}

/** A centred spinner with a line of text, for a section whose data has not arrived yet. */
export function LoadingBlock({ children = "Loading…", testId = "loading" }: { children?: ReactNode; testId?: string }) {
  return (
    <div className="loading-block" data-testid={testId}>
      <Spinner />
      <span>{children}</span>
    </div>
  );
}

/** "Nothing here" with an optional hint and action. */
export function EmptyState({ title, children, action, testId = "empty-state" }: {
  title: ReactNode;
  children?: ReactNode;
  action?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="table-empty" data-testid={testId}>
      <div className="empty-title">{title}</div>
      {children && <div>{children}</div>}
      {action && <div style={{ marginTop: 12 }}>{action}</div>}
    </div>
  );
}
