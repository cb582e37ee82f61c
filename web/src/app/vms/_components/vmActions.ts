// Which VM actions can work in the VM's state, and why not (the reason shown on the disabled control). The
// server checks again (409 InvalidState with its own message); this only keeps the UI from offering what
// cannot work.
import type { ServerInfo } from "@/lib/server";

export type VmActionId =
  | "start" | "stop" | "forceoff" | "reboot" | "reset" | "suspend" | "resume" | "delete"
  | "console" | "serial" | "password" | "edit" | "rebuild" | "migrate";

export interface VmLike {
  name: string;
  state: string;
  template?: string | null;
  guest_agent?: boolean | null;
}

const ON = ["running", "paused", "pmsuspended", "shutting-down", "crashed"];
const QEMU_RUNS = ["running", "paused"]; // a QEMU process with a display and a serial port

/** undefined: the action can run; else the one-line reason it cannot. */
export function whyNot(action: VmActionId, vm: VmLike, server?: ServerInfo | null): string | undefined {
  const s = vm.state;
  switch (action) {
    case "start":
      return s === "stopped" || s === "crashed" ? undefined : `The VM is already ${s}.`;
    case "stop":
      return ON.includes(s) ? undefined : `The VM is already ${s}.`;
    case "forceoff":
      return ON.includes(s) ? undefined : `The VM is already ${s}.`;
    case "reboot":
      return s === "running" ? undefined : `Only a running guest can reboot (the VM is ${s}).`;
    case "reset":
      return QEMU_RUNS.includes(s) ? undefined : `Only a running or paused VM can be reset (it is ${s}).`;
    case "suspend":
      return s === "running" ? undefined : `Only a running VM can be suspended (it is ${s}).`;
    case "resume":
      return s === "paused" || s === "pmsuspended" ? undefined : `Only a paused VM can resume (it is ${s}).`;
    case "console":
    case "serial":
      return QEMU_RUNS.includes(s) ? undefined : `The VM is ${s}: start it to use its console.`;
    case "password":
      if (s !== "running") return `The guest agent sets passwords in a running guest (the VM is ${s}).`;
      return vm.guest_agent === false ? "The guest agent does not answer: it sets the password." : undefined;
    case "rebuild":
      return vm.template ? undefined : "The VM was not made from a template: there is no image to rebuild from.";
    case "migrate":
      return server?.demo ? server.limits.migrate : undefined;
    default:
      return undefined;
  }
}

/** The guest-interrupting power actions both VM menus (a list row's and the VM page's) offer, in order:
 * [id, label, danger]. Those with "…" ask first (useVmOps). */
export const POWER_MENU: readonly [Extract<VmActionId, "reboot" | "suspend" | "resume" | "reset" | "forceoff">, string, boolean][] = [
  ["reboot", "Reboot…", false],
  ["suspend", "Suspend…", false],
  ["resume", "Resume", false],
  ["reset", "Reset…", true],
  ["forceoff", "Force off…", true],
];

/** One entry of a VM's action menu: disabled with its reason while the VM's state forbids it or another
 * operation on the VM runs. */
export function vmMenuItem(vm: VmLike, id: VmActionId, label: string, onSelect: () => void,
                           opts: { busy: boolean; server?: ServerInfo | null; danger?: boolean }) {
  const reason = whyNot(id, vm, opts.server);
  return { id, label, onSelect, danger: !!opts.danger, disabled: !!reason || opts.busy, reason, testId: `vm-menu-${id}` };
}
