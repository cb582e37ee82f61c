"use client";

import { RequestOf, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { Pool, Volume, errorFor, freeText, gibOf } from "../_components/storageUtil";

/** A blank volume (qcow2 or raw), or a qcow2 overlay on a volume of the same pool. */
export function CreateVolumeDialog({ open, pool, volumes, onClose, onCreated }: {
  open: boolean;
  pool: Pool;
  volumes: Volume[];
  onClose: () => void;
  onCreated: (v: Volume) => void;
}) {
  const form = useForm(open, () => ({ name: "", size: "10", format: "qcow2" as "qcow2" | "raw", backing: "" }));
  const { name, size, format, backing } = form.values;
  const { set, error } = form;
  const submit = () => {
    const body: RequestOf<"create-volume"> = { node: pool.node, pool: pool.name, name: name.trim(), size_gib: Number(size), format };
    if (backing) body.backing_volume = backing;
    void form.submit("create-volume", async () => onCreated((await call("create-volume", body)).volume));
  };
  const fileBased = ["dir", "fs", "netfs"].includes(pool.type);
  return (
    <FormDialog open={open} form={form} title={`New volume in ${pool.name}`} errorTitle="Could not create the volume" testId="create-volume-dialog"
                submitLabel="Create volume" onClose={onClose} onSubmit={submit}>
      <Field label="Name" name="vol-name" required error={errorFor(error, "name")} hint="e.g. data1.qcow2">
        <TextInput id="vol-name" value={name} onChange={(e) => set("name", e.target.value)} data-testid="vol-name-input" />
      </Field>
      <Field label="Size (GiB)" name="vol-size" required error={errorFor(error, "size_gib")} hint={`${freeText(pool)} free in the pool; thin in file pools.`}>
        <TextInput id="vol-size" type="number" min={1} value={size} onChange={(e) => set("size", e.target.value)} data-testid="vol-size-input" />
      </Field>
      {fileBased && (
        <>
          <Field label="Format" name="vol-format" error={errorFor(error, "format")}>
            <Select id="vol-format" value={format} onChange={(e) => set("format", e.target.value as "qcow2" | "raw")} data-testid="vol-format-input">
              <Options values={["qcow2", "raw"]} />
            </Select>
          </Field>
          <Field label="Backing volume" name="vol-backing" error={errorFor(error, "backing_volume")} hint="Optional: a qcow2 overlay on this volume (linked clone).">
            <Select id="vol-backing" value={backing} onChange={(e) => set("backing", e.target.value)} data-testid="vol-backing-input">
              <option value="">none</option>
              <Options values={volumes.map((v) => v.name)} />
            </Select>
          </Field>
        </>
      )}
    </FormDialog>
  );
}

/** Grow a volume; a running VM attaching it is grown live. */
export function ResizeVolumeDialog({ volume, onClose, onResized }: {
  volume: Volume | null;
  onClose: () => void;
  onResized: (v: Volume, liveVms: string[]) => void;
}) {
  const form = useForm(!!volume, () => ({ size: volume ? String(gibOf(volume.capacity_bytes) + 1) : "" }), volume);
  const { size } = form.values;
  const submit = () => {
    if (!volume) return;
    void form.submit("resize-volume", async () => {
      const res = await call("resize-volume", { node: volume.node, pool: volume.pool, name: volume.name, size_gib: Number(size) });
      onResized(res.volume, res.live_vms);
    });
  };
  return (
    <FormDialog open={!!volume} form={form} title={`Resize ${volume?.name ?? ""}`} errorTitle="Could not resize the volume" testId="resize-volume-dialog"
                submitLabel="Grow volume" onClose={onClose} onSubmit={submit}>
      <Field label="New size (GiB)" name="resize-size" required error={errorFor(form.error, "size_gib")}
             hint={`Now ${formatBytes(volume?.capacity_bytes)}. Grow only; a running VM that attaches it sees the new size at once.`}>
        <TextInput id="resize-size" type="number" min={1} value={size} onChange={(e) => form.set("size", e.target.value)} data-testid="resize-size-input" />
      </Field>
    </FormDialog>
  );
}

/** A full copy on the node, as a task whose progress shows here until it ends. */
export function CloneVolumeDialog({ volume, onClose, onCloned }: {
  volume: Volume | null;
  onClose: () => void;
  onCloned: (task: Task) => void;
}) {
  const form = useForm(
    !!volume,
    () => ({
      name: volume ? `${volume.name.replace(/(\.[a-z0-9]+)?$/i, "")}-copy${volume.name.match(/\.[a-z0-9]+$/i)?.[0] ?? ""}` : "",
      target: volume?.pool ?? "",
      taskId: null as string | null,
    }),
    volume,
  );
  const { name, target, taskId } = form.values;
  const { set, error } = form;
  const pools = useQuery("list-storage-pools", { node: volume?.node ?? "local" }, { enabled: !!volume });
  const submit = () => {
    if (!volume) return;
    void form.submit("clone-volume", async () => {
      const res = await call("clone-volume", { node: volume.node, pool: volume.pool, name: volume.name, new_name: name.trim(), target_pool: target || undefined });
      set("taskId", res.task.id);
    });
  };
  const active = (pools.data?.pools ?? []).filter((p) => p.active);
  return (
    <FormDialog open={!!volume} form={form} title={`Clone ${volume?.name ?? ""}`} errorTitle="Could not start the clone" testId="clone-volume-dialog"
                submitLabel="Clone" onClose={onClose} onSubmit={submit} hideSubmit={!!taskId}>
      {taskId ? (
        <TaskProgress taskId={taskId} testId="clone-task" onDone={onCloned} />
      ) : (
        <>
          <Field label="New name" name="clone-name" required error={errorFor(error, "new_name") ?? errorFor(error, "name")}>
            <TextInput id="clone-name" value={name} onChange={(e) => set("name", e.target.value)} data-testid="clone-name-input" />
          </Field>
          <Field label="Into pool" name="clone-pool" error={errorFor(error, "target_pool")} hint="A pool of the same node; the copy is made there by libvirt.">
            <Select id="clone-pool" value={target} onChange={(e) => set("target", e.target.value)} data-testid="clone-pool-input">
              <Options values={active.length ? active.map((p) => p.name) : [volume?.pool ?? ""]} />
            </Select>
          </Field>
        </>
      )}
    </FormDialog>
  );
}
