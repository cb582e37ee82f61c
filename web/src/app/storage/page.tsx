"use client";

import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { CapacityBar } from "@/components/CapacityBar";
import { Column, DataTable } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { PoolFormDialog } from "./_components/PoolFormDialog";
import { usePoolOps } from "./_components/usePoolOps";
import { Pool, poolHref } from "./_components/storageUtil";

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
          <CapacityBar used={p.allocation_bytes} total={p.capacity_bytes} testId="pool-capacity" />
        </div>
      ),
    },
    { key: "available_bytes", header: "Free", align: "num", render: (p) => <span data-testid="pool-free">{formatBytes(p.available_bytes)}</span> },
    { key: "volume_count", header: "Volumes", align: "num", render: (p) => <span data-testid="pool-volumes">{p.volume_count ?? "—"}</span> },
    { key: "state", header: "State", render: (p) => <StateBadge state={p.state} testId="pool-state" /> },
    { key: "autostart", header: "Autostart", render: (p) => (p.autostart ? <span className="yes">yes</span> : <span className="no">no</span>) },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (p) => (
        <div className="row-actions">
          {p.active ? (
            <>
              <button type="button" className="btn btn-sm" onClick={() => void ops.refresh(p)} disabled={ops.busyName === p.name} data-testid="pool-refresh" title="Re-scan volumes and free space">
                <Icon name="refresh" size={13} /> Refresh
              </button>
              <button type="button" className="btn btn-sm" onClick={() => ops.askStop(p)} disabled={ops.busyName === p.name} data-testid="pool-stop">
                <Icon name="pause" size={13} /> Stop
              </button>
            </>
          ) : (
            <button type="button" className="btn btn-sm" onClick={() => void ops.start(p)} disabled={ops.busyName === p.name} data-testid="pool-start">
              <Icon name="play" size={13} /> Start
            </button>
          )}
          <button type="button" className="btn btn-sm btn-ghost btn-icon" onClick={() => ops.askDelete(p)} disabled={ops.busyName === p.name}
                  data-testid="pool-delete" title="Delete pool" aria-label={`Delete pool ${p.name}`}>
            <Icon name="trash" size={15} />
          </button>
        </div>
      ),
    },
  ];

  const pools = q.data?.pools;
  return (
    <>
      <ErrorBanner error={q.error} title="Could not list the storage pools" onRetry={() => void q.refresh()} testId="pools-error" />
      {ops.ui}
      <Card
        bodyless
        title={pools ? `${pools.length} pool${pools.length === 1 ? "" : "s"}` : "Storage pools"}
        extra={
          <div className="split">
            {q.fetching && <Spinner />}
            <button type="button" className="btn btn-sm" onClick={() => void q.refresh()} data-testid="pools-reload">
              <Icon name="refresh" size={14} /> Reload
            </button>
            <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} data-testid="add-pool">
              <Icon name="plus" size={14} /> Create pool
            </button>
          </div>
        }
      >
        <DataTable
          columns={columns}
          rows={pools}
          rowKey={(p) => p.name}
          loading={q.loading}
          testId="pools-table"
          rowTestId="pool-row"
          initialSort={{ key: "name", dir: "asc" }}
          empty={<EmptyState title="No storage pools" testId="pools-empty">Create one to hold VM disks.</EmptyState>}
        />
      </Card>
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
    </>
  );
}

function StoragePage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") || "local";
  const internal = params.get("internal") === "1";
  const nodes = useQuery("list-nodes", {});
  const go = (next: { node?: string; internal?: boolean }) => {
    const q = new URLSearchParams({ node: next.node ?? node });
    if (next.internal ?? internal) q.set("internal", "1");
    router.replace(`/storage/?${q.toString()}`);
  };
  const names = nodes.data?.nodes.map((n) => n.name) ?? [node];
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
            <Field label="Node" name="storage-node">
              <Select id="storage-node" className="select select-sm" value={node} onChange={(e) => go({ node: e.target.value })} data-testid="storage-node">
                {(names.includes(node) ? names : [node, ...names]).map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </Select>
            </Field>
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
