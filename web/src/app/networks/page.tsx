"use client";

import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { Column, actionsColumn } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { OpButton, opItem } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { NodeSelect } from "@/components/NodeSelect";
import { LoadingBlock } from "@/components/Loading";
import { PageHeader } from "@/components/PageHeader";
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
        // networks made outside JVP can hold several blocks: the first of each family here, all on the detail page
        const more = (n.ips ?? []).length - (v4 ? 1 : 0) - (v6 ? 1 : 0);
        return (
          <>
            <div className="mono" data-testid="network-subnet">
              {v4 ?? (v6 ? null : "—")}
              {v6 && <div className={v4 ? "cell-sub" : undefined}>{v6}</div>}
            </div>
            {more > 0 && (
              <div className="cell-sub" data-testid="network-more-blocks">
                +{more} more block{more > 1 ? "s" : ""}
              </div>
            )}
          </>
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
    actionsColumn((n) => (
        <div className="row-actions">
          {n.state === "active" ? (
            <OpButton ops={ops} kind="stop" target={n} icon="pause" label="Stop" testId="network-stop" />
          ) : (
            <OpButton ops={ops} kind="start" target={n} icon="play" label="Start" testId="network-start" />
          )}
          <OpButton ops={ops} kind="delete" target={n} icon="trash" look="icon" label="Delete network" ariaLabel={`Delete network ${n.name}`} testId="network-delete" />
        </div>
      ), (n) => [
        n.state === "active" ? opItem(ops, "stop", n, "Stop…") : opItem(ops, "start", n, "Start"),
        opItem(ops, "delete", n, "Delete network…", true),
      ]),
  ];

  return (
    <ListPage
      query={q}
      testId="networks"
      errorTitle="Could not list the networks"
      notices={ops.ui}
      count={{ noun: "network", fallback: "Networks" }}
      cardActions={
        <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} data-testid="add-network">
          <Icon name="plus" size={14} /> Create network
        </button>
      }
      table={{ columns, rows: q.data?.networks, rowKey: (n) => n.name, rowTestId: "network-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No networks", hint: "Create one to give VMs a network." }}
    >
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
    </ListPage>
  );
}

function NetworksPage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") || "local";
  const tab = params.get("tab") === "bridges" ? "bridges" : "networks";
  const go = (next: { node?: string; tab?: string }) => {
    const q = new URLSearchParams({ node: next.node ?? node, tab: next.tab ?? tab });
    router.replace(`/networks/?${q.toString()}`);
  };
  return (
    <>
      <PageHeader
        title="Networks"
        subtitle="libvirt networks with their subnets, DHCP and static hosts; host bridges of the local node."
        actions={
          <NodeSelect id="networks-node" value={node} onChange={(n) => go({ node: n })} />
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
