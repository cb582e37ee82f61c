"use client";

import Link from "next/link";
import { FormEvent, useState } from "react";
import type { RequestOf, Schema } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatDurationMs, formatTime } from "@/lib/format";
import { Column } from "@/components/DataTable";
import { Field, Select, TextInput } from "@/components/Field";
import { ListPage } from "@/components/ListPage";
import { Modal } from "@/components/Modal";
import { StateBadge } from "@/components/StateBadge";

type AuditEvent = Schema<"AuditEvent">;
type Filters = RequestOf<"list-audit-events">;

/** What the row's outcome is: a request that started a task shows the task's final state (while it runs:
 * "running"), with its error code; any other request shows its own outcome (and HTTP status beside it). */
function outcomeOf(e: AuditEvent): { label: string; tone: "success" | "danger" | "warning" | "info"; code: string | null } {
  if (e.task_id && e.outcome === "ok") {
    if (!e.task_state) return { label: "running", tone: "info", code: null };
    const tone = e.task_state === "succeeded" ? "success" : e.task_state === "cancelled" ? "warning" : "danger";
    return { label: e.task_state, tone, code: e.task_error_code ?? null };
  }
  return { label: e.outcome, tone: e.outcome === "ok" ? "success" : "danger", code: e.error_code ?? null };
}

function TaskLink({ id }: { id: string }) {
  return (
    <Link href={`/tasks/?id=${encodeURIComponent(id)}`} className="small" data-testid="audit-task-link" aria-label={`Task ${id}`}>
      task {id.slice(0, 8)}
    </Link>
  );
}

function targetText(t: AuditEvent["target"]): string {
  if (!t) return "—";
  const { kind, ...rest } = t as Record<string, unknown>;
  const parts = Object.entries(rest).map(([k, v]) => (k === "name" ? String(v) : `${k}=${String(v)}`));
  return `${kind ? `${String(kind)}: ` : ""}${parts.join(" ")}`;
}

export default function AuditPage() {
  const [filters, setFilters] = useState<Filters>({ limit: 200 });
  const [targetInput, setTargetInput] = useState("");
  const [shown, setShown] = useState<AuditEvent | null>(null);
  const q = useQuery("list-audit-events", filters, { refreshMs: 30_000, live: (ev) => ev.type === "audit" });
  const events = q.data?.events;
  const knownActions = q.data?.actions ?? [];

  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    setFilters((f) => {
      const next: Filters = { limit: f.limit, outcome: f.outcome, action: f.action };
      if (!next.action) delete next.action;
      if (targetInput.trim()) next.target = targetInput.trim();
      if (!next.outcome) delete next.outcome;
      return next;
    });
  };

  const columns: Column<AuditEvent>[] = [
    {
      key: "time",
      header: "Time",
      render: (e) => {
        const o = outcomeOf(e);
        return (
          <div>
            <span title={e.time} style={{ whiteSpace: "nowrap" }}>{formatTime(e.time)}</span>
            {/* on a phone the Action, Target and Outcome columns are off to the side: what happened, here */}
            <div className="phone-only" data-testid="audit-summary">
              <span className="mono">{e.action}</span> <span className="cell-sub">{targetText(e.target)}</span>{" "}
              <StateBadge state={o.label} tone={o.tone} testId="audit-outcome-inline" />
            </div>
          </div>
        );
      },
    },
    {
      key: "token_name",
      header: "Token",
      render: (e) => (
        <div>
          <div>{e.token_name ?? "—"}</div>
          {e.role && <div className="cell-sub">{e.role}</div>}
        </div>
      ),
    },
    { key: "action", header: "Action", render: (e) => <span className="mono" data-testid="audit-action">{e.action}</span> },
    { key: "target", header: "Target", render: (e) => <span data-testid="audit-target">{targetText(e.target)}</span>, sortValue: (e) => targetText(e.target) },
    {
      key: "outcome",
      header: "Outcome",
      sortValue: (e) => outcomeOf(e).label,
      render: (e) => {
        const o = outcomeOf(e);
        return (
          <div>
            <StateBadge state={o.label} tone={o.tone} testId="audit-outcome" />
            {o.code && <div className="cell-sub mono" data-testid="audit-error-code">{o.code}</div>}
            {!e.task_id && e.status != null && <div className="cell-sub" data-testid="audit-status">HTTP {e.status}</div>}
            {e.task_id && <div className="cell-sub"><TaskLink id={e.task_id} /></div>}
          </div>
        );
      },
    },
    { key: "duration_ms", header: "Duration", align: "num", render: (e) => formatDurationMs(e.duration_ms) },
    {
      key: "details",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (e) => (
        <button type="button" className="btn btn-sm btn-ghost" onClick={() => setShown(e)} data-testid="audit-details">
          Details
        </button>
      ),
    },
  ];

  return (
    <ListPage
      title="Audit log"
      subtitle="Every mutating action, newest first; secrets in requests are redacted by the server."
      query={q}
      testId="audit"
      errorTitle="Could not read the audit log"
      refresh="header"
      toolbar={
          <form className="table-toolbar" onSubmit={apply} data-testid="audit-filters">
            <div className="filters">
              <Field label="Action" name="audit-action-filter">
                <Select
                  id="audit-action-filter"
                  className="select select-sm"
                  value={filters.action ?? ""}
                  onChange={(e) => {
                    const v = e.target.value;
                    setFilters((f) => {
                      const next = { ...f };
                      if (v) next.action = v;
                      else delete next.action;
                      return next;
                    });
                  }}
                  data-testid="audit-filter-action"
                >
                  <option value="">All actions</option>
                  {filters.action && !knownActions.includes(filters.action) && <option value={filters.action}>{filters.action}</option>}
                  {knownActions.map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </Select>
              </Field>
              <Field label="Target" name="audit-target-filter">
                <TextInput
                  id="audit-target-filter"
                  className="input input-sm"
                  placeholder="resource name"
                  value={targetInput}
                  onChange={(e) => setTargetInput(e.target.value)}
                  data-testid="audit-filter-target"
                />
              </Field>
              <Field label="Outcome" name="audit-outcome-filter">
                <Select
                  id="audit-outcome-filter"
                  className="select select-sm"
                  value={filters.outcome ?? ""}
                  onChange={(e) => {
                    const v = e.target.value as "" | "ok" | "error";
                    setFilters((f) => {
                      const next = { ...f };
                      if (v) next.outcome = v;
                      else delete next.outcome;
                      return next;
                    });
                  }}
                  data-testid="audit-filter-outcome"
                >
                  <option value="">All</option>
                  <option value="ok">ok</option>
                  <option value="error">error</option>
                </Select>
              </Field>
              <Field label="Show" name="audit-limit">
                <Select
                  id="audit-limit"
                  className="select select-sm"
                  value={String(filters.limit ?? 100)}
                  onChange={(e) => setFilters((f) => ({ ...f, limit: Number(e.target.value) }))}
                  data-testid="audit-filter-limit"
                >
                  {[50, 200, 1000, 5000].map((n) => (
                    <option key={n} value={n}>
                      last {n}
                    </option>
                  ))}
                </Select>
              </Field>
              <button type="submit" className="btn btn-sm" data-testid="audit-apply">
                Apply
              </button>
              {(filters.action || filters.target || filters.outcome) && (
                <button
                  type="button"
                  className="btn btn-sm btn-ghost"
                  onClick={() => {
                    setTargetInput("");
                    setFilters((f) => ({ limit: f.limit }));
                  }}
                  data-testid="audit-clear"
                >
                  Clear filters
                </button>
              )}
            </div>
            <span className="muted small">{events ? `${events.length} event${events.length === 1 ? "" : "s"}` : ""}</span>
          </form>
      }
      table={{ columns, rows: events, rowKey: (e) => `${e.time}-${e.request_id}`, rowTestId: "audit-row", initialSort: { key: "time", dir: "desc" } }}
      empty={{
        title: "No audit events",
        hint: filters.action || filters.target || filters.outcome ? "Nothing matches these filters." : "Mutating actions will appear here.",
      }}
    >
      <Modal open={!!shown} title={shown ? `${shown.action} · ${formatTime(shown.time)}` : ""} onClose={() => setShown(null)} wide testId="audit-event-dialog">
        {shown && (
          <>
            <dl className="kv" style={{ marginBottom: 14 }}>
              <dt>Request id</dt>
              <dd className="mono">{shown.request_id}</dd>
              <dt>Token</dt>
              <dd>
                {shown.token_name ?? "—"} {shown.role && <span className="muted">({shown.role})</span>}
              </dd>
              <dt>Remote address</dt>
              <dd className="mono">{shown.remote_addr ?? "—"}</dd>
              <dt>Request</dt>
              <dd>
                {shown.outcome} · HTTP {shown.status ?? "—"} {shown.error_code && <code>{shown.error_code}</code>}
              </dd>
              {shown.task_id && (
                <>
                  <dt>Task</dt>
                  <dd data-testid="audit-dialog-task">
                    {shown.task_state ?? "running"} {shown.task_error_code && <code>{shown.task_error_code}</code>}{" "}
                    {shown.task_finished_at && <span className="muted">at {formatTime(shown.task_finished_at)}</span>} · <TaskLink id={shown.task_id} />
                  </dd>
                </>
              )}
              <dt>Duration</dt>
              <dd>{formatDurationMs(shown.duration_ms)}</dd>
            </dl>
            <div className="section-title">Request (secrets redacted)</div>
            <pre className="mono" style={{ background: "var(--surface-2)", border: "1px solid var(--border)", borderRadius: 6, padding: 12, overflowX: "auto", margin: 0 }}>
              {JSON.stringify(shown.params ?? {}, null, 2)}
            </pre>
          </>
        )}
      </Modal>
    </ListPage>
  );
}
