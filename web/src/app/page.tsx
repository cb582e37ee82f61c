"use client";

// `/`: the dashboard. Nodes with CPU / memory / storage bars, running and total VMs, the VMs using the most
// CPU, running and failed tasks, and the audit log's latest entries. Every card polls on its own (the
// collector samples every 10 s by default); one card's error does not hide the others.

import { useEffect, useState } from "react";
import { useQuery, useTick } from "@/lib/hooks";
import { formatAgo } from "@/lib/format";
import { useMetrics } from "@/lib/metrics";
import { getIdentity, onSessionChange } from "@/lib/session";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { PageHeader } from "@/components/PageHeader";
import { vmCounts } from "./nodes/_components/nodeUtil";
import { EventsCard, TasksCard, TopVmsCard, recentFailures } from "./_dashboard/Cards";
import { NodesCard } from "./_dashboard/NodesCard";

const REFRESH_MS = 10_000;

function useRole(): string | null | undefined {
  const [role, setRole] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    const read = () => setRole(getIdentity()?.role ?? null);
    read();
    return onSessionChange(read);
  }, []);
  return role;
}

function Tile({ label, value, sub, testId, tone }: { label: string; value: React.ReactNode; sub?: React.ReactNode; testId: string; tone?: "danger" | "warning" }) {
  return (
    <div className={`card dash-tile${tone ? ` dash-tile-${tone}` : ""}`} data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="dash-tile-value" data-testid={`${testId}-value`}>
        {value}
      </div>
      {sub && <div className="muted small" data-testid={`${testId}-sub`}>{sub}</div>}
    </div>
  );
}

export default function Dashboard() {
  const role = useRole();
  const admin = role === "admin";
  const nodes = useQuery("list-nodes", {}, { refreshMs: REFRESH_MS });
  const usage = useMetrics("list-vm-usage", {}, { refreshMs: REFRESH_MS });
  const tasks = useQuery("list-tasks", { limit: 200 }, { refreshMs: 5_000 });
  const audit = useQuery("list-audit-events", { limit: 8 }, { refreshMs: 15_000, enabled: admin });
  useTick(5_000);

  const list = nodes.data?.nodes;
  const online = list?.filter((n) => n.reachable).length ?? 0;
  let running = 0;
  let total = 0;
  let unknown = 0;
  for (const n of list ?? []) {
    const c = vmCounts(n);
    if (c) {
      running += c.running;
      total += c.total;
    } else unknown += 1;
  }
  const activeTasks = tasks.data?.tasks.filter((t) => t.state === "running" || t.state === "pending").length;
  const failedTasks = tasks.data ? recentFailures(tasks.data.tasks).length : undefined;
  const fetching = nodes.fetching || usage.fetching || tasks.fetching;

  return (
    <>
      <PageHeader
        title={
          <>
            Dashboard {fetching && <Spinner label="Refreshing" />}
          </>
        }
        subtitle="The estate at a glance; every figure refreshes on its own."
        actions={
          <>
            <span className="refresh-hint" data-testid="dash-updated">
              {nodes.updatedAt ? `Updated ${formatAgo(nodes.updatedAt)}` : ""}
            </span>
            <button
              type="button"
              className="btn"
              onClick={() => void Promise.all([nodes.refresh(), usage.refresh(), tasks.refresh(), admin ? audit.refresh() : undefined])}
              data-testid="dash-refresh"
            >
              <Icon name="refresh" size={15} /> Refresh
            </button>
          </>
        }
      />
      <ErrorBanner error={nodes.error} title="Could not list the nodes" onRetry={() => void nodes.refresh()} testId="dash-nodes-error" />
      <div className="dash-tiles">
        <Tile
          label="Nodes online"
          value={list ? `${online} / ${list.length}` : "—"}
          sub={list && online < list.length ? `${list.length - online} not answering` : list ? "all answering" : undefined}
          tone={list && online < list.length ? "danger" : undefined}
          testId="dash-tile-nodes"
        />
        <Tile
          label="VMs running"
          value={list ? `${running} / ${total}` : "—"}
          sub={unknown ? `not counting ${unknown} node${unknown === 1 ? "" : "s"} that did not answer` : list ? `${total - running} not running` : undefined}
          testId="dash-tile-vms"
        />
        <Tile label="Tasks running" value={activeTasks ?? "—"} testId="dash-tile-tasks" />
        <Tile label="Tasks failed (24 h)" value={failedTasks ?? "—"} tone={failedTasks ? "warning" : undefined} testId="dash-tile-failed" />
      </div>
      <div className="dash-grid">
        <div className="stack">
          <NodesCard nodes={list} loading={nodes.loading} />
          <TopVmsCard vms={usage.data?.vms} loading={usage.loading} error={usage.error} onRetry={() => void usage.refresh()} />
        </div>
        <div className="stack">
          <TasksCard tasks={tasks.data?.tasks} loading={tasks.loading} error={tasks.error} onRetry={() => void tasks.refresh()} />
          <EventsCard admin={admin} events={audit.data?.events} loading={audit.loading} error={audit.error} onRetry={() => void audit.refresh()} />
        </div>
      </div>
    </>
  );
}
