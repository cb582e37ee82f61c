"use client";

import { Operations, callOp, useOperations } from "@/lib/useOperations";
import type { Node } from "./nodeUtil";

type Target = Pick<Node, "name">;
const byName = (n: Target) => ({ name: n.name });
export type NodeOps = Operations<Target, "enable" | "disable" | "delete">;

/** Maintenance and delete for nodes, shared by the list and the detail page; each asks first. */
export function useNodeOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): NodeOps {
  return useOperations<Target, "enable" | "disable" | "delete">({
    key: (n) => n.name,
    onChanged,
    onDeleted: onDeleted && ((n) => onDeleted(n.name)),
    ops: {
      enable: callOp("enable-node", byName, (n) => `Node ${n.name} left maintenance`, {
        confirm: (n) => ({
          title: `Take ${n.name} out of maintenance?`,
          message: (
            <>
              New VMs, volumes and other resources may be created and placed on <strong>{n.name}</strong> again.
            </>
          ),
          confirmLabel: "Leave maintenance",
          testId: "enable-node-dialog",
        }),
      }),
      disable: callOp("disable-node", byName, (n) => `Node ${n.name} is in maintenance`, {
        confirm: (n) => ({
          title: `Put ${n.name} in maintenance?`,
          message: (
            <>
              Creating or placing resources on <strong>{n.name}</strong> will be refused until maintenance is turned off.
              Running VMs keep running and stay manageable.
            </>
          ),
          confirmLabel: "Enter maintenance",
          testId: "disable-node-dialog",
        }),
      }),
      delete: callOp("delete-node", byName, (n) => `Node ${n.name} deleted`, {
        deletes: true,
        confirm: (n) => ({
          title: `Delete node ${n.name}?`,
          message: (
            <>
              JVP forgets <strong>{n.name}</strong> and its settings. Its VMs, storage and networks are not touched and
              keep running on the host.
            </>
          ),
          confirmLabel: "Delete node",
          danger: true,
          typeToConfirm: n.name,
          testId: "delete-node-dialog",
        }),
      }),
    },
  });
}
