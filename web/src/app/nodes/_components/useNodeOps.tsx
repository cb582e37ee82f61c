"use client";

import { ReactNode, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { useToast } from "@/components/Toast";
import type { Node } from "./nodeUtil";

type Pending = { kind: "enable" | "disable" | "delete"; node: Pick<Node, "name"> } | null;

export interface NodeOps {
  /** Ask, then leave maintenance (placement and creation on the node are allowed again). */
  askEnable: (node: Pick<Node, "name">) => void;
  /** Ask, then enter maintenance. */
  askDisable: (node: Pick<Node, "name">) => void;
  /** Ask (type the name), then delete. */
  askDelete: (node: Pick<Node, "name">) => void;
  /** Name of the node an action is running on. */
  busyName: string | null;
  /** The confirmation dialogs (each shows its own error); render once in the page. */
  ui: ReactNode;
}

/** Maintenance and delete for nodes, shared by the list and the detail page. */
export function useNodeOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (name: string) => void }): NodeOps {
  const toast = useToast();
  const [pending, setPending] = useState<Pending>(null);
  const [busyName, setBusyName] = useState<string | null>(null);
  const [dialogError, setDialogError] = useState<ApiError | null>(null);

  const confirm = async () => {
    if (!pending) return;
    const { kind, node } = pending;
    setBusyName(node.name);
    setDialogError(null);
    try {
      if (kind === "enable") {
        await call("enable-node", { name: node.name });
        toast.success(`Node ${node.name} left maintenance`);
        onChanged();
      } else if (kind === "disable") {
        await call("disable-node", { name: node.name });
        toast.success(`Node ${node.name} is in maintenance`);
        onChanged();
      } else {
        await call("delete-node", { name: node.name });
        toast.success(`Node ${node.name} deleted`);
        onDeleted ? onDeleted(node.name) : onChanged();
      }
      setPending(null);
    } catch (err) {
      setDialogError(asApiError(err, `${kind}-node`));
    } finally {
      setBusyName(null);
    }
  };

  const cancel = () => {
    setPending(null);
    setDialogError(null);
  };

  const ui = (
    <>
      <ConfirmDialog
        open={pending?.kind === "enable"}
        title={`Take ${pending?.node.name ?? ""} out of maintenance?`}
        message={
          <>
            New VMs, volumes and other resources may be created and placed on <strong>{pending?.node.name}</strong>{" "}
            again.
          </>
        }
        confirmLabel="Leave maintenance"
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="enable-node-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "disable"}
        title={`Put ${pending?.node.name ?? ""} in maintenance?`}
        message={
          <>
            Creating or placing resources on <strong>{pending?.node.name}</strong> will be refused until maintenance is
            turned off. Running VMs keep running and stay manageable.
          </>
        }
        confirmLabel="Enter maintenance"
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="disable-node-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "delete"}
        title={`Delete node ${pending?.node.name ?? ""}?`}
        message={
          <>
            JVP forgets <strong>{pending?.node.name}</strong> and its settings. Its VMs, storage and networks are not
            touched and keep running on the host.
          </>
        }
        confirmLabel="Delete node"
        danger
        typeToConfirm={pending?.kind === "delete" ? pending.node.name : undefined}
        busy={!!busyName}
        error={dialogError}
        onConfirm={confirm}
        onCancel={cancel}
        testId="delete-node-dialog"
      />
    </>
  );

  return {
    askEnable: (node) => {
      setDialogError(null);
      setPending({ kind: "enable", node });
    },
    askDisable: (node) => {
      setDialogError(null);
      setPending({ kind: "disable", node });
    },
    askDelete: (node) => {
      setDialogError(null);
      setPending({ kind: "delete", node });
    },
    busyName,
    ui,
  };
}
