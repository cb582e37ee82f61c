"use client";

import Link from "next/link";
import { Suspense, useEffect, useRef, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { isNodeEvent } from "@/lib/events";
import { formatTime, show } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { EmptyState, LoadingBlock } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { NodeFormDialog } from "../_components/NodeFormDialog";
import { useNodeOps } from "../_components/useNodeOps";
import { vmCounts } from "../_components/nodeUtil";
import { Labels } from "../_components/Labels";
import { SummaryCards } from "./SummaryCards";
import { DeviceTabs } from "./DeviceTabs";
import { NodeMetricsSection } from "./NodeMetrics";
import { WindowId, windowOf } from "@/lib/metrics";
import { EvacuateDialog } from "./EvacuateDialog";

const REFRESH_MS = 10_000;

function NodeDetail({ name, windowId }: { name: string; windowId: WindowId }) {
  const router = useRouter();
  const showWindow = (w: WindowId) => {
    const q = new URLSearchParams({ name });
    if (w !== "1h") q.set("window", w);
    router.replace(`/nodes/detail/?${q.toString()}`, { scroll: false });
  };
  const toast = useToast();
  const node = useQuery("describe-node", { name }, { refreshMs: REFRESH_MS, live: isNodeEvent(name) });
  const summary = useQuery("describe-node-summary", { name });
  const [editing, setEditing] = useState(false);
  const [evacuating, setEvacuating] = useState(false);
  const ops = useNodeOps({
    onChanged: () => void node.refresh(),
    onDeleted: () => router.push("/nodes/"),
  });
  const n = node.data?.node;
  const wasReachable = useRef<boolean | undefined>(undefined);
  const refreshSummary = summary.refresh;
  useEffect(() => {
    if (n && n.reachable && wasReachable.current === false) void refreshSummary();
    wasReachable.current = n?.reachable;
  }, [n, refreshSummary]);

  if (node.loading && !n) return <LoadingBlock>Loading node {name}…</LoadingBlock>;

  const counts = n ? vmCounts(n) : null;
  const reachable = !n || n.reachable;
  const hostCard = n && (
    <Card title="Host" testId="card-host">
      <dl className="kv">
        <dt>Hostname</dt>
        <dd data-testid="host-hostname">{show(n.hostname)}</dd>
        <dt>Hypervisor</dt>
        <dd>{show(n.hypervisor)}</dd>
        <dt>libvirt</dt>
        <dd>{show(n.libvirt_version)}</dd>
        <dt>Architecture</dt>
        <dd>{show(n.arch)}</dd>
        <dt>VMs</dt>
        <dd>{counts ? `${counts.running} running / ${counts.total} total` : "—"}</dd>
        <dt>Description</dt>
        <dd>{show(n.description)}</dd>
        <dt>Labels</dt>
        <dd>
          <Labels labels={n.labels} />
        </dd>
        <dt>Added</dt>
        <dd>{formatTime(n.created_at)}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(n.updated_at)}</dd>
      </dl>
    </Card>
  );
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link href="/nodes/">Nodes</Link> / {name}
          </>
        }
        title={
          <>
            <span data-testid="node-name">{name}</span>
            {n && <StateBadge state={n.state} testId="node-detail-state" />}
            {n?.local && <span className="badge badge-neutral">local</span>}
          </>
        }
        subtitle={n ? <span className="mono">{n.uri}</span> : undefined}
        actions={
          n && (
            <>
              <button type="button" className="btn" onClick={() => void Promise.all([node.refresh(), summary.refresh()])} data-testid="node-refresh">
                <Icon name="refresh" size={15} /> Refresh
              </button>
              <button type="button" className="btn" onClick={() => setEditing(true)} data-testid="node-edit">
                <Icon name="edit" size={15} /> Edit
              </button>
              <button type="button" className="btn" onClick={() => setEvacuating(true)} data-testid="node-evacuate">
                Evacuate
              </button>
              {n.maintenance ? (
                <OpButton ops={ops} kind="enable" target={n} icon="play" look="page" label="Leave maintenance" testId="node-enable" />
              ) : (
                <OpButton ops={ops} kind="disable" target={n} icon="pause" look="page" label="Maintenance" testId="node-disable" />
              )}
              {!n.local && <OpButton ops={ops} kind="delete" target={n} icon="trash" look="danger" label="Delete" testId="node-delete" />}
            </>
          )
        }
      />
      <ErrorBanner error={node.error} title={`Could not read node ${name}`} onRetry={() => void node.refresh()} testId="node-error" />
      {ops.ui}
      <EvacuateDialog node={name} open={evacuating} onClose={() => setEvacuating(false)} onDone={() => void node.refresh()} />
      {n?.maintenance && (
        <Alert tone="warning" title="In maintenance" testId="node-maintenance-note">
          Creating or placing resources on this node is refused; running VMs keep running and stay manageable.
        </Alert>
      )}
      {n && !n.reachable && n.last_error && (
        <Alert tone="danger" title="Node unreachable" testId="node-unreachable">
          {n.last_error}
          <div className="small" style={{ marginTop: 4 }}>
            Hardware details and devices appear when the node answers again (checked every 10 seconds).
          </div>
        </Alert>
      )}
      {/* An unreachable node is said once (above); its summary and devices would only repeat the error. */}
      {reachable && (
        <ErrorBanner error={summary.error} title="Could not read the node's hardware summary" onRetry={() => void summary.refresh()} testId="summary-error" />
      )}
      <SummaryCards s={reachable ? summary.data?.summary : undefined} leading={hostCard} />
      {reachable && summary.loading && <LoadingBlock testId="summary-loading">Reading the hardware summary…</LoadingBlock>}
      {n && <NodeMetricsSection name={name} windowId={windowId} onWindow={showWindow} />}
      {n && reachable && <DeviceTabs name={name} />}
      {n && (
        <NodeFormDialog
          open={editing}
          node={n}
          onClose={() => setEditing(false)}
          onSaved={(saved) => {
            setEditing(false);
            toast.success(`Node ${saved.name} saved`);
            void node.refresh();
          }}
        />
      )}
    </>
  );
}

function DetailFromQuery() {
  const params = useSearchParams();
  const name = params.get("name");
  if (!name)
    return (
      <EmptyState title="No node selected" action={<Link className="btn" href="/nodes/">Back to nodes</Link>}>
        Open a node from the nodes list.
      </EmptyState>
    );
  return <NodeDetail key={name} name={name} windowId={windowOf(params.get("window")).id} />;
}

export default function NodeDetailPage() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <DetailFromQuery />
    </Suspense>
  );
}
