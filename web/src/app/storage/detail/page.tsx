"use client";

import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { ApiError, asApiError } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { demoLimit, useServerInfo } from "@/lib/server";
import { callOp, useOperations } from "@/lib/useOperations";
import { formatBytes, show } from "@/lib/format";
import { CapacityBar } from "@/components/CapacityBar";
import { Column, DataTable, actionsColumn } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { OpButton, opItem } from "@/components/OpButton";
import { EmptyState, LoadingBlock } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { usePoolOps } from "../_components/usePoolOps";
import { Pool, Volume, figuresUnknown, freeText, storageHref } from "../_components/storageUtil";
import { ProblemsBadge } from "../_components/ProblemsBadge";
import { Progress, downloadVolume } from "../_components/transfer";
import { UploadCard } from "./UploadCard";
import { CloneVolumeDialog, CreateVolumeDialog, ResizeVolumeDialog } from "./VolumeDialogs";

const REFRESH_MS = 10_000;

function Volumes({ pool: p, onChanged }: { pool: Pool; onChanged: () => void }) {
  const { node, name, active } = p;
  const q = useQuery("list-volumes", { node, pool: name }, { refreshMs: REFRESH_MS, enabled: active });
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [resizing, setResizing] = useState<Volume | null>(null);
  const [cloning, setCloning] = useState<Volume | null>(null);
  const [downloads, setDownloads] = useState<Record<string, Progress>>({});
  const downloadWhy = demoLimit(useServerInfo(), "volume_download");
  const [transferError, setTransferError] = useState<ApiError | null>(null);
  const changed = () => {
    void q.refresh();
    onChanged();
  };

  const download = async (v: Volume) => {
    setTransferError(null);
    setDownloads((d) => ({ ...d, [v.name]: { loaded: 0, total: 0 } }));
    try {
      await downloadVolume({ node, pool: name, name: v.name }, (p) => setDownloads((d) => ({ ...d, [v.name]: p })));
      toast.success(`Downloaded ${v.name}`);
    } catch (err) {
      setTransferError(asApiError(err, "download-volume"));
    } finally {
      setDownloads(({ [v.name]: _, ...rest }) => rest);
    }
  };

  const ops = useOperations<Volume, "delete">({
    key: (v) => v.name,
    onChanged: changed,
    ops: {
      delete: callOp("delete-volume", (v) => ({ node, pool: name, name: v.name }), (v) => `Volume ${v.name} deleted`, {
        confirm: (v) => ({
          title: `Delete volume ${v.name}?`,
          message: <p>The volume and its data are removed. The server refuses while a VM attaches it or another volume is backed by it.</p>,
          confirmLabel: "Delete volume",
          danger: true,
          typeToConfirm: v.name,
          testId: "delete-volume-dialog",
        }),
      }),
    },
  });

  const columns: Column<Volume>[] = [
    {
      key: "name",
      header: "Name",
      render: (v) => (
        <div>
          <span className="cell-main mono" data-testid="volume-name">{v.name}</span>
          <ProblemsBadge problems={v.problems} testId="volume-problems" />
          {v.backing && <div className="cell-sub" data-testid="volume-backing">on {v.backing.volume ? `${v.backing.pool}/${v.backing.volume}` : v.backing.path}</div>}
        </div>
      ),
    },
    { key: "format", header: "Format", render: (v) => <span data-testid="volume-format">{show(v.format)}</span> },
    { key: "capacity_bytes", header: "Size", align: "num", render: (v) => <span data-testid="volume-capacity">{v.capacity_bytes == null && figuresUnknown(v) ? "unknown" : formatBytes(v.capacity_bytes)}</span> },
    { key: "allocation_bytes", header: "Allocated", align: "num", render: (v) => <span data-testid="volume-allocation">{v.allocation_bytes == null && figuresUnknown(v) ? "unknown" : formatBytes(v.allocation_bytes)}</span> },
    { key: "used_by", header: "Used by", sortValue: (v) => v.used_by.join(","), render: (v) => <span data-testid="volume-used-by">{v.used_by.length ? v.used_by.join(", ") : "—"}</span> },
    actionsColumn((v) => {
        const dl = downloads[v.name];
        return (
          <div className="row-actions">
            <button type="button" className="btn btn-sm" onClick={() => setResizing(v)} data-testid="volume-resize">Resize</button>
            <button type="button" className="btn btn-sm" onClick={() => setCloning(v)} data-testid="volume-clone">Clone</button>
            <button type="button" className="btn btn-sm" onClick={() => void download(v)} disabled={!!dl || !!downloadWhy}
                    title={downloadWhy ? `Disabled in the demo: ${downloadWhy}` : undefined} data-testid="volume-download">
              {dl ? (dl.total ? `${Math.round((dl.loaded / dl.total) * 100)}%` : "…") : "Download"}
            </button>
            <OpButton ops={ops} kind="delete" target={v} icon="trash" look="icon" label="Delete volume" ariaLabel={`Delete volume ${v.name}`} testId="volume-delete" />
          </div>
        );
      }, (v) => [
        { id: "resize", label: "Resize…", onSelect: () => setResizing(v) },
        { id: "clone", label: "Clone…", onSelect: () => setCloning(v) },
        { id: "download", label: "Download", onSelect: () => void download(v), disabled: !!downloads[v.name] || !!downloadWhy,
          reason: downloadWhy ? `Disabled in the demo: ${downloadWhy}` : "Downloading" },
        opItem(ops, "delete", v, "Delete volume…", true),
      ]),
  ];

  return (
    <>
      <ErrorBanner error={transferError} title="The download failed" onDismiss={() => setTransferError(null)} testId="download-error" />
      {ops.ui}
      <Card
        bodyless
        title={q.data ? `${q.data.volumes.length} volume${q.data.volumes.length === 1 ? "" : "s"}` : "Volumes"}
        testId="card-volumes"
        extra={
          <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} disabled={!active} data-testid="add-volume">
            <Icon name="plus" size={14} /> New volume
          </button>
        }
      >
        {!active ? (
          <EmptyState title="The pool is stopped" testId="volumes-inactive">Start it to see and use its volumes.</EmptyState>
        ) : (
          <>
            <ErrorBanner error={q.error} title="Could not list the volumes" onRetry={() => void q.refresh()} testId="volumes-error" />
            <DataTable
              columns={columns}
              rows={q.data?.volumes}
              rowKey={(v) => v.name}
              loading={q.loading}
              testId="volumes-table"
              rowTestId="volume-row"
              initialSort={{ key: "name", dir: "asc" }}
              empty={<EmptyState title="No volumes" testId="volumes-empty">Create or upload one.</EmptyState>}
            />
          </>
        )}
      </Card>
      {active && <UploadCard pool={p} onUploaded={(v) => { toast.success(`Uploaded ${v.name} (${v.format})`); changed(); }} />}
      <CreateVolumeDialog
        open={creating}
        pool={p}
        volumes={q.data?.volumes ?? []}
        onClose={() => setCreating(false)}
        onCreated={(v) => {
          setCreating(false);
          toast.success(`Volume ${v.name} created`);
          changed();
        }}
      />
      <ResizeVolumeDialog
        volume={resizing}
        onClose={() => setResizing(null)}
        onResized={(v, live) => {
          setResizing(null);
          toast.success(`${v.name} is now ${formatBytes(v.capacity_bytes)}${live.length ? ` (live in ${live.join(", ")})` : ""}`);
          changed();
        }}
      />
      <CloneVolumeDialog
        volume={cloning}
        onClose={() => setCloning(null)}
        onCloned={(t) => {
          if (t.state === "succeeded") toast.success(`Clone ${t.resource?.name ?? ""} ready`);
          changed();
        }}
      />
    </>
  );
}

function PoolDetail({ node, name }: { node: string; name: string }) {
  const router = useRouter();
  const q = useQuery("describe-storage-pool", { node, name }, { refreshMs: REFRESH_MS });
  const listHref = storageHref(node);
  const ops = usePoolOps({ onChanged: () => void q.refresh(), onDeleted: () => router.push(listHref) });
  const p = q.data?.pool;
  const autostart = useOperations<{ name: string; autostart?: boolean | null }, "toggle">({
    key: (x) => x.name,
    onChanged: () => void q.refresh(),
    error: { title: "Could not change autostart", testId: "autostart-error" },
    ops: { toggle: callOp("modify-storage-pool", (x) => ({ node, name, autostart: !x.autostart }), () => null) },
  });
  if (q.loading && !p) return <LoadingBlock>Loading pool {name}…</LoadingBlock>;

  return (
    <>
      <PageHeader
        breadcrumb={<><Link href={listHref}>Storage</Link> / {node} / {name}</>}
        title={<><span data-testid="pool-name">{name}</span>{p && <StateBadge state={p.state} testId="pool-detail-state" />}</>}
        subtitle={p ? `${p.type} pool on node ${node}` : undefined}
        actions={
          p && (
            <>
              {p.active ? (
                <>
                  <OpButton ops={ops} kind="refresh" target={p} icon="refresh" look="page" label="Refresh" testId="pool-refresh" />
                  <OpButton ops={ops} kind="stop" target={p} icon="pause" look="page" label="Stop" testId="pool-stop" />
                </>
              ) : (
                <OpButton ops={ops} kind="start" target={p} icon="play" look="page" label="Start" testId="pool-start" />
              )}
              <OpButton ops={ops} kind="delete" target={p} icon="trash" look="danger" label="Delete" testId="pool-delete" />
            </>
          )
        }
      />
      <ErrorBanner error={q.error} title={`Could not read pool ${name}`} onRetry={() => void q.refresh()} testId="pool-error" />
      {autostart.ui}
      {ops.ui}
      {p && (
        <div className="stack">
          <Card title="Pool" testId="card-pool">
            <CapacityBar used={p.allocation_bytes} total={p.capacity_bytes} label="Allocated" testId="pool-detail-capacity" unknown={figuresUnknown(p)} />
            <ProblemsBadge problems={p.problems} testId="pool-detail-problems" />
            <dl className="kv" style={{ marginTop: 14 }}>
              <dt>Type</dt>
              <dd data-testid="detail-type">{p.type}</dd>
              <dt>Path</dt>
              <dd className="mono" data-testid="detail-path">{show(p.path)}</dd>
              <dt>Free</dt>
              <dd data-testid="detail-free">{freeText(p)}</dd>
              <dt>Autostart</dt>
              <dd>
                <span data-testid="detail-autostart">{p.autostart ? "yes" : "no"}</span>{" "}
                <button type="button" className="btn btn-sm btn-link" onClick={() => autostart.run("toggle", p)} data-testid="toggle-autostart">
                  {p.autostart ? "turn off" : "turn on"}
                </button>
              </dd>
              <dt>UUID</dt>
              <dd className="mono muted">{p.uuid}</dd>
            </dl>
          </Card>
          <Volumes key={`${p.active}`} pool={p} onChanged={() => void q.refresh()} />
        </div>
      )}
    </>
  );
}

function DetailPage() {
  const params = useSearchParams();
  const node = params.get("node") || "local";
  const name = params.get("name");
  if (!name) {
    return <EmptyState title="No pool given" testId="pool-missing">Open a pool from the <Link href="/storage/">Storage</Link> page.</EmptyState>;
  }
  return <PoolDetail key={`${node}/${name}`} node={node} name={name} />;
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <DetailPage />
    </Suspense>
  );
}
