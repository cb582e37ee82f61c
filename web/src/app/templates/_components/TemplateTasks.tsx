"use client";

import { useEffect, useState } from "react";
import { useQuery } from "@/lib/hooks";
import { isTaskEvent } from "@/lib/events";
import { callOp, useOperations } from "@/lib/useOperations";
import { Card } from "@/components/PageHeader";
import { Task, TaskBar, isActive } from "@/components/TaskProgress";
import { TEMPLATE_TASKS, recent } from "./templateUtil";

const MAX_ENDED = 4;

/** Downloads and updates of templates, read from list-tasks (so a reload shows them exactly as before):
 * the running ones with their byte progress and ETA and a cancel button, and those that ended in the
 * last minutes with their result or error. Polls every second while any runs. */
export function TemplateTasks({ node, onFinished }: { node: string | null; onFinished: () => void }) {
  const [fast, setFast] = useState(true);
  const q = useQuery("list-tasks", node ? { node } : {}, { refreshMs: fast ? 1000 : 5000, live: isTaskEvent(node || undefined) });
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [seenActive, setSeenActive] = useState<Set<string>>(new Set());
  const ops = useOperations<Task, "cancel">({
    key: (t) => t.id,
    onChanged: () => void q.refresh(),
    error: { title: "Could not cancel the task", testId: "template-tasks-error" },
    ops: { cancel: callOp("cancel-task", (t) => ({ id: t.id }), () => null) },
  });
  const tasks = (q.data?.tasks ?? []).filter((t) => (TEMPLATE_TASKS as readonly string[]).includes(t.kind));
  // every running one, and the last few that ended (list-tasks is newest first)
  const shown = [...tasks.filter(isActive), ...tasks.filter((t) => !isActive(t) && recent(t)).slice(0, MAX_ENDED)]
    .filter((t) => !hidden.has(t.id));
  const active = tasks.filter(isActive);

  useEffect(() => {
    if (!q.data) return;
    setFast(active.length > 0);
    // A task seen running that has now ended: the template list changed.
    const ended = [...seenActive].filter((id) => !active.some((t) => t.id === id));
    if (ended.length) onFinished();
    setSeenActive(new Set(active.map((t) => t.id)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q.data]);


  if (!shown.length && !ops.failed) return null;
  return (
    <Card title="Downloads and updates" testId="template-tasks">
      {ops.ui}
      {shown.map((t) => (
        <div key={t.id} style={{ marginBottom: 14 }} data-testid="template-task" data-kind={t.kind} data-name={t.resource?.name ?? ""}>
          <div className="split" style={{ justifyContent: "space-between", marginBottom: 4 }}>
            <span><b>{t.resource?.name}</b> <span className="muted small">{t.kind} on {t.resource?.node}</span></span>
            {isActive(t) ? (
              <button type="button" className="btn btn-sm" onClick={() => ops.run("cancel", t)} disabled={ops.isBusy(t) || !!t.cancel_requested} data-testid="template-task-cancel">
                {t.cancel_requested ? "Cancelling…" : "Cancel"}
              </button>
            ) : (
              <button type="button" className="btn btn-sm btn-ghost" onClick={() => setHidden(new Set([...hidden, t.id]))} data-testid="template-task-dismiss">
                Dismiss
              </button>
            )}
          </div>
          <TaskBar task={t} testId="template-task-progress" />
        </div>
      ))}
    </Card>
  );
}
