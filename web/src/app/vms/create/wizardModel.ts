import type { RequestOf } from "@/lib/api";
import { ApiError } from "@/lib/api";
import { errorPaths, vmFieldError } from "../_components/vmUtil";

/** create-vm's body; `template` is typed here too so the wizard compiles before and after the template
 * module adds it to the generated types (whether the server takes it is decided at build time from
 * src/api/openapi.json, see page.tsx). */
export type CreateVmBody = RequestOf<"create-vm"> & { template?: string };
type NicModel = NonNullable<NonNullable<RequestOf<"create-vm">["nics"]>[number]["model"]>;

export const STEPS = [
  { id: "basics", label: "Basics" },
  { id: "disk", label: "System disk" },
  { id: "size", label: "Size & disks" },
  { id: "network", label: "Network" },
  { id: "cloudinit", label: "Cloud-init" },
  { id: "review", label: "Review" },
] as const;
export type StepId = (typeof STEPS)[number]["id"];

export type DiskSource = "volume" | "template" | "blank";
/** create-vm's os_profile: windows gets Hyper-V enlightenments, SATA disks, e1000e NICs, a Cloudbase-Init seed. */
export type OsProfile = "linux" | "windows";
export type NicKind = "network" | "bridge" | "direct";
export const NIC_MODELS: NicModel[] = ["virtio", "e1000", "e1000e", "rtl8139"];

export interface ExtraDiskForm {
  id: number;
  kind: "new" | "existing";
  sizeGib: string;
  format: "qcow2" | "raw";
  pool: string;
  volume: string;
}

export interface NicForm {
  id: number;
  kind: NicKind;
  source: string;
  mac: string;
  model: NicModel;
}

export interface CloudInitForm {
  enabled: boolean;
  hostname: string;
  user: string;
  password: string;
  sudo: boolean;
  keypairs: string[];
  sshKeys: string;
  packages: string;
  timezone: string;
  /** Advanced: raw user-data replaces the structured fields. */
  advanced: boolean;
  userData: string;
}

export interface WizardForm {
  node: string;
  name: string;
  vcpus: string;
  memoryMib: string;
  description: string;
  firmware: "bios" | "uefi";
  secureBoot: boolean;
  tpm: boolean;
  osProfile: OsProfile;
  pool: string;
  source: DiskSource;
  volume: string;
  /** "" = use the volume as it is. */
  clone: "" | "linked" | "full";
  template: string;
  isoPool: string;
  isoVolume: string;
  /** Windows: the VirtIO driver ISO (in the ISO pool), a second cdrom. */
  virtioIsoVolume: string;
  diskSizeGib: string;
  extraDisks: ExtraDiskForm[];
  nics: NicForm[];
  ci: CloudInitForm;
  start: boolean;
  autostart: boolean;
  waitFor: "none" | "agent" | "ip";
}

export function initialForm(node: string): WizardForm {
  return {
    node,
    name: "",
    vcpus: "1",
    memoryMib: "1024",
    description: "",
    firmware: "bios",
    secureBoot: false,
    tpm: false,
    osProfile: "linux",
    pool: "",
    source: "volume",
    volume: "",
    clone: "linked",
    template: "",
    isoPool: "",
    isoVolume: "",
    virtioIsoVolume: "",
    diskSizeGib: "",
    extraDisks: [],
    nics: [],
    ci: {
      enabled: true,
      hostname: "",
      user: "",
      password: "",
      sudo: true,
      keypairs: [],
      sshKeys: "",
      packages: "",
      timezone: "",
      advanced: false,
      userData: "",
    },
    start: true,
    autostart: false,
    waitFor: "none",
  };
}

const lines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

export const pastedKeys = (f: WizardForm) => lines(f.ci.sshKeys);
export const packageList = (f: WizardForm) => f.ci.packages.split(/[\s,]+/).filter(Boolean);

/** The NIC model a new NIC gets: one that works before drivers are installed on Windows. */
export const defaultNicModel = (profile: OsProfile): NicModel => (profile === "windows" ? "e1000e" : "virtio");

const int = (s: string) => (s.trim() === "" ? undefined : Number(s));

/** The request exactly as it is sent (shown on the review step). */
export function buildBody(f: WizardForm, templatesSupported: boolean): CreateVmBody {
  const body: CreateVmBody = {
    node: f.node,
    name: f.name.trim(),
    vcpus: int(f.vcpus),
    memory_mib: int(f.memoryMib),
    firmware: f.firmware,
    start: f.start,
    autostart: f.autostart,
  };
  if (f.osProfile === "windows") body.os_profile = "windows";
  if (f.firmware === "uefi" && f.secureBoot) body.secure_boot = true;
  if (f.tpm) body.tpm = true;
  if (f.description.trim()) body.description = f.description.trim();
  if (f.pool) body.pool = f.pool;
  if (f.source === "volume") {
    if (f.volume) body.volume = f.volume;
    if (f.clone) body.clone = f.clone;
  } else if (f.source === "template" && templatesSupported) {
    if (f.template.trim()) body.template = f.template.trim();
    if (f.clone) body.clone = f.clone;
  } else if (f.source === "blank" && f.isoVolume) {
    body.iso = { volume: f.isoVolume, ...(f.isoPool && f.isoPool !== f.pool ? { pool: f.isoPool } : {}) };
  }
  if (f.source === "blank" && f.osProfile === "windows" && f.virtioIsoVolume) {
    body.virtio_iso = { volume: f.virtioIsoVolume, ...(f.isoPool && f.isoPool !== f.pool ? { pool: f.isoPool } : {}) };
  }
  const size = int(f.diskSizeGib);
  if (size !== undefined && !(f.source === "volume" && !f.clone)) body.disk_size_gib = size;
  if (f.extraDisks.length) {
    body.extra_disks = f.extraDisks.map((d) =>
      d.kind === "new"
        ? { size_gib: int(d.sizeGib), format: d.format, ...(d.pool && d.pool !== f.pool ? { pool: d.pool } : {}) }
        : { volume: d.volume, ...(d.pool && d.pool !== f.pool ? { pool: d.pool } : {}) },
    );
  }
  if (f.nics.length) {
    body.nics = f.nics.map((n) => ({ [n.kind]: n.source, model: n.model, ...(n.mac.trim() ? { mac: n.mac.trim() } : {}) }));
  }
  if (f.waitFor !== "none") body.wait_for = f.waitFor;
  const ci = f.ci;
  if (ci.enabled) {
    const hostname = ci.hostname.trim();
    if (ci.advanced && ci.userData.trim()) {
      body.user_data = ci.userData;
      if (hostname) body.cloud_init = { hostname };
    } else {
      const cloud: NonNullable<CreateVmBody["cloud_init"]> = {};
      if (hostname) cloud.hostname = hostname;
      if (ci.user.trim()) {
        cloud.users = [
          {
            name: ci.user.trim(),
            ...(ci.password ? { password: ci.password } : {}),
            ssh_keys: pastedKeys(f),
            sudo: ci.sudo,
          },
        ];
      }
      if (ci.keypairs.length) cloud.keypairs = ci.keypairs;
      const pkgs = packageList(f);
      if (pkgs.length) cloud.packages = pkgs;
      if (ci.timezone.trim()) cloud.timezone = ci.timezone.trim();
      if (Object.keys(cloud).length) body.cloud_init = cloud;
    }
  }
  return body;
}

/** Checks the wizard makes before moving on (only what the server cannot say better: missing choices). */
export function localProblems(f: WizardForm, step: StepId, templatesSupported: boolean): Record<string, string> {
  const p: Record<string, string> = {};
  if (step === "basics") {
    if (!f.node) p.node = "Choose a node.";
    if (!f.name.trim()) p.name = "Give the VM a name.";
  }
  if (step === "disk") {
    if (!f.pool) p.pool = "Choose the pool where the VM's disks go.";
    if (f.source === "volume" && !f.volume) p.volume = "Choose the volume that becomes the system disk.";
    if (f.source === "template" && templatesSupported && !f.template.trim()) p.template = "Choose a template.";
  }
  if (step === "size") {
    if (f.source === "blank" && !f.diskSizeGib.trim()) p.disk_size_gib = "A blank disk needs a size.";
    f.extraDisks.forEach((d, i) => {
      if (d.kind === "existing" && !d.volume) p[`extra_disks.${i}`] = "Choose a volume.";
      if (d.kind === "new" && !d.sizeGib.trim()) p[`extra_disks.${i}`] = "Give a size.";
    });
  }
  if (step === "network") {
    f.nics.forEach((n, i) => {
      if (!n.source) p[`nics.${i}`] = `Choose the ${n.kind === "direct" ? "host interface" : n.kind}.`;
    });
  }
  if (step === "cloudinit" && f.ci.enabled && f.osProfile === "windows" && !f.ci.advanced && packageList(f).length) {
    p["cloud_init.packages"] = "Cloudbase-Init installs no packages on Windows: leave this empty.";
  }
  if (step === "cloudinit" && f.ci.enabled && !(f.ci.advanced && f.ci.userData.trim())) {
    if ((f.ci.password || pastedKeys(f).length) && !f.ci.user.trim()) p["cloud_init.users.0.name"] = "Name the user the password and keys are for.";
  }
  return p;
}

/** Errors the API reports without field_errors, placed under the field they are about. */
const CODE_FIELD: Record<string, string> = {
  VmExists: "name",
  NodeInMaintenance: "node",
  NodeNotFound: "node",
  NodeUnreachable: "node",
  StoragePoolNotFound: "pool",
  StoragePoolInactive: "pool",
  VolumeNotFound: "volume",
  VolumeInUse: "volume",
  VolumeIsTemplate: "volume",
  VolumeExists: "pool",
  TemplateNotFound: "template",
  TemplateImageMissing: "template",
  NetworkNotFound: "nics",
  NetworkInactive: "nics",
  BridgeNotFound: "nics",
  InterfaceNotFound: "nics",
  MacInUse: "nics",
  InvalidMac: "nics",
  KeypairNotFound: "cloud_init.keypairs",
};

/** The server's message for a wizard field (its field_errors, or a code that is about that field). */
export function apiFieldError(error: ApiError | null, path: string): string | undefined {
  if (!error) return undefined;
  const own = vmFieldError(error, path);
  if (own) return own;
  return CODE_FIELD[error.code] === path ? error.message : undefined;
}

const FIELD_STEP: [RegExp, StepId][] = [
  [/^(node|name|vcpus|memory_mib|description|firmware|secure_boot|tpm|os_profile|cpu_mode|labels)\b/, "basics"],
  [/^(pool|volume|template|clone|iso|virtio_iso|disk_bus)\b/, "disk"],
  [/^(disk_size_gib|extra_disks)\b/, "size"],
  [/^nics\b/, "network"],
  [/^(cloud_init|user_data)\b/, "cloudinit"],
];

export function stepOfField(path: string): StepId {
  for (const [re, step] of FIELD_STEP) if (re.test(path)) return step;
  return "review";
}

/** The steps an API error is about (the wizard marks them and goes back to the first). */
export function stepsOfError(error: ApiError | null): StepId[] {
  if (!error) return [];
  const paths = errorPaths(error);
  const byCode = CODE_FIELD[error.code];
  if (byCode) paths.push(byCode);
  const steps = new Set(paths.map(stepOfField));
  return STEPS.map((s) => s.id).filter((id) => steps.has(id));
}
