"use client";

import { ReactNode, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorBanner } from "@/components/ErrorBanner";
import { useToast } from "@/components/Toast";
import type { Pool } from "./storageUtil";

type Target = Pick<Pool, "name" | "node" | "volume_count" | "type">;
type Pending = { kind: "stop" | "delete"; pool: Target } | null;

export interface PoolOps {
  start: (pool: Target) => Promise<void>;
  refresh: (pool: Target) => Promise<void>;
  askStop: (pool: Target) => void;
  askDelete: (pool: Target) => void;
  busyName: string | null;
  /** The dialogs and the error of a failed start/refresh; render once in the page. */
  ui: ReactNode;
}

/** Start, stop, refresh and delete for pools, shared by the list and the detail page. The server refuses to
 * stop a pool running VMs use, or to delete one whose volumes a VM uses: its message names them. */
export function usePoolOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): PoolOps {
  const toast = useToast();
  const [pending, setPending] = useState<Pending>(null);
  const [deleteVolumes, setDeleteVolumes] = useState(false);
  const [busyName, setBusyName] = useState<string | null>(null);
  const [dialogError, setDialogError] = useState<ApiError | null>(null);
  const [opError, setOpError] = useState<ApiError | null>(null);

  const quick = async (action: "start-storage-pool" | "refresh-storage-pool", pool: Target, done: string) => {
    setBusyName(pool.name);
    setOpError(null);
    try {
      await call(action, { node: pool.node, name: pool.name });
      toast.success(`Pool ${pool.name} ${done}`);
      onChanged();
    } catch (err) {
      setOpError(asApiError(err, action));
    } finally {
      setBusyName(null);
    }
  };

  const confirm = async () => {
    if (!pending) return;
    const { kind, pool } = pending;
    setBusyName(pool.name);
    setDialogError(null);
    try {
      if (kind === "stop") {
        await call("stop-storage-pool", { node: pool.node, name: pool.name });
        toast.success(`Pool ${pool.name} stopped`);
        onChanged();
      } else {
        const res = await call("delete-storage-pool", { node: pool.node, name: pool.name, delete_volumes: deleteVolumes });
        const n = res.deleted_volumes.length;
        toast.success(`Pool ${pool.name} deleted${n ? ` with ${n} volume${n === 1 ? "" : "s"}` : ""}`);
        onDeleted ? onDeleted(pool.name) : onChanged();
      }
      setPending(null);
    } catch (err) {
      setDialogError(asApiError(err, `${kind}-storage-pool`));
    } finally {
      setBusyName(null);
    }
  };

  const cancel = () => {
    setPending(null);
    setDialogError(null);
  };
  const pool = pending?.pool;
  const ui = (
    <>
      <ErrorBanner error={opError} title="The pool operation failed" onDismiss={() => setOpError(null)} testId="pool-op-error" />
      <ConfirmDialog
        open={pending?.kind === "stop"}
        title={`Stop pool ${pool?.name ?? ""}?`}
        message={<p>Its volumes cannot be used until the pool runs again (a network or device pool is unmounted or released). The server refuses while running VMs have its volumes open.</p>}
        confirmLabel="Stop pool"
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="stop-pool-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "delete"}
        title={`Delete pool ${pool?.name ?? ""}?`}
        message={
          <>
            <p>
              The pool is stopped and its definition removed{pool?.type === "dir" ? "; its directory too, once empty" : ""}. The
              server refuses while a VM uses one of its volumes.
            </p>
            <label htmlFor="delete-pool-volumes" className="split" style={{ fontWeight: 500 }}>
              <input id="delete-pool-volumes" type="checkbox" checked={deleteVolumes} onChange={(e) => setDeleteVolumes(e.target.checked)} data-testid="delete-pool-volumes" />
              Also delete its {pool?.volume_count ?? ""} volume{pool?.volume_count === 1 ? "" : "s"} (otherwise a pool that still holds volumes is not deleted)
            </label>
          </>
        }
        confirmLabel="Delete pool"
        danger
        typeToConfirm={pending?.kind === "delete" ? pending.pool.name : undefined}
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="delete-pool-dialog"
      />
    </>
  );

  return {
    start: (p) => quick("start-storage-pool", p, "started"),
    refresh: (p) => quick("refresh-storage-pool", p, "refreshed"),
    askStop: (p) => {
      setDialogError(null);
      setPending({ kind: "stop", pool: p });
    },
    askDelete: (p) => {
      setDialogError(null);
      setDeleteVolumes(false);
      setPending({ kind: "delete", pool: p });
    },
    busyName,
    ui,
  };
}
