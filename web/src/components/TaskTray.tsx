"use client";

// The task bar at the bottom of every page: running and recent tasks (list-tasks, refetched by the events
// stream's task events), each with its progress, who started it (the task's `created_by`: the token's
// name), a link to its resource, and its log: the messages the stream reported while this tab was open,
// then describe-task's record (message, error, result, times). Collapsed, it is one line.

import Link from "next/link";
import { useState } from "react";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { ProgressBar } from "@/components/ProgressBar";
import { StateBadge } from "@/components/StateBadge";
import { Task, isActive, taskBytes } from "@/components/TaskProgress";
import { JvpEvent, TaskEvent, useEvents } from "@/lib/events";
import { formatAgo, formatTime } from "@/lib/format";
import { useQuery, useTick } from "@/lib/hooks";

const RECENT = 15;
const OPEN_KEY = "jvp.taskbar.open";

// -- the log: what the stream said about each task while this tab was open --------------------------------
export interface LogLine {
  time: string;
  state: string;
  progress: number | null;
  message: string | null;
}
const logs = new Map<string, LogLine[]>();

function record(ev: TaskEvent) {
  const lines = logs.get(ev.id) ?? [];
  const last = lines[lines.length - 1];
  const line = { time: ev.time, state: ev.state, progress: ev.progress, message: ev.message ?? null };
  if (!last || last.message !== line.message || last.state !== line.state) lines.push(line);
  if (lines.length > 200) lines.splice(0, lines.length - 200);
  logs.set(ev.id, lines);
}

/** Where a task's resource is shown. */
export function resourceHref(t: Pick<Task, "resource">): string | null {
  const r = t.resource;
  if (!r) return null;
  const qs = (o: Record<string, string | null | undefined>) =>
    new URLSearchParams(Object.entries(o).filter(([, v]) => !!v) as [string, string][]).toString();
  switch (r.kind) {
    case "vm":
      return r.name && r.node ? `/vms/detail/?${qs({ node: r.node, name: r.name })}` : "/vms/";
    case "node":
      return r.name ? `/nodes/detail/?${qs({ name: r.name })}` : "/nodes/";
    case "template":
    case "templates":
      return `/templates/${r.node ? `?${qs({ node: r.node })}` : ""}`;
    case "volume":
      return r.pool ? `/storage/detail/?${qs({ node: r.node, name: r.pool })}` : "/storage/";
    case "pool":
    case "storage-pool":
      return r.name ? `/storage/detail/?${qs({ node: r.node, name: r.name })}` : "/storage/";
    case "network":
      return r.name ? `/networks/detail/?${qs({ node: r.node, name: r.name })}` : "/networks/";
    default:
      return null;
  }
}

function resourceText(t: Task): string {
  const r = t.resource;
  if (!r) return "";
  return `${r.kind} ${[r.node, r.pool, r.name].filter(Boolean).join("/")}`;
}

function TaskLog({ task }: { task: Task }) {
  const d = useQuery("describe-task", { id: task.id }, { refreshMs: isActive(task) ? 5_000 : 0 });
  const full = d.data?.task ?? task;
  const lines = logs.get(task.id) ?? [];
  return (
    <div className="taskbar-log" data-testid="taskbar-log">
      <dl className="kv small">
        <dt>Started by</dt>
        <dd data-testid="taskbar-log-by">{full.created_by ?? "—"}</dd>
        <dt>Created</dt>
        <dd>{formatTime(full.created_at)}</dd>
        {full.started_at && (
          <>
            <dt>Started</dt>
            <dd>{formatTime(full.started_at)}</dd>
          </>
        )}
        {full.finished_at && (
          <>
            <dt>Finished</dt>
            <dd>{formatTime(full.finished_at)}</dd>
          </>
        )}
        <dt>Message</dt>
        <dd data-testid="taskbar-log-message">{full.message ?? "—"}</dd>
        {full.error && (
          <>
            <dt>Error</dt>
            <dd className="cell-error" data-testid="taskbar-log-error">
              {full.error.code}: {full.error.message}
            </dd>
          </>
        )}
        <dt>Id</dt>
        <dd className="mono">{full.id}</dd>
      </dl>
      {lines.length > 0 && (
        <ol className="taskbar-log-lines mono small" data-testid="taskbar-log-lines">
          {lines.map((l, i) => (
            <li key={i}>
              <span className="muted">{formatTime(l.time)}</span> {l.state}
              {l.progress != null ? ` ${Math.round(l.progress)}%` : ""}
              {l.message ? ` — ${l.message}` : ""}
            </li>
          ))}
        </ol>
      )}
      {d.error && <div className="cell-error small">{d.error.message}</div>}
    </div>
  );
}

function TaskRow({ task }: { task: Task }) {
  const [showLog, setShowLog] = useState(false);
  const href = resourceHref(task);
  const tone = task.state === "succeeded" ? "ok" : task.state === "failed" ? "crit" : "default";
  return (
    <li className="taskbar-task" data-testid="taskbar-task" data-id={task.id} data-state={task.state}>
      <div className="taskbar-task-head">
        <span className="cell-main" data-testid="taskbar-task-kind">{task.kind}</span>
        {href ? (
          <Link href={href} className="mono small taskbar-task-res" data-testid="taskbar-task-link">
            {resourceText(task)}
          </Link>
        ) : (
          <span className="mono small taskbar-task-res">{resourceText(task)}</span>
        )}
        <StateBadge state={task.state} testId="taskbar-task-state" />
      </div>
      <ProgressBar
        value={task.state === "succeeded" ? 100 : task.state === "failed" || task.state === "cancelled" ? null : task.progress}
        tone={tone}
        label={task.message ?? task.kind}
        testId="taskbar-task-progress"
      />
      <div className="taskbar-task-meta small muted">
        <span>
          by <strong data-testid="taskbar-task-by">{task.created_by ?? "unknown"}</strong> · {formatAgo(new Date(task.created_at))}
          {taskBytes(task) && ` · ${taskBytes(task)}`}
        </span>
        <button
          type="button"
          className="btn-link small"
          aria-expanded={showLog}
          onClick={() => setShowLog((s) => !s)}
          data-testid="taskbar-task-log-toggle"
        >
          {showLog ? "Hide log" : "Log"}
        </button>
      </div>
      {task.error && !showLog && (
        <div className="cell-error small" data-testid="taskbar-task-error">
          {task.error.code}: {task.error.message}
        </div>
      )}
      {showLog && <TaskLog task={task} />}
    </li>
  );
}

export function TaskTray() {
  const [open, setOpenState] = useState<boolean>(() => {
    try {
      return typeof window !== "undefined" && window.localStorage.getItem(OPEN_KEY) === "1";
    } catch {
      return false;
    }
  });
  const setOpen = (o: boolean) => {
    setOpenState(o);
    try {
      window.localStorage.setItem(OPEN_KEY, o ? "1" : "0");
    } catch {
      /* not remembered */
    }
  };
  useEvents((ev: JvpEvent) => {
    if (ev.type === "task") record(ev);
  });
  useTick(open ? 10_000 : 0);
  const q = useQuery("list-tasks", { limit: RECENT }, { refreshMs: 10_000 });
  const tasks = q.data?.tasks ?? [];
  const running = tasks.filter(isActive);
  const failed = tasks.filter((t) => t.state === "failed").length;
  const latest = running[0] ?? tasks[0];
  return (
    <section className={`taskbar${open ? " open" : ""}`} data-testid="taskbar" aria-label="Tasks">
      <button
        type="button"
        className="taskbar-head"
        aria-expanded={open}
        aria-controls={open ? "taskbar-list" : undefined}
        onClick={() => setOpen(!open)}
        data-testid="taskbar-toggle"
      >
        <Icon name={open ? "chevronDown" : "chevronRight"} size={14} />
        <strong>Tasks</strong>
        <span className="taskbar-count" data-testid="taskbar-running" data-count={running.length}>
          {running.length ? (
            <>
              <Spinner /> {running.length} running
            </>
          ) : (
            "none running"
          )}
        </span>
        {failed > 0 && <span className="badge badge-danger">{failed} failed</span>}
        {!open && latest && (
          <span className="taskbar-latest small muted">
            {latest.kind} {latest.resource?.name ?? ""} · {latest.state}
          </span>
        )}
      </button>
      {open && (
        <div className="taskbar-body" id="taskbar-list">
          {q.error && <div className="cell-error small">{q.error.message}</div>}
          {tasks.length === 0 ? (
            <div className="muted small taskbar-empty" data-testid="taskbar-empty">
              {q.loading ? "Loading…" : "No tasks yet: long work (creating VMs, clones, uploads) shows here."}
            </div>
          ) : (
            <ul className="taskbar-list">
              {tasks.map((t) => (
                <TaskRow key={t.id} task={t} />
              ))}
            </ul>
          )}
          <Link href="/tasks/" className="small" data-testid="taskbar-all">
            All tasks
          </Link>
        </div>
      )}
    </section>
  );
}
