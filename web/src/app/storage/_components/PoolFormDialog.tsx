"use client";

import { RequestOf, call } from "@/lib/api";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { PATH_TYPES, POOL_TYPES, Pool, PoolType, SOURCE_FIELDS, SourceKey, errorFor } from "./storageUtil";

const TYPE_HELP: Record<PoolType, string> = {
  dir: "A directory of the node: volumes are qcow2 or raw files.",
  fs: "A block device with a filesystem, mounted on the path.",
  netfs: "An NFS, GlusterFS or CIFS export, mounted on the path.",
  logical: "An LVM volume group: volumes are logical volumes.",
  disk: "A whole disk: volumes are partitions.",
  iscsi: "The LUNs of an iSCSI target.",
  rbd: "A Ceph RBD pool.",
};

/** Create a pool. The server checks everything (path rule, source fields per type) and its messages show
 * under the fields they are about. */
export function PoolFormDialog({ open, node, onClose, onCreated }: {
  open: boolean;
  node: string;
  onClose: () => void;
  onCreated: (pool: Pool) => void;
}) {
  const form = useForm(open, () => ({ name: "", type: "dir" as PoolType, path: "", source: {} as Partial<Record<SourceKey, string>>, autostart: true }));
  const { name, type, path, source, autostart } = form.values;
  const { set, error } = form;

  const submit = () => {
    const body: RequestOf<"create-storage-pool"> = { node, name: name.trim(), type, autostart };
    if (path.trim()) body.path = path.trim();
    const src: NonNullable<RequestOf<"create-storage-pool">["source"]> = {};
    for (const f of SOURCE_FIELDS[type]) {
      const v = (source[f.key] ?? "").trim();
      if (!v) continue;
      if (f.key === "devices" || f.key === "hosts") src[f.key] = v.split(",").map((s) => s.trim()).filter(Boolean);
      else if (f.key === "port") src.port = Number(v);
      else src[f.key] = v;
    }
    if (Object.keys(src).length) body.source = src;
    void form.submit("create-storage-pool", async () => onCreated((await call("create-storage-pool", body)).pool));
  };

  return (
    <FormDialog
      open={open}
      form={form}
      title={`Create storage pool on ${node}`}
      errorTitle="Could not create the pool"
      testId="create-pool-dialog"
      submitLabel="Create pool"
      onClose={onClose}
      onSubmit={submit}
      wide
    >
      <Field label="Name" name="pool-name" required error={errorFor(error, "name")} hint="Letters, digits, '.', '_' or '-'.">
        <TextInput id="pool-name" value={name} onChange={(e) => set("name", e.target.value)} placeholder="vms" data-testid="pool-name-input" />
      </Field>
      <Field label="Type" name="pool-type" error={errorFor(error, "type")} hint={TYPE_HELP[type]}>
        <Select id="pool-type" value={type} onChange={(e) => set("type", e.target.value as PoolType)} data-testid="pool-type-input">
          <Options values={POOL_TYPES} />
        </Select>
      </Field>
      {type !== "rbd" && (
        <Field
          label={type === "dir" ? "Directory" : PATH_TYPES.includes(type) ? "Mount point" : "Target path"}
          name="pool-path"
          required={PATH_TYPES.includes(type)}
          error={errorFor(error, "path")}
          hint={PATH_TYPES.includes(type)
            ? "Any absolute directory outside the system's own (/etc, /usr, ...); no '..'. Created when missing."
            : "Optional: libvirt's default for the type."}
        >
          <TextInput id="pool-path" className="input mono" value={path} onChange={(e) => set("path", e.target.value)} placeholder="/srv/vms" data-testid="pool-path-input" />
        </Field>
      )}
      {SOURCE_FIELDS[type].map((f) => (
        <Field key={`${type}-${f.key}`} label={f.label} name={`pool-src-${f.key}`} required={f.required} error={errorFor(error, f.key)} hint={f.hint}>
          <TextInput
            id={`pool-src-${f.key}`}
            className="input mono"
            value={source[f.key] ?? ""}
            onChange={(e) => set("source", { ...source, [f.key]: e.target.value })}
            placeholder={f.placeholder}
            data-testid={`pool-src-${f.key}-input`}
          />
        </Field>
      ))}
      <label htmlFor="pool-autostart-input" className="split" style={{ fontWeight: 500 }}>
        <input id="pool-autostart-input" type="checkbox" checked={autostart} onChange={(e) => set("autostart", e.target.checked)} data-testid="pool-autostart-input" />
        Start with the host (autostart)
      </label>
    </FormDialog>
  );
}
