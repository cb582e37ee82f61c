// Snapshot helpers shared by the Snapshots page and the VM page's snapshot card.
import type { Schema } from "@/lib/api";

export type Snapshot = Schema<"Snapshot">;

/** A snapshot with its depth in its VM's tree (0 = a root). */
export interface TreeRow {
  snap: Snapshot;
  depth: number;
  last: boolean;
}

/** Depth-first order of one VM's snapshots: each parent followed by its children (oldest first), as the
 * server lists them (`children` in creation order). Snapshots whose parent is not in the list are roots. */
export function treeRows(snaps: Snapshot[]): TreeRow[] {
  const byName = new Map(snaps.map((s) => [s.name, s]));
  const roots = snaps.filter((s) => !s.parent || !byName.has(s.parent));
  const out: TreeRow[] = [];
  const seen = new Set<string>();
  const walk = (s: Snapshot, depth: number, last: boolean) => {
    if (seen.has(s.name)) return;
    seen.add(s.name);
    out.push({ snap: s, depth, last });
    const kids = s.children.map((c) => byName.get(c)).filter((c): c is Snapshot => !!c);
    kids.forEach((c, i) => walk(c, depth + 1, i === kids.length - 1));
  };
  roots.forEach((r, i) => walk(r, 0, i === roots.length - 1));
  for (const s of snaps) if (!seen.has(s.name)) out.push({ snap: s, depth: 0, last: true }); // a broken chain
  return out;
}

/** The snapshots of each VM, VMs in name order. */
export function byVm(snaps: Snapshot[]): [string, Snapshot[]][] {
  const groups = new Map<string, Snapshot[]>();
  for (const s of snaps) groups.set(s.vm, [...(groups.get(s.vm) ?? []), s]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** Whether a VM in this state can have its memory saved. */
export function memoryAllowed(state: string | null | undefined): boolean {
  return state === "running" || state === "paused";
}

export function snapshotsHref(node: string, vm?: string): string {
  const q = new URLSearchParams({ node });
  if (vm) q.set("vm", vm);
  return `/snapshots/?${q.toString()}`;
}
