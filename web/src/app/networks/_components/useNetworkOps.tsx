"use client";

import { Operations, callOp, useOperations } from "@/lib/useOperations";
import type { Network } from "./netUtil";

type Target = Pick<Network, "name" | "node" | "vms">;
export type NetworkOps = Operations<Target, "start" | "stop" | "delete">;

function Users({ net }: { net: Target }) {
  return net.vms?.length ? (
    <p className="small">
      VMs with a NIC on it: <strong>{net.vms.join(", ")}</strong>
    </p>
  ) : null;
}

const ref = (n: Target) => ({ node: n.node, name: n.name });

/** Start, stop and delete for networks, shared by the list and the detail page. The server refuses to stop
 * a network running VMs use, or to delete one any VM uses: its message (naming them) shows in the dialog. */
export function useNetworkOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): NetworkOps {
  return useOperations<Target, "start" | "stop" | "delete">({
    key: (n) => n.name,
    onChanged,
    onDeleted: onDeleted && ((n) => onDeleted(n.name)),
    error: { title: "Could not start the network", testId: "network-op-error" },
    ops: {
      // Starting loses nothing: no question asked.
      start: callOp("start-network", ref, (n) => `Network ${n.name} started`),
      stop: callOp("stop-network", ref, (n) => `Network ${n.name} stopped`, {
        confirm: (n) => ({
          title: `Stop network ${n.name}?`,
          message: (
            <>
              <p>
                dnsmasq stops and the bridge goes away. Stopped VMs on it cannot start until the network runs again; the
                server refuses while running VMs use it.
              </p>
              <Users net={n} />
            </>
          ),
          confirmLabel: "Stop network",
          testId: "stop-network-dialog",
        }),
      }),
      delete: callOp("delete-network", ref, (n) => `Network ${n.name} deleted`, {
        deletes: true,
        confirm: (n) => ({
          title: `Delete network ${n.name}?`,
          message: (
            <>
              <p>
                The network is stopped and its definition removed, static hosts included. The server refuses while any VM
                (running or not) has a NIC on it.
              </p>
              <Users net={n} />
            </>
          ),
          confirmLabel: "Delete network",
          danger: true,
          typeToConfirm: n.name,
          testId: "delete-network-dialog",
        }),
      }),
    },
  });
}
