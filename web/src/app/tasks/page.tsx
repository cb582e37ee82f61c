"use client";

import { Suspense, useEffect, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { ApiError, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatTime } from "@/lib/format";
import { Column, DataTable } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { Task, TaskBar, isActive } from "@/components/TaskProgress";
import { useToast } from "@/components/Toast";

const STATES = ["pending", "running", "succeeded", "failed", "cancelled"] as const;

function resourceText(t: Task): string {
  const r = t.resource;
  if (!r) return "—";
  const where = [r.node, r.pool].filter(Boolean).join("/");
  return `${r.kind} ${where ? `${where}/` : ""}${r.name ?? ""}`;
}

function TasksPage() {
  const params = useSearchParams();
  const router = useRouter();
  const state = params.get("state") ?? "";
  const kind = params.get("kind") ?? "";
  const body = { ...(state ? { state: state as (typeof STATES)[number] } : {}), ...(kind ? { kind } : {}) };
  // Active tasks move: poll fast while any is running, slowly otherwise.
  const [fast, setFast] = useState(true);
  const q = useQuery("list-tasks", body, { refreshMs: fast ? 1000 : 5000 });
  const tasks = q.data?.tasks;
  const anyActive = !!tasks?.some(isActive);
  useEffect(() => {
    if (tasks) setFast(anyActive);
  }, [tasks, anyActive]);
  const toast = useToast();
  const [cancelError, setCancelError] = useState<ApiError | null>(null);
  const [cancelling, setCancelling] = useState<string | null>(null);
  const go = (next: { state?: string; kind?: string }) => {
    const p = new URLSearchParams();
    const s = next.state ?? state;
    const k = next.kind ?? kind;
    if (s) p.set("state", s);
    if (k) p.set("kind", k);
    router.replace(`/tasks/${p.toString() ? `?${p.toString()}` : ""}`);
  };
  const cancel = async (t: Task) => {
    setCancelling(t.id);
    setCancelError(null);
    try {
      await call("cancel-task", { id: t.id });
      toast.info(`Cancelling ${t.kind} ${t.resource?.name ?? ""}`);
      void q.refresh();
    } catch (err) {
      setCancelError(asApiError(err, "cancel-task"));
    } finally {
      setCancelling(null);
    }
  };

  const columns: Column<Task>[] = [
    {
      key: "kind",
      header: "Task",
      render: (t) => (
        <div>
          <span className="cell-main" data-testid="task-kind">{t.kind}</span>
          <div className="cell-sub mono" data-testid="task-resource">{resourceText(t)}</div>
        </div>
      ),
    },
    { key: "progress", header: "Progress", sortValue: (t) => t.progress, render: (t) => <div style={{ minWidth: 280 }}><TaskBar task={t} testId="task-bar" /></div> },
    { key: "created_at", header: "Started", render: (t) => <span title={t.created_by ?? ""}>{formatTime(t.started_at ?? t.created_at)}</span> },
    { key: "finished_at", header: "Finished", render: (t) => formatTime(t.finished_at) },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (t) =>
        isActive(t) ? (
          <button type="button" className="btn btn-sm" onClick={() => void cancel(t)} disabled={cancelling === t.id || !!t.cancel_requested} data-testid="task-cancel">
            {t.cancel_requested ? "Cancelling…" : "Cancel"}
          </button>
        ) : null,
    },
  ];

  return (
    <>
      <PageHeader
        title="Tasks"
        subtitle="Long work of every module (clones, uploads, ...) with its progress; tasks interrupted by a restart show as failed."
        actions={
          <div className="split">
            <Field label="State" name="tasks-state">
              <Select id="tasks-state" className="select select-sm" value={state} onChange={(e) => go({ state: e.target.value })} data-testid="tasks-state">
                <option value="">all</option>
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </Select>
            </Field>
            <Field label="Kind" name="tasks-kind">
              <TextInput id="tasks-kind" className="input input-sm" value={kind} placeholder="clone-volume" onChange={(e) => go({ kind: e.target.value.trim() })} data-testid="tasks-kind" />
            </Field>
          </div>
        }
      />
      <ErrorBanner error={q.error} title="Could not list the tasks" onRetry={() => void q.refresh()} testId="tasks-error" />
      <ErrorBanner error={cancelError} title="Could not cancel the task" onDismiss={() => setCancelError(null)} testId="task-cancel-error" />
      <Card
        bodyless
        title={tasks ? `${tasks.length} task${tasks.length === 1 ? "" : "s"}` : "Tasks"}
        extra={
          <div className="split">
            {q.fetching && <Spinner />}
            <button type="button" className="btn btn-sm" onClick={() => void q.refresh()} data-testid="tasks-refresh">
              <Icon name="refresh" size={14} /> Refresh
            </button>
          </div>
        }
      >
        <DataTable
          columns={columns}
          rows={tasks}
          rowKey={(t) => t.id}
          loading={q.loading}
          testId="tasks-table"
          rowTestId="task-row"
          initialSort={{ key: "created_at", dir: "desc" }}
          empty={<EmptyState title="No tasks" testId="tasks-empty">Clones, uploads and other long work show up here.</EmptyState>}
        />
      </Card>
    </>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <TasksPage />
    </Suspense>
  );
}
