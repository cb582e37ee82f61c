"use client";

import { ReactNode, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { Checkbox } from "@/components/Checkbox";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { useToast } from "@/components/Toast";
import { PowerVerb, isOff } from "./vmUtil";

export interface VmTarget {
  node: string;
  name: string;
  state: string;
}

type Pending = { kind: "stop" | "reset" | "delete"; vm: VmTarget } | null;

export interface VmOps {
  /** Start, resume, suspend or reboot at once; stop, reset and delete ask first. */
  power: (vm: VmTarget, verb: PowerVerb) => void;
  askDelete: (vm: VmTarget) => void;
  /** `${node}/${name}` of the VM whose request is in flight, and which verb. */
  busy: { key: string; verb: string } | null;
  /** The dialogs and the error of a failed action; render once in the page. */
  ui: ReactNode;
}

export const vmKey = (vm: { node: string; name: string }) => `${vm.node}/${vm.name}`;

const DONE: Record<string, string> = { start: "started", resume: "resumed", suspend: "suspended", reboot: "asked to reboot" };

/** Power actions and delete for VMs, shared by the list and the detail page. The server checks the state
 * (409 InvalidState): its message is shown as it is. */
export function useVmOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (vm: VmTarget) => void }): VmOps {
  const toast = useToast();
  const [pending, setPending] = useState<Pending>(null);
  const [busy, setBusy] = useState<{ key: string; verb: string } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [dialogError, setDialogError] = useState<ApiError | null>(null);
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState("60");
  const [deleteVolumes, setDeleteVolumes] = useState(false);

  const immediate = async (vm: VmTarget, verb: "start" | "resume" | "suspend" | "reboot") => {
    setBusy({ key: vmKey(vm), verb });
    setError(null);
    try {
      const body = { node: vm.node, name: vm.name };
      const res =
        verb === "start" ? await call("start-vm", body)
        : verb === "resume" ? await call("resume-vm", body)
        : verb === "suspend" ? await call("suspend-vm", body)
        : await call("reboot-vm", body);
      toast.success(`VM ${vm.name} ${DONE[verb]} (${res.state})`);
      onChanged();
    } catch (err) {
      setError(asApiError(err, `${verb}-vm`));
    } finally {
      setBusy(null);
    }
  };

  const power = (vm: VmTarget, verb: PowerVerb) => {
    if (verb === "stop" || verb === "reset") {
      setDialogError(null);
      setForce(vm.state === "paused" || vm.state === "suspended");
      setTimeoutS("60");
      setPending({ kind: verb, vm });
      return;
    }
    void immediate(vm, verb);
  };

  const confirm = async () => {
    if (!pending) return;
    const { kind, vm } = pending;
    setBusy({ key: vmKey(vm), verb: kind });
    setDialogError(null);
    try {
      const body = { node: vm.node, name: vm.name };
      if (kind === "stop") {
        const t = Math.max(1, Math.min(600, Number(timeoutS) || 60));
        const res = await call("stop-vm", { ...body, force, timeout_s: t });
        if (res.stopped) toast.success(res.message);
        else toast.info(res.message);
        onChanged();
      } else if (kind === "reset") {
        const res = await call("reset-vm", body);
        toast.success(`VM ${vm.name} reset (${res.state})`);
        onChanged();
      } else {
        const res = await call("delete-vm", { ...body, force, delete_volumes: deleteVolumes });
        const removed = res.deleted_volumes.length ? `; removed ${res.deleted_volumes.map((v) => v.volume ?? v.path).join(", ")}` : "";
        const kept = res.kept_volumes.length ? `; kept ${res.kept_volumes.map((v) => `${v.volume ?? v.path} (${v.reason})`).join(", ")}` : "";
        toast.success(`VM ${vm.name} deleted${removed}${kept}`);
        if (onDeleted) onDeleted(vm);
        else onChanged();
      }
      setPending(null);
    } catch (err) {
      setDialogError(asApiError(err, `${kind}-vm`));
    } finally {
      setBusy(null);
    }
  };

  const cancel = () => {
    setPending(null);
    setDialogError(null);
  };
  const vm = pending?.vm;
  const inFlight = !!busy && !!vm && busy.key === vmKey(vm);

  const ui = (
    <>
      <ErrorBanner error={error} title="The VM action failed" onDismiss={() => setError(null)} testId="vm-op-error" />
      <ConfirmDialog
        open={pending?.kind === "stop"}
        title={`Stop VM ${vm?.name ?? ""}?`}
        message={
          <>
            <p style={{ marginBottom: 12 }}>
              {force
                ? "The VM is powered off at once, like pulling the plug: unsaved data in the guest is lost."
                : "The guest is asked to shut down (ACPI or the guest agent); the answer comes when it is off, or after the timeout with the state it reached."}
            </p>
            <Checkbox id="stop-vm-force" checked={force} onChange={setForce} hint="Needed for a paused guest, or one that ignores ACPI.">
              Force (power off)
            </Checkbox>
            {!force && (
              <Field label="Wait up to (seconds)" name="stop-vm-timeout">
                <TextInput id="stop-vm-timeout" type="number" min={1} max={600} value={timeoutS} onChange={(e) => setTimeoutS(e.target.value)} data-testid="stop-vm-timeout" />
              </Field>
            )}
          </>
        }
        confirmLabel={force ? "Power off" : "Shut down"}
        danger={force}
        busy={inFlight}
        error={dialogError}
        onConfirm={() => void confirm()}
        onCancel={cancel}
        testId="stop-vm-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "reset"}
        title={`Reset VM ${vm?.name ?? ""}?`}
        message="A hard reset, like the reset button: the guest restarts at once without shutting down."
        confirmLabel="Reset"
        danger
        busy={inFlight}
        error={dialogError}
        onConfirm={() => void confirm()}
        onCancel={cancel}
        testId="reset-vm-dialog"
      />
      <ConfirmDialog
        open={pending?.kind === "delete"}
        title={`Delete VM ${vm?.name ?? ""}?`}
        message={
          <>
            <p style={{ marginBottom: 12 }}>
              The domain is removed with its snapshots, NVRAM and cloud-init media. Its disks stay unless you tick the box
              below (a volume another VM uses, one that backs linked clones, or a template&apos;s is always kept).
            </p>
            <Checkbox id="delete-vm-volumes" checked={deleteVolumes} onChange={setDeleteVolumes} hint="The VM's disks are deleted from their pools.">
              Also delete its volumes
            </Checkbox>
            <Checkbox
              id="delete-vm-force"
              checked={force}
              onChange={setForce}
              hint={vm && !isOff(vm.state) ? `The VM is ${vm.state}: the server refuses without this.` : "Only matters for a running VM."}
            >
              Power it off first if it runs
            </Checkbox>
          </>
        }
        confirmLabel="Delete VM"
        danger
        typeToConfirm={pending?.kind === "delete" ? pending.vm.name : undefined}
        busy={inFlight}
        error={dialogError}
        onConfirm={() => void confirm()}
        onCancel={cancel}
        testId="delete-vm-dialog"
      />
    </>
  );

  return {
    power,
    askDelete: (v) => {
      setDialogError(null);
      setDeleteVolumes(false);
      setForce(false);
      setPending({ kind: "delete", vm: v });
    },
    busy,
    ui,
  };
}
