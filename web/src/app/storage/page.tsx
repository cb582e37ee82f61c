"use client";

import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { CapacityBar } from "@/components/CapacityBar";
import { Column, actionsColumn } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { OpButton, opItem } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { NodeSelect } from "@/components/NodeSelect";
import { LoadingBlock } from "@/components/Loading";
import { PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { PoolFormDialog } from "./_components/PoolFormDialog";
import { usePoolOps } from "./_components/usePoolOps";
import { Pool, figuresUnknown, freeText, poolHref } from "./_components/storageUtil";
import { ProblemsBadge } from "./_components/ProblemsBadge";

const REFRESH_MS = 10_000;

function Pools({ node, internal }: { node: string; internal: boolean }) {
  const q = useQuery("list-storage-pools", { node, include_internal: internal }, { refreshMs: REFRESH_MS });
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const ops = usePoolOps({ onChanged: () => void q.refresh() });

  const columns: Column<Pool>[] = [
    {
      key: "name",
      header: "Name",
      render: (p) => (
        <div>
          <Link href={poolHref(node, p.name)} className="cell-main" data-testid="pool-link">
            {p.name}
          </Link>
          {p.internal && <span className="badge badge-info" style={{ marginLeft: 6 }}>internal</span>}
          <ProblemsBadge problems={p.problems} testId="pool-problems" />
          <div className="cell-sub mono" data-testid="pool-path">{p.path ?? ""}</div>
        </div>
      ),
    },
    { key: "type", header: "Type", render: (p) => <span data-testid="pool-type">{p.type}</span> },
    {
      key: "usage",
      header: "Capacity",
      sortValue: (p) => p.capacity_bytes,
      render: (p) => (
        <div style={{ minWidth: 220 }}>
          <CapacityBar used={p.allocation_bytes} total={p.capacity_bytes} testId="pool-capacity" unknown={figuresUnknown(p)} />
        </div>
      ),
    },
    { key: "available_bytes", header: "Free", align: "num", render: (p) => <span data-testid="pool-free">{freeText(p)}</span> },
    { key: "volume_count", header: "Volumes", align: "num", render: (p) => <span data-testid="pool-volumes">{p.volume_count ?? "—"}</span> },
    { key: "state", header: "State", render: (p) => <StateBadge state={p.state} testId="pool-state" /> },
    { key: "autostart", header: "Autostart", render: (p) => (p.autostart ? <span className="yes">yes</span> : <span className="no">no</span>) },
    actionsColumn((p) => (
        <div className="row-actions">
          {p.active ? (
            <>
              <OpButton ops={ops} kind="refresh" target={p} icon="refresh" label="Refresh" title="Re-scan volumes and free space" testId="pool-refresh" />
              <OpButton ops={ops} kind="stop" target={p} icon="pause" label="Stop" testId="pool-stop" />
            </>
          ) : (
            <OpButton ops={ops} kind="start" target={p} icon="play" label="Start" testId="pool-start" />
          )}
          <OpButton ops={ops} kind="delete" target={p} icon="trash" look="icon" label="Delete pool" ariaLabel={`Delete pool ${p.name}`} testId="pool-delete" />
        </div>
      ), (p) => [
        ...(p.active ? [opItem(ops, "refresh", p, "Refresh"), opItem(ops, "stop", p, "Stop…")] : [opItem(ops, "start", p, "Start")]),
        opItem(ops, "delete", p, "Delete pool…", true),
      ]),
  ];

  return (
    <ListPage
      query={q}
      testId="pools"
      errorTitle="Could not list the storage pools"
      refreshLabel="Reload"
      notices={ops.ui}
      count={{ noun: "pool", fallback: "Storage pools" }}
      cardActions={
        <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} data-testid="add-pool">
          <Icon name="plus" size={14} /> Create pool
        </button>
      }
      table={{ columns, rows: q.data?.pools, rowKey: (p) => p.name, rowTestId: "pool-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No storage pools", hint: "Create one to hold VM disks." }}
    >
      <PoolFormDialog
        open={creating}
        node={node}
        onClose={() => setCreating(false)}
        onCreated={(p) => {
          setCreating(false);
          toast.success(`Pool ${p.name} created (${p.state})`);
          void q.refresh();
        }}
      />
    </ListPage>
  );
}

function StoragePage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") || "local";
  const internal = params.get("internal") === "1";
  const go = (next: { node?: string; internal?: boolean }) => {
    const q = new URLSearchParams({ node: next.node ?? node });
    if (next.internal ?? internal) q.set("internal", "1");
    router.replace(`/storage/?${q.toString()}`);
  };
  return (
    <>
      <PageHeader
        title="Storage"
        subtitle="libvirt storage pools with their capacity; open one for its volumes."
        actions={
          <div className="split">
            <label htmlFor="pools-internal" className="split small" style={{ fontWeight: 500 }}>
              <input id="pools-internal" type="checkbox" checked={internal} onChange={(e) => go({ internal: e.target.checked })} data-testid="pools-internal" />
              JVP&apos;s template pools
            </label>
            <NodeSelect id="storage-node" value={node} onChange={(n) => go({ node: n })} />
          </div>
        }
      />
      <Pools key={`${node}-${internal}`} node={node} internal={internal} />
    </>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <StoragePage />
    </Suspense>
  );
}
