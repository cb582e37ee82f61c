"use client";

import Link from "next/link";
import { useState } from "react";
import { useQuery } from "@/lib/hooks";
import { isNodeEvent } from "@/lib/events";
import { formatBytes, show } from "@/lib/format";
import { Column, actionsColumn } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { NodeFormDialog } from "./_components/NodeFormDialog";
import { useNodeOps } from "./_components/useNodeOps";
import { Node, nodeHref, vmCounts } from "./_components/nodeUtil";
import { Labels } from "./_components/Labels";

const REFRESH_MS = 10_000;


export default function NodesPage() {
  const q = useQuery("list-nodes", {}, { refreshMs: REFRESH_MS, live: isNodeEvent() });
  const toast = useToast();
  const [adding, setAdding] = useState(false);
  const ops = useNodeOps({ onChanged: () => void q.refresh() });

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
    actionsColumn((n) => (
        <div className="row-actions">
          {n.maintenance ? (
            <OpButton ops={ops} kind="enable" target={n} icon="play" label="Enable" title="Leave maintenance" testId="node-enable" />
          ) : (
            <OpButton ops={ops} kind="disable" target={n} icon="pause" label="Disable" title="Enter maintenance" testId="node-disable" />
          )}
          {!n.local && (
            <OpButton ops={ops} kind="delete" target={n} icon="trash" look="icon" label="Delete node" ariaLabel={`Delete node ${n.name}`} testId="node-delete" />
          )}
        </div>
      ), (n) => [
        n.maintenance
          ? { id: "enable", label: "Enable (leave maintenance)", onSelect: () => ops.run("enable", n), disabled: ops.isBusy(n), reason: "Busy" }
          : { id: "disable", label: "Disable (enter maintenance)", onSelect: () => ops.run("disable", n), disabled: ops.isBusy(n), reason: "Busy" },
        {
          id: "delete",
          label: "Delete node",
          danger: true,
          onSelect: () => ops.run("delete", n),
          disabled: n.local || ops.isBusy(n),
          reason: n.local ? "The local node is this server's own: it cannot be deleted" : "Busy",
        },
      ]),
  ];

  const nodes = q.data?.nodes;
  const online = nodes?.filter((n) => n.state === "online").length ?? 0;

  return (
    <ListPage
      title="Nodes"
      subtitle={`libvirt hosts managed by JVP. ${q.live === "open" ? "The list follows changes as they happen." : "The list refreshes every 10 seconds."}`}
      actions={
        <button type="button" className="btn btn-primary" onClick={() => setAdding(true)} data-testid="add-node">
          <Icon name="plus" size={15} /> Add node
        </button>
      }
      query={q}
      testId="nodes"
      errorTitle="Could not list the nodes"
      refresh="header"
      partial={{ title: "Some node metadata could not be read", errors: q.data?.errors, testId: "nodes-list-errors" }}
      notices={ops.ui}
      count={{ noun: "node", fallback: "Nodes" }}
      summary={nodes ? <span className="muted small">{online} online</span> : undefined}
      table={{ columns, rows: nodes, rowKey: (n) => n.name, rowTestId: "node-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No nodes", hint: q.error ? "The list could not be loaded." : "Add a libvirt host to manage it here." }}
    >
      <NodeFormDialog
        open={adding}
        onClose={() => setAdding(false)}
        onSaved={(n) => {
          setAdding(false);
          toast.success(`Node ${n.name} added (${n.state})`);
          void q.refresh();
        }}
      />
    </ListPage>
  );
}
