import type { Schema } from "@/lib/api";
import { ApiError } from "@/lib/api";

export type Vm = Schema<"Vm">;
export type VmSummary = Schema<"VmSummary">;
export type VmDisk = Schema<"VmDisk">;
export type VmNic = Schema<"VmNic">;

/** The states list-vms filters by (the server's STATES). */
export const VM_STATES = ["running", "paused", "stopped", "shutting-down", "crashed", "pmsuspended", "unknown"] as const;

export type PowerVerb = "start" | "stop" | "reboot" | "reset" | "suspend" | "resume";

/** Which power actions a state allows (the server decides; this only hides buttons that cannot work). */
export function powerActions(state: string | null | undefined): PowerVerb[] {
  switch (state) {
    case "running":
      return ["stop", "reboot", "suspend", "reset"];
    case "paused":
      return ["resume", "stop", "reset"];
    case "pmsuspended": // the guest suspended itself: resume-vm wakes it; stop powers it off
      return ["resume", "stop"];
    case "crashed": // the ways out: start it again, or power it off (stop with force)
      return ["start", "stop"];
    case "stopped":
      return ["start"];
    case "shutting-down":
      return ["stop"];
    default:
      return [];
  }
}

/** A VM's problems (a NIC on a deleted network, a definition JVP could not read): it is listed and can be acted
 * on, but something about it is wrong. */
export type VmProblem = { code: string; message: string };

/** "paused (ioerror)": the state with libvirt's reason when it says more than the state. */
export function stateReasonText(reason: string | null | undefined): string | null {
  return reason && reason !== "unknown" ? reason : null;
}

export function isOff(state: string | null | undefined): boolean {
  return state === "stopped" || state === "crashed";
}

export function vmHref(node: string, name: string): string {
  return `/vms/detail/?node=${encodeURIComponent(node)}&name=${encodeURIComponent(name)}`;
}

export function consoleHref(node: string, name: string, type: "vnc" | "serial"): string {
  return `/vms/console/?node=${encodeURIComponent(node)}&name=${encodeURIComponent(name)}&type=${type}`;
}

export function vmsHref(filters: { node?: string; state?: string; label?: string } = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
  const qs = p.toString();
  return `/vms/${qs ? `?${qs}` : ""}`;
}

/** "2 vCPUs · 1.0 GiB". */
export function sizeText(vcpus: number | null | undefined, memoryMib: number | null | undefined): string {
  const cpu = vcpus == null ? "—" : `${vcpus} vCPU${vcpus === 1 ? "" : "s"}`;
  const mem = memoryMib == null ? "—" : memoryMib >= 1024 ? `${(memoryMib / 1024).toFixed(memoryMib % 1024 ? 1 : 0)} GiB` : `${memoryMib} MiB`;
  return `${cpu} · ${mem}`;
}

/** "3 d 4 h", "12 min 5 s". */
export function formatUptime(s: number | null | undefined): string {
  if (s == null) return "—";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

function flatten(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String).join(" ");
  if (typeof v === "object") {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, m]) => `${k}: ${flatten(m)}`)
      .join("; ");
  }
  return String(v);
}

/** The server's messages for a field, whichever way it names it: marshmallow nests them
 * (`{cloud_init: {users: {"0": {name: [...]}}}}`), the VM services use dotted keys (`"cloud_init.hostname"`),
 * and a mixture is possible (`{"nics.0": [...]}`). `path` is dotted: "cloud_init.users.0.name". */
export function vmFieldError(error: ApiError | Error | null | undefined, path: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const parts = path.split(".");
  const walk = (node: unknown, i: number): string | undefined => {
    if (i === parts.length) return flatten(node);
    if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
    const obj = node as Record<string, unknown>;
    // try every split point: "cloud_init.hostname" as one key, or "cloud_init" then "hostname"
    for (let j = parts.length; j > i; j -= 1) {
      const key = parts.slice(i, j).join(".");
      if (key in obj) {
        const found = walk(obj[key], j);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(error.fieldErrors, 0);
}

/** Every field path the error names (dotted), for deciding which wizard step to go back to. */
export function errorPaths(error: ApiError | null | undefined): string[] {
  if (!error) return [];
  const out: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    if (!node || typeof node !== "object" || Array.isArray(node)) {
      if (prefix) out.push(prefix);
      return;
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) walk(v, prefix ? `${prefix}.${k}` : k);
  };
  walk(error.fieldErrors, "");
  return out;
}
