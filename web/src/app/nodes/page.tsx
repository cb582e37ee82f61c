"use client";

import Link from "next/link";
import { useEffect, useState } from "react";
import { useQuery } from "@/lib/hooks";
import { formatAgo, formatBytes, show } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Column, DataTable } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { EmptyState, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { NodeFormDialog } from "./_components/NodeFormDialog";
import { useNodeOps } from "./_components/useNodeOps";
import { Node, nodeHref, vmCounts } from "./_components/nodeUtil";
import { Labels } from "./_components/Labels";

const REFRESH_MS = 10_000;

/** Re-render every few seconds so "updated N s ago" stays true. */
function useTick(ms: number) {
  const [, setN] = useState(0);
  useEffect(() => {
    const id = window.setInterval(() => setN((n) => n + 1), ms);
    return () => window.clearInterval(id);
  }, [ms]);
}

export default function NodesPage() {
  const q = useQuery("list-nodes", {}, { refreshMs: REFRESH_MS });
  const toast = useToast();
  const [adding, setAdding] = useState(false);
  const ops = useNodeOps({ onChanged: () => void q.refresh() });
  useTick(5000);

  const columns: Column<Node>[] = [
    {
      key: "name",
      header: "Name",
      render: (n) => (
        <div>
          <Link href={nodeHref(n.name)} className="cell-main" data-testid="node-link">
            {n.name}
          </Link>
          {n.description && <div className="cell-sub">{n.description}</div>}
        </div>
      ),
    },
    {
      key: "state",
      header: "State",
      render: (n) => <StateBadge state={n.state} testId="node-state" />,
    },
    {
      key: "hostname",
      header: "Host",
      sortValue: (n) => n.hostname ?? n.uri,
      render: (n) => (
        <div>
          <div className="cell-main" data-testid="node-hostname">
            {show(n.hostname)}
          </div>
          <div className="cell-sub mono" data-testid="node-uri">
            {n.uri}
          </div>
          {n.last_error && !n.reachable && (
            <div className="cell-error" data-testid="node-last-error">
              {n.last_error}
            </div>
          )}
        </div>
      ),
    },
    {
      key: "hypervisor",
      header: "Hypervisor",
      render: (n) => (
        <div>
          <div>{show(n.hypervisor)}</div>
          {n.libvirt_version && <div className="cell-sub">libvirt {n.libvirt_version}</div>}
        </div>
      ),
    },
    { key: "cpus", header: "CPUs", align: "num", render: (n) => <span data-testid="node-cpus">{show(n.cpus)}</span> },
    { key: "memory_bytes", header: "Memory", align: "num", render: (n) => <span data-testid="node-memory">{formatBytes(n.memory_bytes)}</span> },
    {
      key: "vms",
      header: "VMs",
      align: "num",
      sortValue: (n) => vmCounts(n)?.total,
      render: (n) => {
        const c = vmCounts(n);
        return c ? (
          <span data-testid="node-vms" title={`${c.running} running of ${c.total}`}>
            {c.running} / {c.total}
          </span>
        ) : (
          "—"
        );
      },
    },
    { key: "labels", header: "Labels", sortable: false, render: (n) => <Labels labels={n.labels} /> },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (n) => (
        <div className="row-actions">
          {n.maintenance ? (
            <button
              type="button"
              className="btn btn-sm"
              onClick={() => ops.askEnable(n)}
              disabled={ops.busyName === n.name}
              data-testid="node-enable"
              title="Leave maintenance"
            >
              <Icon name="play" size={13} /> Enable
            </button>
          ) : (
            <button
              type="button"
              className="btn btn-sm"
              onClick={() => ops.askDisable(n)}
              disabled={ops.busyName === n.name}
              data-testid="node-disable"
              title="Enter maintenance"
            >
              <Icon name="pause" size={13} /> Disable
            </button>
          )}
          {!n.local && (
            <button
              type="button"
              className="btn btn-sm btn-ghost btn-icon"
              onClick={() => ops.askDelete(n)}
              disabled={ops.busyName === n.name}
              data-testid="node-delete"
              title="Delete node"
              aria-label={`Delete node ${n.name}`}
            >
              <Icon name="trash" size={15} />
            </button>
          )}
        </div>
      ),
    },
  ];

  const nodes = q.data?.nodes;
  const listErrors = q.data?.errors ?? [];
  const online = nodes?.filter((n) => n.state === "online").length ?? 0;

  return (
    <>
      <PageHeader
        title="Nodes"
        subtitle="libvirt hosts managed by JVP. The list refreshes every 10 seconds."
        actions={
          <>
            <span className="refresh-hint" data-testid="nodes-updated">
              {q.fetching ? <Spinner /> : null}
              {q.updatedAt ? `Updated ${formatAgo(q.updatedAt)}` : ""}
            </span>
            <button type="button" className="btn" onClick={() => void q.refresh()} disabled={q.fetching} data-testid="nodes-refresh">
              <Icon name="refresh" size={15} /> Refresh
            </button>
            <button type="button" className="btn btn-primary" onClick={() => setAdding(true)} data-testid="add-node">
              <Icon name="plus" size={15} /> Add node
            </button>
          </>
        }
      />
      <ErrorBanner error={q.error} title="Could not list the nodes" onRetry={() => void q.refresh()} testId="nodes-error" />
      {listErrors.length > 0 && (
        <Alert title="Some node metadata could not be read" testId="nodes-list-errors">
          <ul>
            {listErrors.map((e, i) => (
              <li key={`${e.path ?? e.node ?? ""}-${i}`}>
                {e.path && !e.message.includes(e.path) && <code>{e.path}: </code>}
                {e.node && !e.path && <strong>{e.node}: </strong>}
                {e.message}{" "}
                <span className="muted">({e.code})</span>
              </li>
            ))}
          </ul>
        </Alert>
      )}
      {ops.ui}
      <Card
        bodyless
        title={nodes ? `${nodes.length} node${nodes.length === 1 ? "" : "s"}` : "Nodes"}
        extra={nodes ? <span className="muted small">{online} online</span> : undefined}
      >
        <DataTable
          columns={columns}
          rows={nodes}
          rowKey={(n) => n.name}
          loading={q.loading}
          testId="nodes-table"
          rowTestId="node-row"
          initialSort={{ key: "name", dir: "asc" }}
          empty={
            <EmptyState title="No nodes" testId="nodes-empty">
              {q.error ? "The list could not be loaded." : "Add a libvirt host to manage it here."}
            </EmptyState>
          }
        />
      </Card>
      <NodeFormDialog
        open={adding}
        onClose={() => setAdding(false)}
        onSaved={(n) => {
          setAdding(false);
          toast.success(`Node ${n.name} added (${n.state})`);
          void q.refresh();
        }}
      />
    </>
  );
}
