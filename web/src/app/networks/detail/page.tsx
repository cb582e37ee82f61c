"use client";

import Link from "next/link";
import { Suspense } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { callOp, useOperations } from "@/lib/useOperations";
import { formatTime, show } from "@/lib/format";
import { Column, DataTable } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { EmptyState, LoadingBlock } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import type { Schema } from "@/lib/api";
import { useNetworkOps } from "../_components/useNetworkOps";
import { cidrText, dhcpText, ipOf } from "../_components/netUtil";
import { BlocksCard } from "./BlocksCard";
import { HostsCard } from "./HostsCard";

const REFRESH_MS = 10_000;
type Lease = Schema<"NetworkLease">;

const leaseColumns: Column<Lease>[] = [
  { key: "ip", header: "IP", render: (l) => <span className="mono cell-main">{l.ip}{l.prefix != null ? `/${l.prefix}` : ""}</span> },
  { key: "mac", header: "MAC", render: (l) => <span className="mono">{show(l.mac)}</span> },
  { key: "hostname", header: "Hostname" },
  { key: "type", header: "Type" },
  { key: "expires_at", header: "Expires", render: (l) => (l.expires_at ? formatTime(l.expires_at) : "never") },
];

function Leases({ node, name }: { node: string; name: string }) {
  const q = useQuery("list-network-leases", { node, name }, { refreshMs: 15_000 });
  return (
    <Card bodyless title="DHCP leases" testId="card-leases">
      {q.error && (
        <div className="card-body">
          <ErrorBanner error={q.error} title="Could not read the leases" testId="leases-error" />
        </div>
      )}
      {!q.error && (
        <DataTable
          columns={leaseColumns}
          rows={q.data?.leases}
          rowKey={(l) => `${l.type}-${l.ip}`}
          loading={q.loading}
          testId="leases-table"
          rowTestId="lease-row"
          initialSort={{ key: "ip", dir: "asc" }}
          empty={<EmptyState title="No leases" testId="leases-empty">No guest holds a DHCP lease on this network.</EmptyState>}
        />
      )}
    </Card>
  );
}

/** The blocks card when the settings' summary (first IPv4/IPv6 block, first range) does not say it all. */
function showBlocks(n: Schema<"Network">): boolean {
  const ips = n.ips ?? [];
  return ips.length > 1 || ips.some((b) => b.ranges.length > 1 || (b.family === "ipv6" && b.hosts.length > 0) || !!b.tftp_root || !!b.bootp_file);
}

function NetworkDetail({ node, name }: { node: string; name: string }) {
  const router = useRouter();
  const q = useQuery("describe-network", { node, name }, { refreshMs: REFRESH_MS });
  const listHref = `/networks/?node=${encodeURIComponent(node)}`;
  const ops = useNetworkOps({ onChanged: () => void q.refresh(), onDeleted: () => router.push(listHref) });
  const n = q.data?.network;
  const autostart = useOperations<{ name: string; autostart?: boolean | null }, "toggle">({
    key: (x) => x.name,
    onChanged: () => void q.refresh(),
    error: { title: "Could not change autostart", testId: "autostart-error" },
    ops: { toggle: callOp("modify-network", (x) => ({ node, name, autostart: !x.autostart }), () => null) },
  });

  if (q.loading && !n) return <LoadingBlock>Loading network {name}…</LoadingBlock>;

  const v4 = ipOf(n?.ipv4);
  const v6 = ipOf(n?.ipv6);
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link href={listHref}>Networks</Link> / {node} / {name}
          </>
        }
        title={
          <>
            <span data-testid="network-name">{name}</span>
            {n && <StateBadge state={n.state} testId="network-detail-state" />}
          </>
        }
        subtitle={n ? `${n.mode} network on node ${node}` : undefined}
        actions={
          n && (
            <>
              <button type="button" className="btn" onClick={() => void q.refresh()} data-testid="network-refresh">
                <Icon name="refresh" size={15} /> Refresh
              </button>
              {n.state === "active" ? (
                <OpButton ops={ops} kind="stop" target={n} icon="pause" look="page" label="Stop" testId="network-stop" />
              ) : (
                <OpButton ops={ops} kind="start" target={n} icon="play" look="page" label="Start" testId="network-start" />
              )}
              <OpButton ops={ops} kind="delete" target={n} icon="trash" look="danger" label="Delete" testId="network-delete" />
            </>
          )
        }
      />
      <ErrorBanner error={q.error} title={`Could not read network ${name}`} onRetry={() => void q.refresh()} testId="network-error" />
      {autostart.ui}
      {ops.ui}
      {n && (
        <div className="stack">
          {(n.problems ?? []).length > 0 && (
            <Card title="Problems" testId="card-problems">
              {(n.problems ?? []).map((p, i) => (
                <div key={i} data-testid="network-problem">
                  <span className="mono">{p.code}</span>: {p.message}
                </div>
              ))}
            </Card>
          )}
          <Card title="Settings" testId="card-settings">
            <dl className="kv">
              <dt>Mode</dt>
              <dd data-testid="detail-mode">
                {n.mode}
                {n.forward_dev ? <span className="muted"> via {n.forward_dev}</span> : null}
                {n.forward_interfaces?.length ? <span className="muted mono"> ({n.forward_interfaces.join(", ")})</span> : null}
              </dd>
              <dt>Bridge</dt>
              <dd className="mono" data-testid="detail-bridge">{show(n.bridge)}</dd>
              <dt>IPv4</dt>
              <dd className="mono" data-testid="detail-ipv4">{show(cidrText(v4))}</dd>
              <dt>DHCP range</dt>
              <dd className="mono" data-testid="detail-dhcp">{dhcpText(v4)}</dd>
              <dt>IPv6</dt>
              <dd className="mono">{show(cidrText(v6))}</dd>
              <dt>Domain</dt>
              <dd>{show(n.domain)}</dd>
              <dt>MTU</dt>
              <dd data-testid="detail-mtu">{show(n.mtu)}</dd>
              <dt>Autostart</dt>
              <dd>
                <span data-testid="detail-autostart">{n.autostart ? "yes" : "no"}</span>{" "}
                <button type="button" className="btn btn-sm btn-link" onClick={() => autostart.run("toggle", n)} data-testid="toggle-autostart">
                  {n.autostart ? "turn off" : "turn on"}
                </button>
              </dd>
              <dt>Persistent</dt>
              <dd>{show(n.persistent)}</dd>
              <dt>VMs</dt>
              <dd data-testid="detail-vms">{n.vms.length ? n.vms.join(", ") : "none"}</dd>
              <dt>UUID</dt>
              <dd className="mono muted">{n.uuid}</dd>
            </dl>
          </Card>
          {showBlocks(n) && <BlocksCard net={n} />}
          {v4 && <HostsCard net={n} onChanged={() => void q.refresh()} />}
          {n.state === "active" && v4 && <Leases node={node} name={name} />}
        </div>
      )}
    </>
  );
}

function DetailFromQuery() {
  const params = useSearchParams();
  const name = params.get("name");
  const node = params.get("node") || "local";
  if (!name)
    return (
      <EmptyState title="No network selected" action={<Link className="btn" href="/networks/">Back to networks</Link>}>
        Open a network from the networks list.
      </EmptyState>
    );
  return <NetworkDetail key={`${node}/${name}`} node={node} name={name} />;
}

export default function NetworkDetailPage() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <DetailFromQuery />
    </Suspense>
  );
}
