"use client";

// /snapshots/?node=<node>[&vm=<vm>]: the snapshots of every VM of a node (or of one VM), each VM's as a tree.
import Link from "next/link";
import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { NodeSelect } from "@/components/NodeSelect";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { vmHref } from "../vms/_components/vmUtil";
import { CreateSnapshotDialog } from "./_components/SnapshotDialogs";
import { SnapshotTree } from "./_components/SnapshotTree";
import { byVm, snapshotsHref } from "./_components/snapshotUtil";

const REFRESH_MS = 10_000;

function SnapshotsView({ node, vm }: { node: string; vm: string }) {
  const router = useRouter();
  const toast = useToast();
  const vms = useQuery("list-vms", { node }, { refreshMs: REFRESH_MS });
  const q = useQuery("list-snapshots", vm ? { node, vm } : { node }, { refreshMs: REFRESH_MS });
  const [creating, setCreating] = useState<string | null | undefined>(undefined); // undefined: closed; null: choose a VM
  const refresh = () => {
    void q.refresh();
    void vms.refresh();
  };
  const vmList = (vms.data?.vms ?? []).map((v) => ({ name: v.name, state: v.state }));
  const stateOf = (name: string) => vmList.find((v) => v.name === name)?.state;
  const groups = byVm(q.data?.snapshots ?? []);
  const total = q.data?.snapshots.length;

  return (
    <>
      <PageHeader
        title={<>Snapshots {q.fetching && <Spinner />}</>}
        subtitle={`Internal qcow2 snapshots of ${vm ? `VM ${vm}` : "every VM"} on node ${node}: revert, clone into a new VM, or export as a template.`}
        actions={
          <button type="button" className="btn btn-primary" onClick={() => setCreating(vm || null)} data-testid="snapshot-take" disabled={!vm && !vmList.length}>
            <Icon name="plus" size={15} /> Take snapshot
          </button>
        }
      />
      <Card testId="snapshots-filters">
        <div className="filters">
          <NodeSelect id="snapshots-node" value={node} onChange={(n) => router.replace(snapshotsHref(n))} />
          <Field label="VM" name="snapshots-vm">
            <Select id="snapshots-vm" className="select select-sm" value={vm} onChange={(e) => router.replace(snapshotsHref(node, e.target.value || undefined))} data-testid="snapshots-vm">
              <option value="">Every VM</option>
              {(vm && !vmList.some((v) => v.name === vm) ? [{ name: vm, state: "" }, ...vmList] : vmList).map((v) => (
                <option key={v.name} value={v.name}>
                  {v.name}
                </option>
              ))}
            </Select>
          </Field>
          {total != null && <span className="muted small" data-testid="snapshots-count">{total} snapshot{total === 1 ? "" : "s"}</span>}
        </div>
      </Card>
      <ErrorBanner error={q.error} title="Could not list the snapshots" onRetry={() => void q.refresh()} testId="snapshots-error" />
      {q.loading && <LoadingBlock>Loading snapshots…</LoadingBlock>}
      {!q.loading && !q.error && groups.length === 0 && (
        <EmptyState title={vm ? `VM ${vm} has no snapshots` : `No snapshots on node ${node}`} testId="snapshots-empty">
          Take one to keep a VM&apos;s disks (and, if asked, its memory) to come back to.
        </EmptyState>
      )}
      <div className="stack">
        {groups.map(([name, snaps]) => (
          <Card
            key={name}
            testId={`snapshots-vm-${name}`}
            title={
              <span className="split">
                <Link href={vmHref(node, name)} data-testid="snapshots-vm-link">{name}</Link>
                <StateBadge state={stateOf(name)} testId="snapshots-vm-state" />
              </span>
            }
            extra={
              <button type="button" className="btn btn-sm" onClick={() => setCreating(name)} data-testid={`snapshot-take-${name}`}>
                <Icon name="plus" size={14} /> Take snapshot
              </button>
            }
            bodyless
          >
            <SnapshotTree snapshots={snaps} onChanged={refresh} testId={`snapshot-tree-${name}`} />
          </Card>
        ))}
      </div>
      <CreateSnapshotDialog
        open={creating !== undefined}
        node={node}
        vm={creating ?? null}
        vmState={creating ? stateOf(creating) : undefined}
        vms={vmList}
        onClose={() => setCreating(undefined)}
        onDone={(task) => {
          refresh();
          if (task.state === "succeeded") toast.success(task.message ?? "Snapshot taken");
          else toast.error(`Snapshot: ${task.error?.message ?? task.state}`);
        }}
      />
    </>
  );
}

function SnapshotsPage() {
  const params = useSearchParams();
  const node = params.get("node") || "local";
  const vm = params.get("vm") || "";
  return <SnapshotsView key={`${node}/${vm}`} node={node} vm={vm} />;
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <SnapshotsPage />
    </Suspense>
  );
}
