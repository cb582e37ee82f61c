"use client";

import Link from "next/link";
import { Icon, IconName } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { VmOps, VmTarget, vmKey } from "./useVmOps";
import { PowerVerb, consoleHref, powerActions } from "./vmUtil";

const META: Record<PowerVerb, { label: string; icon: IconName; title: string }> = {
  start: { label: "Start", icon: "play", title: "Power on" },
  stop: { label: "Stop", icon: "stop", title: "Shut down (or power off)" },
  reboot: { label: "Reboot", icon: "refresh", title: "Ask the guest to reboot" },
  reset: { label: "Reset", icon: "alert", title: "Hard reset" },
  suspend: { label: "Suspend", icon: "pause", title: "Pause the vCPUs (memory stays)" },
  resume: { label: "Resume", icon: "play", title: "Resume the paused VM (or wake a pm-suspended guest)" },
};

/** The power buttons a VM's state allows, then console links and delete. `compact`: icon-only secondary
 * actions (table rows). */
export function PowerButtons({ vm, ops, compact, withConsole = true, withDelete = true }: {
  vm: VmTarget;
  ops: VmOps;
  compact?: boolean;
  withConsole?: boolean;
  withDelete?: boolean;
}) {
  const verbs = powerActions(vm.state).filter((v) => !(compact && v === "reset"));
  const busyHere = ops.busy?.key === vmKey(vm) ? ops.busy.kind : null;
  const size = compact ? "btn-sm" : "";
  const running = vm.state === "running" || vm.state === "paused" || vm.state === "pmsuspended";
  return (
    <div className={compact ? "row-actions" : "page-actions"}>
      {verbs.map((verb, i) => {
        const m = META[verb];
        const iconOnly = compact && i > 0;
        return (
          <button
            key={verb}
            type="button"
            className={`btn ${size}${iconOnly ? " btn-icon btn-ghost" : ""}`}
            onClick={() => ops.run(verb, vm)}
            disabled={!!busyHere}
            title={m.title}
            aria-label={`${m.label} ${vm.name}`}
            data-testid={`vm-${verb}`}
          >
            {busyHere === verb ? <Spinner /> : <Icon name={m.icon} size={compact ? 13 : 15} />}
            {!iconOnly && m.label}
          </button>
        );
      })}
      {withConsole && (
        <>
          <Link
            href={consoleHref(vm.node, vm.name, "vnc")}
            className={`btn ${size}${compact ? " btn-icon btn-ghost" : ""}`}
            title={running ? "Open the VNC console" : "VNC console (the VM is not running)"}
            aria-label={`VNC console of ${vm.name}`}
            data-testid="vm-console-vnc"
          >
            <Icon name="vm" size={compact ? 14 : 15} />
            {!compact && "Console"}
          </Link>
          <Link
            href={consoleHref(vm.node, vm.name, "serial")}
            className={`btn ${size}${compact ? " btn-icon btn-ghost" : ""}`}
            title="Open the serial console"
            aria-label={`Serial console of ${vm.name}`}
            data-testid="vm-console-serial"
          >
            <Icon name="terminal" size={compact ? 14 : 15} />
            {!compact && "Serial"}
          </Link>
        </>
      )}
      {withDelete && (
        <button
          type="button"
          className={compact ? "btn btn-sm btn-ghost btn-icon" : "btn btn-danger"}
          onClick={() => ops.run("delete", vm)}
          disabled={!!busyHere}
          title="Delete VM"
          aria-label={`Delete VM ${vm.name}`}
          data-testid="vm-delete"
        >
          <Icon name="trash" size={compact ? 15 : 15} />
          {!compact && "Delete"}
        </button>
      )}
    </div>
  );
}
