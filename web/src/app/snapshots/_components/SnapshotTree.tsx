"use client";

// One VM's snapshots as a tree (each snapshot under its parent), with every action, and the card the VM
// page shows (VmSnapshots: fetches the VM's snapshots itself).
import Link from "next/link";
import { useState } from "react";
import { useQuery } from "@/lib/hooks";
import { formatTime } from "@/lib/format";
import { ActionMenu } from "@/components/ActionMenu";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import type { Task } from "@/components/TaskProgress";
import { CloneSnapshotDialog, CreateSnapshotDialog, ExportSnapshotDialog, useSnapshotOps } from "./SnapshotDialogs";
import { Snapshot, snapshotsHref, treeRows } from "./snapshotUtil";

type Pending = { kind: "clone" | "export"; snap: Snapshot } | null;

/** The tree of one VM's snapshots. `onChanged` after any action (the caller refreshes its data). */
export function SnapshotTree({ snapshots, onChanged, testId = "snapshot-tree" }: {
  snapshots: Snapshot[];
  onChanged: () => void;
  testId?: string;
}) {
  const toast = useToast();
  const [pending, setPending] = useState<Pending>(null);
  const close = () => setPending(null);
  const ops = useSnapshotOps(onChanged);
  const of = (kind: NonNullable<Pending>["kind"]) => (pending?.kind === kind ? pending.snap : null);
  const taskDone = (what: string) => (task: Task) => {
    onChanged();
    if (task.state === "succeeded") toast.success(task.message ?? what);
    else toast.error(`${what}: ${task.error?.message ?? task.state}`);
  };
  type Kind = NonNullable<Pending>["kind"] | "revert" | "delete";
  const run = (kind: Kind, snap: Snapshot) =>
    kind === "revert" || kind === "delete" ? ops.run(kind, snap) : setPending({ kind, snap });
  // one list for the row's buttons and, on a phone, its menu (the buttons would cover the row's cells)
  const ACTIONS: { kind: Kind; label: string; icon: "refresh" | "trash" | "copy" | "template" }[] = [
    { kind: "revert", label: "Revert", icon: "refresh" },
    { kind: "clone", label: "Clone", icon: "copy" },
    { kind: "export", label: "Template", icon: "template" },
    { kind: "delete", label: "Delete", icon: "trash" },
  ];
  const button = (kind: Kind, snap: Snapshot, label: string, icon: (typeof ACTIONS)[number]["icon"]) =>
    kind === "delete" ? (
      <button key={kind} type="button" className="btn btn-sm btn-ghost btn-icon" title="Delete snapshot"
              aria-label={`Delete snapshot ${snap.name}`} onClick={() => run(kind, snap)} data-testid={`snapshot-${kind}-${snap.name}`}>
        <Icon name={icon} size={15} />
      </button>
    ) : (
      <button key={kind} type="button" className="btn btn-sm" title={label} onClick={() => run(kind, snap)}
              data-testid={`snapshot-${kind}-${snap.name}`}>
        <Icon name={icon} size={14} /> {label}
      </button>
    );
  return (
    <>
      <div className="table-wrap">
      <table className="table" data-testid={testId}>
        <thead>
          <tr>
            <th>Snapshot</th>
            <th>Taken</th>
            <th>VM was</th>
            <th>Memory</th>
            <th>Revert leaves it</th>
            <th>Description</th>
            <th className="actions-col" />
          </tr>
        </thead>
        <tbody>
          {treeRows(snapshots).map(({ snap, depth }) => (
            <tr key={snap.name} data-testid={`snapshot-row-${snap.name}`} data-depth={depth} data-parent={snap.parent ?? ""}>
              <td>
                <span style={{ paddingLeft: depth * 18, display: "inline-flex", gap: 6, alignItems: "center" }}>
                  {depth > 0 && <span className="muted">└</span>}
                  <Icon name="snapshot" size={14} />
                  <span className="cell-main" data-testid="snapshot-name">{snap.name}</span>
                  {snap.current && <span className="chip" data-testid="snapshot-current">current</span>}
                </span>
              </td>
              <td className="small">{formatTime(snap.created_at)}</td>
              <td>
                <StateBadge state={snap.state} testId="snapshot-state" />
                {snap.quiesced === false && <div className="cell-sub" title="The guest agent did not answer: crash-consistent">not quiesced</div>}
              </td>
              <td data-testid="snapshot-memory">{snap.has_memory ? "yes" : "no"}</td>
              <td><StateBadge state={snap.revert_state} testId="snapshot-revert-state" /></td>
              <td className="small">{snap.description || <span className="muted">—</span>}</td>
              <td className="actions-col">
                <div className="row-actions-wide">
                  <div className="row-actions">{ACTIONS.map((a) => button(a.kind, snap, a.label, a.icon))}</div>
                </div>
                <div className="row-actions-narrow">
                  <ActionMenu label={`Actions on snapshot ${snap.name}`} icon="more" testId={`snapshot-menu-${snap.name}`}
                              items={ACTIONS.map((a) => ({ id: a.kind, label: a.kind === "export" ? "Export as template…" : `${a.label}…`,
                                                          onSelect: () => run(a.kind, snap), danger: a.kind === "delete" }))} />
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      {ops.ui}
      <CloneSnapshotDialog snap={of("clone")} onClose={close} onDone={taskDone("Clone")} />
      <ExportSnapshotDialog snap={of("export")} onClose={close} onDone={taskDone("Export")} />
    </>
  );
}

/** The snapshots of one VM, for the VM page: the tree and a button to take one. */
export function VmSnapshots({ node, vm, vmState }: { node: string; vm: string; vmState?: string | null }) {
  const q = useQuery("list-snapshots", { node, vm }, { refreshMs: 10_000 });
  const [creating, setCreating] = useState(false);
  const toast = useToast();
  const snaps = q.data?.snapshots ?? [];
  // The dialog stays outside the card: the card's body changes shape when the first snapshot appears, which
  // would remount (and reset) anything inside it.
  return (
    <>
      <Card
        title={<>Snapshots {q.fetching && <Spinner />}</>}
        testId="vm-snapshots"
        extra={
          <span className="split">
            <Link href={snapshotsHref(node, vm)} className="btn btn-sm btn-ghost" data-testid="vm-snapshots-page">All snapshots</Link>
            <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} data-testid="vm-snapshot-take">
              <Icon name="plus" size={14} /> Take snapshot
            </button>
          </span>
        }
        bodyless={snaps.length > 0}
      >
        <ErrorBanner error={q.error} title="Could not list the snapshots" onRetry={() => void q.refresh()} testId="vm-snapshots-error" />
        {q.loading ? (
          <LoadingBlock>Loading snapshots…</LoadingBlock>
        ) : snaps.length ? (
          <SnapshotTree snapshots={snaps} onChanged={() => void q.refresh()} />
        ) : (
          !q.error && <EmptyState title="No snapshots yet" testId="vm-snapshots-empty">A snapshot keeps the disks (and, if asked, the memory) to come back to.</EmptyState>
        )}
      </Card>
      <CreateSnapshotDialog open={creating} node={node} vm={vm} vmState={vmState} onClose={() => setCreating(false)} onDone={(task) => {
        void q.refresh();
        if (task.state === "succeeded") toast.success(task.message ?? "Snapshot taken");
        else toast.error(`Snapshot: ${task.error?.message ?? task.state}`);
      }} />
    </>
  );
}
