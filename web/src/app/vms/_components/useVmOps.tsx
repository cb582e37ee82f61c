"use client";

import { useState } from "react";
import { call } from "@/lib/api";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextInput } from "@/components/Field";
import { Operation, Operations, useOperations } from "@/lib/useOperations";
import { PowerVerb, isOff } from "./vmUtil";

export interface VmTarget {
  node: string;
  name: string;
  state: string;
}

export type VmOpKind = PowerVerb | "delete" | "forceoff";
/** Start and resume run at once; everything that interrupts a guest (reboot, suspend, stop, force off, reset,
 * delete) asks first. */
export type VmOps = Operations<VmTarget, VmOpKind>;

export const vmKey = (vm: { node: string; name: string }) => `${vm.node}/${vm.name}`;

const ref = (vm: VmTarget) => ({ node: vm.node, name: vm.name });

/** An action that runs at once and answers the VM's new state. */
function immediate(action: "start-vm" | "resume-vm" | "suspend-vm" | "reboot-vm", done: string): Operation<VmTarget> {
  return {
    action,
    run: async (vm) => `VM ${vm.name} ${done} (${(await call(action, ref(vm))).state})`,
  };
}

/** Power actions and delete for VMs, shared by the list and the detail page. The server checks the state
 * (409 InvalidState): its message is shown as it is. */
export function useVmOps({ onChanged, onDeleted }: { onChanged: () => void; onDeleted?: (vm: VmTarget) => void }): VmOps {
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState("60");
  const [deleteVolumes, setDeleteVolumes] = useState(false);

  return useOperations<VmTarget, VmOpKind>({
    key: vmKey,
    onChanged,
    onDeleted,
    error: { title: "The VM action failed", testId: "vm-op-error" },
    ops: {
      start: immediate("start-vm", "started"),
      resume: immediate("resume-vm", "resumed"),
      suspend: {
        ...immediate("suspend-vm", "suspended"),
        confirm: (vm) => ({
          title: `Suspend VM ${vm.name}?`,
          message: "Its vCPUs stop at once (memory stays): the guest and its network connections freeze until you resume it.",
          confirmLabel: "Suspend",
          testId: "suspend-vm-dialog",
        }),
      },
      reboot: {
        ...immediate("reboot-vm", "asked to reboot"),
        confirm: (vm) => ({
          title: `Reboot VM ${vm.name}?`,
          message: "The guest is asked to reboot (ACPI or the guest agent): its services stop while it restarts.",
          confirmLabel: "Reboot",
          testId: "reboot-vm-dialog",
        }),
      },
      forceoff: {
        action: "stop-vm",
        confirm: (vm) => ({
          title: `Force off VM ${vm.name}?`,
          message: "The VM is powered off at once, like pulling the plug: unsaved data in the guest is lost.",
          confirmLabel: "Power off",
          danger: true,
          testId: "forceoff-vm-dialog",
        }),
        run: async (vm) => {
          const res = await call("stop-vm", { ...ref(vm), force: true, timeout_s: 60 });
          return { message: res.message, tone: res.stopped ? "success" : "info" };
        },
      },
      stop: {
        action: "stop-vm",
        onAsk: (vm) => {
          // a paused, pm-suspended or crashed guest cannot shut down: only a power-off stops it
          setForce(vm.state === "paused" || vm.state === "pmsuspended" || vm.state === "crashed");
          setTimeoutS("60");
        },
        confirm: (vm) => ({
          title: `Stop VM ${vm.name}?`,
          message: (
            <>
              <p style={{ marginBottom: 12 }}>
                {force
                  ? "The VM is powered off at once, like pulling the plug: unsaved data in the guest is lost."
                  : "The guest is asked to shut down (ACPI or the guest agent); the answer comes when it is off, or after the timeout with the state it reached."}
              </p>
              <Checkbox id="stop-vm-force" checked={force} onChange={setForce} hint="Needed for a paused, pm-suspended or crashed guest, or one that ignores ACPI.">
                Force (power off)
              </Checkbox>
              {!force && (
                <Field label="Wait up to (seconds)" name="stop-vm-timeout">
                  <TextInput id="stop-vm-timeout" type="number" min={1} max={600} value={timeoutS} onChange={(e) => setTimeoutS(e.target.value)} data-testid="stop-vm-timeout" />
                </Field>
              )}
            </>
          ),
          confirmLabel: force ? "Power off" : "Shut down",
          danger: force,
          testId: "stop-vm-dialog",
        }),
        run: async (vm) => {
          const t = Math.max(1, Math.min(600, Number(timeoutS) || 60));
          const res = await call("stop-vm", { ...ref(vm), force, timeout_s: t });
          return { message: res.message, tone: res.stopped ? "success" : "info" };
        },
      },
      reset: {
        action: "reset-vm",
        confirm: (vm) => ({
          title: `Reset VM ${vm.name}?`,
          message: "A hard reset, like the reset button: the guest restarts at once without shutting down.",
          confirmLabel: "Reset",
          danger: true,
          testId: "reset-vm-dialog",
        }),
        run: async (vm) => `VM ${vm.name} reset (${(await call("reset-vm", ref(vm))).state})`,
      },
      delete: {
        action: "delete-vm",
        deletes: true,
        onAsk: () => {
          setDeleteVolumes(false);
          setForce(false);
        },
        confirm: (vm) => ({
          title: `Delete VM ${vm.name}?`,
          message: (
            <>
              <p style={{ marginBottom: 12 }}>
                The domain is removed with its snapshots, NVRAM and cloud-init media. Its disks stay unless you tick the box
                below (a volume another VM uses, one that backs linked clones, or a template&apos;s is always kept).
              </p>
              <Checkbox id="delete-vm-volumes" checked={deleteVolumes} onChange={setDeleteVolumes} hint="The VM's disks are deleted from their pools.">
                Also delete its volumes
              </Checkbox>
              {!isOff(vm.state) && (
                <>
                  <p className="field-error" style={{ margin: "10px 0" }} data-testid="delete-vm-running">
                    The VM is {vm.state}: power it off first, or tick the box below to force it off as part of the delete.
                  </p>
                  <Checkbox id="delete-vm-force" checked={force} onChange={setForce}
                            hint="Like pulling the plug: unsaved data in the guest is lost.">
                    Force it off, then delete
                  </Checkbox>
                </>
              )}
            </>
          ),
          confirmLabel: "Delete VM",
          danger: true,
          typeToConfirm: vm.name,
          blocked: !isOff(vm.state) && !force ? `VM ${vm.name} is ${vm.state}: power it off first, or tick "Force it off, then delete".` : undefined,
          testId: "delete-vm-dialog",
        }),
        run: async (vm) => {
          if (!isOff(vm.state) && !force) {
            throw new Error(`VM ${vm.name} is ${vm.state}: power it off first, or tick "Force it off, then delete".`);
          }
          const res = await call("delete-vm", { ...ref(vm), force: force && !isOff(vm.state), delete_volumes: deleteVolumes });
          const removed = res.deleted_volumes.length ? `; removed ${res.deleted_volumes.map((v) => v.volume ?? v.path).join(", ")}` : "";
          const kept = res.kept_volumes.length ? `; kept ${res.kept_volumes.map((v) => `${v.volume ?? v.path} (${v.reason})`).join(", ")}` : "";
          return `VM ${vm.name} deleted${removed}${kept}`;
        },
      },
    },
  });
}
