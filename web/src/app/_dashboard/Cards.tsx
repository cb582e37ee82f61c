"use client";

import Link from "next/link";
import type { ApiError, Schema } from "@/lib/api";
import { formatAgo, formatTime } from "@/lib/format";
import { VmUsage, formatPercent, usageKey } from "@/lib/metrics";
import { ErrorBanner } from "@/components/ErrorBanner";
import { EmptyState, LoadingBlock } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { Sparkline } from "@/components/Sparkline";
import { StateBadge } from "@/components/StateBadge";
import { Task, TaskBar } from "@/components/TaskProgress";
import { vmHref } from "../vms/_components/vmUtil";
import { PercentBar } from "./Bars";

type AuditEvent = Schema<"AuditEvent">;

export const TOP_VMS = 5;

/** The VMs using the most CPU in their latest sample (VMs without a CPU figure are left out). */
export function topByCpu(vms: VmUsage[] | undefined, n = TOP_VMS): VmUsage[] {
  return (vms ?? [])
    .filter((v) => v.cpu_percent != null)
    .sort((a, b) => (b.cpu_percent ?? 0) - (a.cpu_percent ?? 0) || usageKey(a).localeCompare(usageKey(b)))
    .slice(0, n);
}

export function TopVmsCard({ vms, loading, error, onRetry }: { vms: VmUsage[] | undefined; loading: boolean; error: ApiError | null; onRetry: () => void }) {
  const top = topByCpu(vms);
  return (
    <Card title="Top VMs by CPU" extra={<Link href="/vms/?state=running" className="small">Running VMs</Link>} testId="dash-top-vms">
      <ErrorBanner error={error} title="Could not read the VMs' usage" onRetry={onRetry} testId="dash-top-vms-error" />
      {loading && !vms ? (
        <LoadingBlock />
      ) : !top.length ? (
        !error && (
          <EmptyState title="No VM has a CPU sample" testId="dash-top-vms-empty">
            Running VMs appear here once the collector has sampled them twice.
          </EmptyState>
        )
      ) : (
        <ol className="dash-list" data-testid="dash-top-vms-list">
          {top.map((v) => (
            <li key={usageKey(v)} className="dash-top-vm" data-testid="dash-top-vm" data-key={usageKey(v)}>
              <div className="dash-top-vm-name">
                <Link href={vmHref(v.node, v.name)} className="cell-main" data-testid="dash-top-vm-link">
                  {v.name}
                </Link>
                <div className="cell-sub">{v.node}</div>
              </div>
              <Sparkline values={v.cpu_recent} max={100} label={`CPU of ${v.name}`} format={(x) => formatPercent(x)} width={80} height={24} testId="dash-top-vm-spark" />
              <div className="dash-top-vm-bar">
                <PercentBar label="CPU" pct={v.cpu_percent} testId="dash-top-vm-cpu" />
              </div>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}

const DAY_MS = 86_400_000;

/** Failed tasks that ended in the last 24 hours, newest first. */
export function recentFailures(tasks: Task[] | undefined, now = Date.now()): Task[] {
  return (tasks ?? []).filter((t) => t.state === "failed" && now - new Date(t.finished_at ?? t.created_at).getTime() < DAY_MS);
}

function taskTarget(t: Task): string {
  const r = t.resource;
  if (!r) return "";
  return [r.node, r.pool, r.name].filter(Boolean).join("/");
}

export function TasksCard({ tasks, loading, error, onRetry }: { tasks: Task[] | undefined; loading: boolean; error: ApiError | null; onRetry: () => void }) {
  const active = (tasks ?? []).filter((t) => t.state === "running" || t.state === "pending");
  const failed = recentFailures(tasks);
  return (
    <Card title="Tasks" extra={<Link href="/tasks/" className="small">All tasks</Link>} testId="dash-tasks">
      <ErrorBanner error={error} title="Could not list the tasks" onRetry={onRetry} testId="dash-tasks-error" />
      {loading && !tasks ? (
        <LoadingBlock />
      ) : (
        <>
          <h3 className="dash-subtitle">
            Running <span className="count-pill" data-testid="dash-tasks-running-count">{active.length}</span>
          </h3>
          {active.length ? (
            <ul className="dash-list" data-testid="dash-tasks-running">
              {active.slice(0, 5).map((t) => (
                <li key={t.id} data-testid="dash-task" data-task-id={t.id}>
                  <div className="small">
                    <span className="mono">{t.kind}</span> <span className="muted">{taskTarget(t)}</span>
                  </div>
                  <TaskBar task={t} testId="dash-task-progress" />
                </li>
              ))}
            </ul>
          ) : (
            <div className="muted small" data-testid="dash-tasks-running-none">Nothing running.</div>
          )}
          <h3 className="dash-subtitle">
            Failed in the last 24 h <span className={`count-pill${failed.length ? " danger" : ""}`} data-testid="dash-tasks-failed-count">{failed.length}</span>
          </h3>
          {failed.length ? (
            <ul className="dash-list" data-testid="dash-tasks-failed">
              {failed.slice(0, 5).map((t) => (
                <li key={t.id} data-testid="dash-failed-task" data-task-id={t.id}>
                  <div className="split small" style={{ justifyContent: "space-between", flexWrap: "wrap" }}>
                    <span>
                      <span className="mono">{t.kind}</span> <span className="muted">{taskTarget(t)}</span>
                    </span>
                    <span className="muted" title={formatTime(t.finished_at ?? t.created_at)}>{formatAgo(t.finished_at ?? t.created_at)}</span>
                  </div>
                  {t.error && (
                    <div className="cell-error" data-testid="dash-failed-task-error">
                      {t.error.code}: {t.error.message}
                    </div>
                  )}
                </li>
              ))}
              {failed.length > 5 && (
                <li className="small">
                  <Link href="/tasks/?state=failed">{failed.length - 5} more</Link>
                </li>
              )}
            </ul>
          ) : (
            <div className="muted small" data-testid="dash-tasks-failed-none">No failures.</div>
          )}
        </>
      )}
    </Card>
  );
}

function targetText(t: AuditEvent["target"]): string {
  if (!t) return "";
  const { kind, ...rest } = t as Record<string, unknown>;
  const parts = Object.values(rest).map(String);
  return `${kind ? `${String(kind)} ` : ""}${parts.join("/")}`;
}

export function EventsCard({ admin, events, loading, error, onRetry }: {
  admin: boolean;
  events: AuditEvent[] | undefined;
  loading: boolean;
  error: ApiError | null;
  onRetry: () => void;
}) {
  return (
    <Card title="Recent events" extra={admin ? <Link href="/audit/" className="small">Audit log</Link> : undefined} testId="dash-events">
      {!admin ? (
        <div className="muted small" data-testid="dash-events-admin-only">The audit log is shown to admins only.</div>
      ) : (
        <>
          <ErrorBanner error={error} title="Could not read the audit log" onRetry={onRetry} testId="dash-events-error" />
          {loading && !events ? (
            <LoadingBlock />
          ) : !events?.length ? (
            !error && <EmptyState title="Nothing recorded yet" testId="dash-events-empty" />
          ) : (
            <ul className="dash-list dash-events" data-testid="dash-events-list">
              {events.map((e) => (
                <li key={e.request_id + e.time} data-testid="dash-event" data-action={e.action}>
                  <span className="dash-event-time muted small" title={formatTime(e.time)}>
                    {formatAgo(e.time)}
                  </span>
                  <span className="dash-event-what">
                    <span className="mono" data-testid="dash-event-action">{e.action}</span>{" "}
                    <span className="muted" data-testid="dash-event-target">{targetText(e.target)}</span>
                    {e.token_name && <span className="muted small"> by {e.token_name}</span>}
                  </span>
                  <StateBadge state={e.outcome} tone={e.outcome === "ok" ? "success" : "danger"} testId="dash-event-outcome" />
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Card>
  );
}
