"use client";

import { Suspense, useEffect, useState } from "react";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { isTaskEvent } from "@/lib/events";
import { formatTime } from "@/lib/format";
import { callOp, useOperations } from "@/lib/useOperations";
import { Column, actionsColumn } from "@/components/DataTable";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { ListPage } from "@/components/ListPage";
import { LoadingBlock } from "@/components/Loading";
import { Task, TaskBar, isActive } from "@/components/TaskProgress";

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
  const only = params.get("id") ?? ""; // one task (the audit log links here)
  const body = { ...(state ? { state: state as (typeof STATES)[number] } : {}), ...(kind ? { kind } : {}) };
  // Active tasks move: poll fast while any is running, slowly otherwise.
  const [fast, setFast] = useState(true);
  const q = useQuery("list-tasks", body, { refreshMs: fast ? 1000 : 5000, live: isTaskEvent() });
  const tasks = q.data?.tasks;
  const anyActive = !!tasks?.some(isActive);
  useEffect(() => {
    if (tasks) setFast(anyActive);
  }, [tasks, anyActive]);
  const ops = useOperations<Task, "cancel">({
    key: (t) => t.id,
    onChanged: () => void q.refresh(),
    error: { title: "Could not cancel the task", testId: "task-cancel-error" },
    ops: {
      cancel: callOp("cancel-task", (t) => ({ id: t.id }), (t) => ({ message: `Cancelling ${t.kind} ${t.resource?.name ?? ""}`, tone: "info" })),
    },
  });
  const go = (next: { state?: string; kind?: string }) => {
    const p = new URLSearchParams();
    const s = next.state ?? state;
    const k = next.kind ?? kind;
    if (s) p.set("state", s);
    if (k) p.set("kind", k);
    router.replace(`/tasks/${p.toString() ? `?${p.toString()}` : ""}`);
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
    actionsColumn((t) =>
        isActive(t) ? (
          <button type="button" className="btn btn-sm" onClick={() => ops.run("cancel", t)} disabled={ops.isBusy(t) || !!t.cancel_requested} data-testid="task-cancel">
            {t.cancel_requested ? "Cancelling…" : "Cancel"}
          </button>
        ) : null),
  ];

  return (
    <ListPage
      title="Tasks"
      subtitle="Long work of every module (clones, uploads, ...) with its progress; tasks interrupted by a restart show as failed."
      actions={
        <div className="split">
          <Field label="State" name="tasks-state">
            <Select id="tasks-state" className="select select-sm" value={state} onChange={(e) => go({ state: e.target.value })} data-testid="tasks-state">
              <option value="">all</option>
              <Options values={STATES} />
            </Select>
          </Field>
          <Field label="Kind" name="tasks-kind">
            <TextInput id="tasks-kind" className="input input-sm" value={kind} placeholder="clone-volume" onChange={(e) => go({ kind: e.target.value.trim() })} data-testid="tasks-kind" />
          </Field>
        </div>
      }
      query={q}
      testId="tasks"
      errorTitle="Could not list the tasks"
      notices={
        <>
          {only && (
            <p className="small" data-testid="tasks-only">
              Showing task <code>{only}</code> only · <Link href="/tasks/" data-testid="tasks-show-all">Show all tasks</Link>
            </p>
          )}
          {ops.ui}
        </>
      }
      count={{ noun: "task", fallback: "Tasks" }}
      table={{ columns, rows: only ? tasks?.filter((t) => t.id === only) : tasks, rowKey: (t) => t.id, rowTestId: "task-row", initialSort: { key: "created_at", dir: "desc" } }}
      empty={
        only
          ? { title: "Task not found", hint: "It is no longer kept: finished tasks are pruned after the retention period." }
          : { title: "No tasks", hint: "Clones, uploads and other long work show up here." }
      }
    />
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <TasksPage />
    </Suspense>
  );
}
