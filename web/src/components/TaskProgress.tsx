"use client";

import { useEffect, useRef, useState } from "react";
import type { Schema } from "@/lib/api";
import { ApiError, asApiError, call } from "@/lib/api";
import { formatBytes } from "@/lib/format";
import { ErrorBanner } from "@/components/ErrorBanner";
import { ProgressBar } from "@/components/ProgressBar";
import { StateBadge } from "@/components/StateBadge";

export type Task = Schema<"Task">;
export const ACTIVE_TASK_STATES = ["pending", "running"];

export function isActive(task: Pick<Task, "state"> | null | undefined): boolean {
  return !!task && ACTIVE_TASK_STATES.includes(task.state);
}

/** "1.2 GiB of 2.0 GiB, 14 s left" for a task that reports bytes; "" otherwise. */
export function taskBytes(task: Task): string {
  if (task.bytes_done == null) return "";
  const of = task.bytes_total ? ` of ${formatBytes(task.bytes_total)}` : "";
  const eta = isActive(task) && task.eta_s != null ? `, ${Math.round(task.eta_s)} s left` : "";
  return `${formatBytes(task.bytes_done)}${of}${eta}`;
}

/** A task's progress bar, message and state. A task that failed or was cancelled shows no bar (a red bar
 * stuck at 80 % says nothing): its state, how far it got and its error, once. */
export function TaskBar({ task, testId = "task-progress" }: { task: Task; testId?: string }) {
  if (task.state === "failed" || task.state === "cancelled") {
    return (
      <div data-testid={testId} data-task-id={task.id} data-state={task.state}>
        <div className="split small" style={{ justifyContent: "space-between" }}>
          <span className="muted">
            {task.kind} {task.state} at {Math.round(task.progress ?? 0)} %
          </span>
          <StateBadge state={task.state} testId={`${testId}-state`} />
        </div>
        <div className="cell-error" data-testid={`${testId}-error`}>
          {task.error ? <><code>{task.error.code}</code>: {task.error.message}</> : task.message}
        </div>
      </div>
    );
  }
  const tone = task.state === "succeeded" ? "ok" : "default";
  const value = task.state === "succeeded" ? 100 : task.progress;
  return (
    <div data-testid={testId} data-task-id={task.id} data-state={task.state}>
      <ProgressBar value={value} tone={tone} label={task.message ?? task.kind} testId={`${testId}-bar`} />
      <div className="split small muted" style={{ justifyContent: "space-between", marginTop: 4 }}>
        <span data-testid={`${testId}-bytes`}>{taskBytes(task)}</span>
        <StateBadge state={task.state} testId={`${testId}-state`} />
      </div>
      {task.error && <div className="cell-error small" data-testid={`${testId}-error`}>{task.error.code}: {task.error.message}</div>}
    </div>
  );
}

/** Follows one task until it ends (describe-task every `pollMs`), with a cancel button while it runs.
 * `onDone` fires once with the final task. Any module that starts a task can show it with this. */
export function TaskProgress({ taskId, onDone, pollMs = 1000, testId = "task-progress" }: {
  taskId: string;
  onDone?: (task: Task) => void;
  pollMs?: number;
  testId?: string;
}) {
  const [task, setTask] = useState<Task | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const doneRef = useRef(onDone);
  doneRef.current = onDone;

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const poll = async () => {
      try {
        const t = (await call("describe-task", { id: taskId })).task;
        if (stopped) return;
        setTask(t);
        setError(null);
        if (!isActive(t)) {
          doneRef.current?.(t);
          return;
        }
      } catch (err) {
        if (stopped) return;
        setError(asApiError(err, "describe-task"));
      }
      timer = window.setTimeout(poll, pollMs);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [taskId, pollMs]);

  const cancel = async () => {
    setCancelling(true);
    try {
      setTask((await call("cancel-task", { id: taskId })).task);
    } catch (err) {
      setError(asApiError(err, "cancel-task"));
    } finally {
      setCancelling(false);
    }
  };

  return (
    <div data-testid={`${testId}-box`}>
      <ErrorBanner error={error} title="Could not follow the task" testId={`${testId}-error-banner`} />
      {task ? <TaskBar task={task} testId={testId} /> : <ProgressBar value={null} label="starting…" testId={`${testId}-bar`} />}
      {isActive(task) && (
        <button type="button" className="btn btn-sm" style={{ marginTop: 8 }} onClick={() => void cancel()}
                disabled={cancelling || !!task?.cancel_requested} data-testid={`${testId}-cancel`}>
          {task?.cancel_requested ? "Cancelling…" : "Cancel"}
        </button>
      )}
    </div>
  );
}
