"use client";

import { ReactNode, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorBanner } from "@/components/ErrorBanner";
import { useToast } from "@/components/Toast";
import type { Network } from "./netUtil";

type Target = Pick<Network, "name" | "node" | "vms">;
type Pending = { kind: "stop" | "delete"; net: Target } | null;

export interface NetworkOps {
  /** Start at once (nothing is lost by starting). */
  start: (net: Target) => Promise<void>;
  /** Ask, then stop. */
  askStop: (net: Target) => void;
  /** Ask (type the name), then delete. */
  askDelete: (net: Target) => void;
  busyName: string | null;
  /** The dialogs and the error of a failed start; render once in the page. */
  ui: ReactNode;
}

/** Start, stop and delete for networks, shared by the list and the detail page. The server refuses to stop
 * a network running VMs use, or to delete one any VM uses: its message (naming them) shows in the dialog. */
export function useNetworkOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): NetworkOps {
  const toast = useToast();
  const [pending, setPending] = useState<Pending>(null);
  const [busyName, setBusyName] = useState<string | null>(null);
  const [dialogError, setDialogError] = useState<ApiError | null>(null);
  const [startError, setStartError] = useState<ApiError | null>(null);

  const start = async (net: Target) => {
    setBusyName(net.name);
    setStartError(null);
    try {
      await call("start-network", { node: net.node, name: net.name });
      toast.success(`Network ${net.name} started`);
      onChanged();
    } catch (err) {
      setStartError(asApiError(err, "start-network"));
    } finally {
      setBusyName(null);
    }
  };

  const confirm = async () => {
    if (!pending) return;
    const { kind, net } = pending;
    setBusyName(net.name);
    setDialogError(null);
    try {
      if (kind === "stop") {
        await call("stop-network", { node: net.node, name: net.name });
        toast.success(`Network ${net.name} stopped`);
        onChanged();
      } else {
        await call("delete-network", { node: net.node, name: net.name });
        toast.success(`Network ${net.name} deleted`);
        onDeleted ? onDeleted(net.name) : onChanged();
      }
      setPending(null);
    } catch (err) {
      setDialogError(asApiError(err, `${kind}-network`));
    } finally {
      setBusyName(null);
    }
  };

  const cancel = () => {
    setPending(null);
    setDialogError(null);
  };
  const net = pending?.net;
  const users = net?.vms?.length ? (
    <p className="small">
      VMs with a NIC on it: <strong>{net.vms.join(", ")}</strong>
    </p>
  ) : null;

  const ui = (
    <>
      <ErrorBanner error={startError} title="Could not start the network" onDismiss={() => setStartError(null)} testId="network-op-error" />
      <ConfirmDialog
        open={pending?.kind === "stop"}
        title={`Stop network ${net?.name ?? ""}?`}
        message={
          <>
            <p>
              dnsmasq stops and the bridge goes away. Stopped VMs on it cannot start until the network runs again; the
              server refuses while running VMs use it.
            </p>
            {users}
          </>
        }
        confirmLabel="Stop network"
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="stop-network-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "delete"}
        title={`Delete network ${net?.name ?? ""}?`}
        message={
          <>
            <p>
              The network is stopped and its definition removed, static hosts included. The server refuses while any VM
              (running or not) has a NIC on it.
            </p>
            {users}
          </>
        }
        confirmLabel="Delete network"
        danger
        typeToConfirm={pending?.kind === "delete" ? pending.net.name : undefined}
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="delete-network-dialog"
      />
    </>
  );

  return {
    start,
    askStop: (n) => {
      setDialogError(null);
      setPending({ kind: "stop", net: n });
    },
    askDelete: (n) => {
      setDialogError(null);
      setPending({ kind: "delete", net: n });
    },
    busyName,
    ui,
  };
}
