"use client";

import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Column, DataTable } from "@/components/DataTable";
import { Field, Select } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { Tabs } from "@/components/Tabs";
import { useToast } from "@/components/Toast";
import { BridgesTab } from "./_components/BridgesTab";
import { NetworkFormDialog } from "./_components/NetworkFormDialog";
import { useNetworkOps } from "./_components/useNetworkOps";
import { Network, cidrText, dhcpText, ipOf, networkHref } from "./_components/netUtil";

const REFRESH_MS = 10_000;

function NetworksTab({ node }: { node: string }) {
  const q = useQuery("list-networks", { node }, { refreshMs: REFRESH_MS });
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const ops = useNetworkOps({ onChanged: () => void q.refresh() });

  const columns: Column<Network>[] = [
    {
      key: "name",
      header: "Name",
      render: (n) => (
        <div>
          <Link href={networkHref(node, n.name)} className="cell-main" data-testid="network-link">
            {n.name}
          </Link>
          <div className="cell-sub mono">{n.bridge ?? ""}</div>
        </div>
      ),
    },
    { key: "mode", header: "Mode", render: (n) => <span data-testid="network-mode">{n.mode}</span> },
    {
      key: "subnet",
      header: "Subnet",
      sortValue: (n) => cidrText(ipOf(n.ipv4)) ?? cidrText(ipOf(n.ipv6)),
      render: (n) => {
        const v4 = cidrText(ipOf(n.ipv4));
        const v6 = cidrText(ipOf(n.ipv6));
        return (
          <div className="mono" data-testid="network-subnet">
            {v4 ?? (v6 ? null : "—")}
            {v6 && <div className={v4 ? "cell-sub" : undefined}>{v6}</div>}
          </div>
        );
      },
    },
    { key: "dhcp", header: "DHCP range", sortable: false, render: (n) => <span className="mono" data-testid="network-dhcp">{dhcpText(ipOf(n.ipv4))}</span> },
    { key: "state", header: "State", render: (n) => <StateBadge state={n.state} testId="network-state" /> },
    { key: "autostart", header: "Autostart", render: (n) => (n.autostart ? <span className="yes">yes</span> : <span className="no">no</span>) },
    {
      key: "vm_count",
      header: "VMs",
      align: "num",
      render: (n) => (
        <span data-testid="network-vms" title={n.vms.join(", ")}>
          {n.vm_count}
        </span>
      ),
    },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (n) => (
        <div className="row-actions">
          {n.state === "active" ? (
            <button type="button" className="btn btn-sm" onClick={() => ops.askStop(n)} disabled={ops.busyName === n.name} data-testid="network-stop">
              <Icon name="pause" size={13} /> Stop
            </button>
          ) : (
            <button type="button" className="btn btn-sm" onClick={() => void ops.start(n)} disabled={ops.busyName === n.name} data-testid="network-start">
              <Icon name="play" size={13} /> Start
            </button>
          )}
          <button
            type="button"
            className="btn btn-sm btn-ghost btn-icon"
            onClick={() => ops.askDelete(n)}
            disabled={ops.busyName === n.name}
            data-testid="network-delete"
            title="Delete network"
            aria-label={`Delete network ${n.name}`}
          >
            <Icon name="trash" size={15} />
          </button>
        </div>
      ),
    },
  ];

  const nets = q.data?.networks;
  return (
    <>
      <ErrorBanner error={q.error} title="Could not list the networks" onRetry={() => void q.refresh()} testId="networks-error" />
      {ops.ui}
      <Card
        bodyless
        title={nets ? `${nets.length} network${nets.length === 1 ? "" : "s"}` : "Networks"}
        extra={
          <div className="split">
            {q.fetching && <Spinner />}
            <button type="button" className="btn btn-sm" onClick={() => void q.refresh()} data-testid="networks-refresh">
              <Icon name="refresh" size={14} /> Refresh
            </button>
            <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} data-testid="add-network">
              <Icon name="plus" size={14} /> Create network
            </button>
          </div>
        }
      >
        <DataTable
          columns={columns}
          rows={nets}
          rowKey={(n) => n.name}
          loading={q.loading}
          testId="networks-table"
          rowTestId="network-row"
          initialSort={{ key: "name", dir: "asc" }}
          empty={<EmptyState title="No networks" testId="networks-empty">Create one to give VMs a network.</EmptyState>}
        />
      </Card>
      <NetworkFormDialog
        open={creating}
        node={node}
        onClose={() => setCreating(false)}
        onCreated={(n) => {
          setCreating(false);
          toast.success(`Network ${n.name} created (${n.state})`);
          void q.refresh();
        }}
      />
    </>
  );
}

function NetworksPage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") || "local";
  const tab = params.get("tab") === "bridges" ? "bridges" : "networks";
  const nodes = useQuery("list-nodes", {});
  const go = (next: { node?: string; tab?: string }) => {
    const q = new URLSearchParams({ node: next.node ?? node, tab: next.tab ?? tab });
    router.replace(`/networks/?${q.toString()}`);
  };
  const names = nodes.data?.nodes.map((n) => n.name) ?? [node];
  return (
    <>
      <PageHeader
        title="Networks"
        subtitle="libvirt networks with their subnets, DHCP and static hosts; host bridges of the local node."
        actions={
          <Field label="Node" name="networks-node">
            <Select id="networks-node" className="select select-sm" value={node} onChange={(e) => go({ node: e.target.value })} data-testid="networks-node">
              {(names.includes(node) ? names : [node, ...names]).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </Select>
          </Field>
        }
      />
      <Tabs
        tabs={[
          { id: "networks", label: "Networks" },
          { id: "bridges", label: "Bridges" },
        ]}
        active={tab}
        onChange={(id) => go({ tab: id })}
        testId="networks-tabs"
      />
      {tab === "networks" ? <NetworksTab key={node} node={node} /> : <BridgesTab key={node} node={node} />}
    </>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <NetworksPage />
    </Suspense>
  );
}
