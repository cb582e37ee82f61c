"use client";

import { useState } from "react";
import { call } from "@/lib/api";
import { Operations, callOp, useOperations } from "@/lib/useOperations";
import type { Pool } from "./storageUtil";

type Target = Pick<Pool, "name" | "node" | "volume_count" | "type">;
const target = (p: Target) => ({ node: p.node, name: p.name });
export type PoolOps = Operations<Target, "start" | "refresh" | "stop" | "delete">;

/** Start, stop, refresh and delete for pools, shared by the list and the detail page. The server refuses to
 * stop a pool running VMs use, or to delete one whose volumes a VM uses: its message names them. */
export function usePoolOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): PoolOps {
  const [deleteVolumes, setDeleteVolumes] = useState(false);
  return useOperations<Target, "start" | "refresh" | "stop" | "delete">({
    key: (p) => p.name,
    onChanged,
    onDeleted: onDeleted && ((p) => onDeleted(p.name)),
    error: { title: "The pool operation failed", testId: "pool-op-error" },
    ops: {
      start: callOp("start-storage-pool", target, (p) => `Pool ${p.name} started`),
      refresh: callOp("refresh-storage-pool", target, (p) => `Pool ${p.name} refreshed`),
      stop: callOp("stop-storage-pool", target, (p) => `Pool ${p.name} stopped`, {
        confirm: (p) => ({
          title: `Stop pool ${p.name}?`,
          message: <p>Its volumes cannot be used until the pool runs again (a network or device pool is unmounted or released). The server refuses while running VMs have its volumes open.</p>,
          confirmLabel: "Stop pool",
          testId: "stop-pool-dialog",
        }),
      }),
      delete: {
        action: "delete-storage-pool",
        deletes: true,
        onAsk: () => setDeleteVolumes(false),
        confirm: (p) => ({
          title: `Delete pool ${p.name}?`,
          message: (
            <>
              <p>
                The pool is stopped and its definition removed{p.type === "dir" ? "; its directory too, once empty" : ""}. The
                server refuses while a VM uses one of its volumes.
              </p>
              <label htmlFor="delete-pool-volumes" className="split" style={{ fontWeight: 500 }}>
                <input id="delete-pool-volumes" type="checkbox" checked={deleteVolumes} onChange={(e) => setDeleteVolumes(e.target.checked)} data-testid="delete-pool-volumes" />
                Also delete its {p.volume_count ?? ""} volume{p.volume_count === 1 ? "" : "s"} (otherwise a pool that still holds volumes is not deleted)
              </label>
            </>
          ),
          confirmLabel: "Delete pool",
          danger: true,
          typeToConfirm: p.name,
          testId: "delete-pool-dialog",
        }),
        run: async (p) => {
          const res = await call("delete-storage-pool", { ...target(p), delete_volumes: deleteVolumes });
          const n = res.deleted_volumes.length;
          return `Pool ${p.name} deleted${n ? ` with ${n} volume${n === 1 ? "" : "s"}` : ""}`;
        },
      },
    },
  });
}
