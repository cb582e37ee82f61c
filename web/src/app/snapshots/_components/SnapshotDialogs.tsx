"use client";

// The dialogs of every snapshot action. Tasks (create, clone, export) show their progress in the dialog
// until they end; revert and delete are confirmations.
import { useEffect, useState } from "react";
import { ApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { useOperations } from "@/lib/useOperations";
import { Checkbox } from "@/components/Checkbox";
import { Alert } from "@/components/ErrorBanner";
import { Field, Select, TextArea, TextInput, fieldError } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { Snapshot, memoryAllowed } from "./snapshotUtil";

/** Start a task from a dialog; the dialog then shows its progress instead of the form. */
function useTaskStart(open: boolean, resetKey?: unknown) {
  const form = useForm(open, () => ({ taskId: null as string | null }), resetKey);
  const start = (action: string, fn: () => Promise<{ task: { id: string } }>) =>
    void form.submit(action, async () => form.set("taskId", (await fn()).task.id));
  return { ...form, taskId: form.values.taskId, start };
}

function errorOf(error: ApiError | null, field: string, codes: string[] = []): string | undefined {
  return fieldError(error, field) ?? (error && codes.includes(error.code) ? error.message : undefined);
}

export function CreateSnapshotDialog({ open, node, vm, vmState, vms, onClose, onDone }: {
  open: boolean;
  node: string;
  /** The VM, or null to choose one of `vms` in the dialog. */
  vm: string | null;
  vmState?: string | null;
  vms?: { name: string; state: string }[];
  onClose: () => void;
  onDone: (task: Task) => void;
}) {
  const t = useTaskStart(open, vm);
  const [chosen, setChosen] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [memory, setMemory] = useState(false);
  useEffect(() => {
    if (!open) return;
    setChosen(vm ?? vms?.[0]?.name ?? "");
    setName("");
    setDescription("");
    setMemory(false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, vm]);
  const target = vm ?? chosen;
  const state = vm ? vmState : vms?.find((v) => v.name === chosen)?.state;
  const canMemory = memoryAllowed(state);
  const submit = () =>
    t.start("create-snapshot", () =>
      call("create-snapshot", { node, vm: target, name: name.trim() || undefined, description, include_memory: memory && canMemory }));
  return (
    <FormDialog open={open} title={`Take a snapshot${target ? ` of ${target}` : ""}`} testId="snapshot-create" form={t} errorTitle="Could not take the snapshot"
                submitLabel="Take snapshot" onClose={onClose} onSubmit={submit} hideSubmit={!!t.taskId} submitDisabled={!target}>
      {t.taskId ? (
        <TaskProgress taskId={t.taskId} testId="snapshot-create-task" onDone={onDone} />
      ) : (
        <>
          {!vm && (
            <Field label="VM" name="snapshot-vm" required error={errorOf(t.error, "vm", ["VmNotFound"])}>
              <Select id="snapshot-vm" value={chosen} onChange={(e) => setChosen(e.target.value)} data-testid="snapshot-vm-input">
                {(vms ?? []).map((v) => (
                  <option key={v.name} value={v.name}>
                    {v.name} ({v.state})
                  </option>
                ))}
              </Select>
            </Field>
          )}
          <Field label="Name" name="snapshot-name" error={errorOf(t.error, "name", ["SnapshotExists"])} hint="Optional: snap-YYYYMMDD-HHMMSS by default.">
            <TextInput id="snapshot-name" value={name} onChange={(e) => setName(e.target.value)} data-testid="snapshot-name-input" />
          </Field>
          <Field label="Description" name="snapshot-description" error={errorOf(t.error, "description")}>
            <TextArea id="snapshot-description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="snapshot-description-input" />
          </Field>
          <Checkbox id="snapshot-memory" checked={memory && canMemory} disabled={!canMemory} onChange={setMemory} testId="snapshot-memory-input"
                    hint={canMemory ? "Also save the RAM: a revert then resumes the VM where it was." : "Only a running or paused VM has memory to save."}>
            Include memory
          </Checkbox>
        </>
      )}
    </FormDialog>
  );
}

type RevertAfter = "recorded" | "run";

/** Revert and delete: confirmations, each with its one option. */
export function useSnapshotOps(onChanged: () => void) {
  const [after, setAfter] = useState<RevertAfter>("recorded");
  const [children, setChildren] = useState(false);
  return useOperations<Snapshot, "revert" | "delete">({
    key: (snap) => `${snap.vm}/${snap.name}`,
    onChanged,
    ops: {
      revert: {
        action: "revert-snapshot",
        onAsk: () => setAfter("recorded"),
        confirm: (snap) => {
          const recorded = snap.revert_state ?? "stopped";
          return {
            title: `Revert ${snap.vm} to ${snap.name}?`,
            testId: "snapshot-revert",
            confirmLabel: "Revert",
            danger: true,
            message: (
              <>
                <p>
                  The VM&apos;s disks{snap.has_memory ? " and memory" : ""} go back to {snap.created_at ?? "the snapshot"}; what changed since is
                  lost (unless another snapshot holds it). The VM ends <strong data-testid="snapshot-revert-ends">{after === "run" ? "running" : recorded}</strong>.
                </p>
                <Field label="Afterwards" name="snapshot-revert-after"
                       hint={snap.has_memory ? "With memory the VM resumes where it was." : "Without memory a running VM boots from the reverted disks."}>
                  <Select id="snapshot-revert-after" value={after} onChange={(e) => setAfter(e.target.value as RevertAfter)}
                          data-testid="snapshot-revert-after">
                    <option value="recorded">As the snapshot recorded ({recorded})</option>
                    <option value="run">Running</option>
                  </Select>
                </Field>
              </>
            ),
          };
        },
        run: async (snap) => {
          // start false (the default): the state the snapshot recorded; true: running whatever was recorded
          await call("revert-snapshot", { node: snap.node, vm: snap.vm, name: snap.name, start: after === "run" });
          return `${snap.vm} reverted to ${snap.name}`;
        },
      },
      delete: {
        action: "delete-snapshot",
        onAsk: () => setChildren(false),
        confirm: (snap) => {
          const kids = snap.children.length;
          return {
            title: `Delete snapshot ${snap.name}?`,
            testId: "snapshot-delete",
            confirmLabel: "Delete",
            danger: true,
            typeToConfirm: snap.name,
            message: (
              <>
                <p>Its data is removed from the VM&apos;s disks. The VM itself does not change.</p>
                {kids > 0 && (
                  <Checkbox id="snapshot-delete-children" checked={children} onChange={setChildren} testId="snapshot-delete-children"
                            hint={children ? `Its ${kids} child snapshot(s) and their descendants are deleted too.` : `Its ${kids} child snapshot(s) move to its parent.`}>
                    Delete its children too
                  </Checkbox>
                )}
              </>
            ),
          };
        },
        run: async (snap) => `Deleted ${(await call("delete-snapshot", { node: snap.node, vm: snap.vm, name: snap.name, children })).deleted.join(", ")}`,
      },
    },
  });
}

function PoolSelect({ node, value, onChange, id, error, hint }: { node: string; value: string; onChange: (v: string) => void; id: string; error?: string; hint: string }) {
  const pools = useQuery("list-storage-pools", { node });
  return (
    <Field label="Pool" name={id} error={error} hint={hint}>
      <Select id={id} value={value} onChange={(e) => onChange(e.target.value)} data-testid={`${id}-input`}>
        <option value="">(the source disk&apos;s pool)</option>
        {(pools.data?.pools ?? []).filter((p) => p.active).map((p) => (
          <option key={p.name} value={p.name}>
            {p.name}
          </option>
        ))}
      </Select>
    </Field>
  );
}

export function CloneSnapshotDialog({ snap, onClose, onDone }: { snap: Snapshot | null; onClose: () => void; onDone: (task: Task) => void }) {
  const t = useTaskStart(!!snap, snap);
  const [name, setName] = useState("");
  const [pool, setPool] = useState("");
  const [start, setStart] = useState(true);
  useEffect(() => {
    setName(snap ? `${snap.vm}-clone` : "");
    setPool("");
    setStart(true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [snap]);
  const submit = () =>
    snap && t.start("clone-from-snapshot", () =>
      call("clone-from-snapshot", { node: snap.node, vm: snap.vm, name: snap.name, new_name: name.trim(), pool: pool || undefined, start }));
  return (
    <FormDialog open={!!snap} title={`New VM from ${snap?.vm ?? ""} at ${snap?.name ?? ""}`} testId="snapshot-clone" form={t} errorTitle="Could not start the clone"
                submitLabel="Clone" onClose={onClose} onSubmit={submit} hideSubmit={!!t.taskId}>
      {t.taskId ? (
        <TaskProgress taskId={t.taskId} testId="snapshot-clone-task" onDone={onDone} />
      ) : (
        <>
          <Alert tone="info">Every disk is copied as it was at the snapshot into new, independent volumes; the new VM gets its own UUID, MACs and cloud-init identity. The source VM keeps running.</Alert>
          <Field label="New VM name" name="snapshot-clone-name" required error={errorOf(t.error, "new_name", ["VmExists", "VolumeExists"])}>
            <TextInput id="snapshot-clone-name" value={name} onChange={(e) => setName(e.target.value)} data-testid="snapshot-clone-name-input" />
          </Field>
          {snap && <PoolSelect node={snap.node} value={pool} onChange={setPool} id="snapshot-clone-pool" error={errorOf(t.error, "pool", ["StoragePoolNotFound", "StoragePoolInactive"])} hint="Where the new disks go." />}
          <Checkbox id="snapshot-clone-start" checked={start} onChange={setStart} testId="snapshot-clone-start">
            Start the new VM
          </Checkbox>
        </>
      )}
    </FormDialog>
  );
}

export function ExportSnapshotDialog({ snap, onClose, onDone }: { snap: Snapshot | null; onClose: () => void; onDone: (task: Task) => void }) {
  const t = useTaskStart(!!snap, snap);
  const [template, setTemplate] = useState("");
  const [pool, setPool] = useState("");
  const [description, setDescription] = useState("");
  useEffect(() => {
    setTemplate(snap ? `${snap.vm}-${snap.name}` : "");
    setPool("");
    setDescription("");
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [snap]);
  const submit = () =>
    snap && t.start("export-snapshot-to-template", () =>
      call("export-snapshot-to-template", { node: snap.node, vm: snap.vm, name: snap.name, template: template.trim(), pool: pool || undefined, description }));
  return (
    <FormDialog open={!!snap} title={`Template from ${snap?.vm ?? ""} at ${snap?.name ?? ""}`} testId="snapshot-export" form={t} errorTitle="Could not start the export"
                submitLabel="Export" onClose={onClose} onSubmit={submit} hideSubmit={!!t.taskId}>
      {t.taskId ? (
        <TaskProgress taskId={t.taskId} testId="snapshot-export-task" onDone={onDone} />
      ) : (
        <>
          <Alert tone="info">The system disk as it was at the snapshot becomes one flat, compressed qcow2 in the template library.</Alert>
          <Field label="Template name" name="snapshot-export-name" required error={errorOf(t.error, "template", ["TemplateExists"])}>
            <TextInput id="snapshot-export-name" value={template} onChange={(e) => setTemplate(e.target.value)} data-testid="snapshot-export-name-input" />
          </Field>
          {snap && <PoolSelect node={snap.node} value={pool} onChange={setPool} id="snapshot-export-pool" error={errorOf(t.error, "pool", ["StoragePoolNotFound", "TemplatesNotSupported"])} hint="The template goes to this pool's template directory." />}
          <Field label="Description" name="snapshot-export-description" error={errorOf(t.error, "description")}>
            <TextArea id="snapshot-export-description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="snapshot-export-description-input" />
          </Field>
        </>
      )}
    </FormDialog>
  );
}
