import type { Schema } from "@/lib/api";
import { ApiError } from "@/lib/api";
import { fieldError } from "@/components/Field";
import { formatBytes } from "@/lib/format";

export type Pool = Schema<"StoragePool">;
export type Volume = Schema<"Volume">;
export type Task = Schema<"Task">;

export const POOL_TYPES = ["dir", "fs", "netfs", "logical", "disk", "iscsi", "rbd"] as const;
export type PoolType = (typeof POOL_TYPES)[number];

/** The source fields each pool type takes (the server validates them; this only decides what to show). */
export const SOURCE_FIELDS: Record<PoolType, { key: SourceKey; label: string; required?: boolean; hint?: string; placeholder?: string }[]> = {
  dir: [],
  fs: [
    { key: "device", label: "Device", required: true, placeholder: "/dev/sdb1" },
    { key: "format", label: "Filesystem", hint: "auto, ext4, xfs, ...", placeholder: "auto" },
  ],
  netfs: [
    { key: "host", label: "Server", required: true, placeholder: "nfs.example.org" },
    { key: "dir", label: "Export", required: true, hint: "The exported path (a share name for cifs).", placeholder: "/export/vms" },
    { key: "format", label: "Protocol", hint: "auto, nfs, glusterfs or cifs", placeholder: "auto" },
  ],
  logical: [
    { key: "devices", label: "Physical volumes", hint: "Comma-separated devices; empty for an existing volume group.", placeholder: "/dev/sdc, /dev/sdd" },
    { key: "name", label: "Volume group", hint: "Default: the pool's name." },
  ],
  disk: [
    { key: "device", label: "Disk", required: true, placeholder: "/dev/sde" },
    { key: "format", label: "Partition table", hint: "dos, gpt, ...", placeholder: "gpt" },
  ],
  iscsi: [
    { key: "host", label: "Portal host", required: true, placeholder: "san.example.org" },
    { key: "port", label: "Port", placeholder: "3260" },
    { key: "iqn", label: "Target IQN", required: true, placeholder: "iqn.2013-06.com.example:lun1" },
    { key: "initiator_iqn", label: "Initiator IQN" },
  ],
  rbd: [
    { key: "hosts", label: "Monitors", required: true, hint: "Comma-separated host or host:port.", placeholder: "mon1:6789, mon2:6789" },
    { key: "name", label: "Ceph pool", required: true, placeholder: "rbd" },
  ],
};
export type SourceKey = "device" | "devices" | "host" | "hosts" | "dir" | "format" | "name" | "port" | "iqn" | "initiator_iqn";

/** Pool types whose volumes live in a directory (and which need a path). */
export const PATH_TYPES: PoolType[] = ["dir", "fs", "netfs"];

export function poolHref(node: string, name: string): string {
  return `/storage/detail/?node=${encodeURIComponent(node)}&name=${encodeURIComponent(name)}`;
}

export function storageHref(node: string): string {
  return `/storage/?node=${encodeURIComponent(node)}`;
}

/** The server's message for a field: from field_errors (also nested under `source`), or from an error
 * code that is about one field. */
export function errorFor(error: ApiError | null, field: string): string | undefined {
  const direct = fieldError(error, field) ?? fieldError(error, `source.${field}`);
  if (direct) return direct;
  if (!error) return undefined;
  const byCode: Record<string, string> = {
    StoragePoolExists: "name",
    ReservedName: "name",
    VolumeExists: "name",
    StoragePoolPathInUse: "path",
    PoolPathNotDirectory: "path",
    InsufficientSpace: "size_gib",
    VolumeShrinkRefused: "size_gib",
    BackingVolumeNotFound: "backing_volume",
  };
  return byCode[error.code] === field ? error.message : undefined;
}

/** Whole GiB from bytes, rounded up (sizes are given in GiB). */
export function gibOf(bytes: number | null | undefined): number {
  return bytes ? Math.ceil(bytes / 1024 ** 3) : 1;
}

/** A row's problems (what JVP found wrong with the object: libvirt's figures wrapped, the pool unreadable). */
export type Problem = { code: string; message: string };

const FIGURE_PROBLEMS = ["FigureUnknown", "FiguresInconsistent"];

/** Why a pool's or volume's sizes are unknown (libvirt reported a wrapped or inconsistent figure), or null. */
export function figuresUnknown(o: { problems?: Problem[] | null }): string | null {
  const found = (o.problems ?? []).filter((p) => FIGURE_PROBLEMS.includes(p.code));
  return found.length ? found.map((p) => p.message).join("\n") : null;
}

/** A pool's free space for display: "unknown" when libvirt's figure could not be trusted. */
export function freeText(p: Pool): string {
  if (p.available_bytes == null && figuresUnknown(p)) return "unknown";
  return formatBytes(p.available_bytes);
}
