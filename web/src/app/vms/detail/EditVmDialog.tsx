"use client";

import { RequestOf, ResponseOf, call } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Vm, isOff, vmFieldError } from "../_components/vmUtil";

const FIELD_NAMES: Record<string, string> = { vcpus: "vCPUs", memory_mib: "memory", memory: "memory", description: "description", autostart: "autostart", name: "name", labels: "labels" };

/** modify-vm: only the fields that changed are sent. The answer says what applied live and what waits for
 * the next boot; the dialog shows it before closing. */
export function EditVmDialog({ vm, open, onClose, onChanged }: { vm: Vm; open: boolean; onClose: () => void; onChanged: (vm: Vm) => void }) {
  // Reset on open only: a refresh of the VM while the dialog is open must not overwrite what is being typed.
  const form = useForm(open, () => ({
    vcpus: String(vm.vcpus ?? ""),
    memory: String(vm.memory_mib ?? ""),
    description: vm.description ?? "",
    autostart: !!vm.autostart,
    newName: vm.name,
    result: null as ResponseOf<"modify-vm"> | null,
  }));
  const { vcpus, memory, description, autostart, newName, result } = form.values;
  const { set, error } = form;

  const body: RequestOf<"modify-vm"> = { node: vm.node, name: vm.name };
  if (vcpus.trim() && Number(vcpus) !== vm.vcpus) body.vcpus = Number(vcpus);
  if (memory.trim() && Number(memory) !== vm.memory_mib) body.memory_mib = Number(memory);
  if (description !== (vm.description ?? "")) body.description = description;
  if (autostart !== !!vm.autostart) body.autostart = autostart;
  if (newName.trim() && newName.trim() !== vm.name) body.new_name = newName.trim();
  const changes = Object.keys(body).length - 2;

  const submit = () =>
    void form.submit("modify-vm", async () => {
      const res = await call("modify-vm", body);
      set("result", res);
      onChanged(res.vm);
    });
  const fe = (f: string) => vmFieldError(error, f) ?? (error?.code === "VmExists" && f === "new_name" ? error.message : undefined)
    ?? (error?.code === "InvalidState" && f === "new_name" && body.new_name ? error.message : undefined);
  const names = (xs: string[]) => xs.map((x) => FIELD_NAMES[x] ?? x).join(", ");

  return (
    <FormDialog
      open={open}
      title={`Edit ${vm.name}`}
      testId="edit-vm-dialog"
      form={form}
      errorTitle="Could not change the VM"
      submitLabel="Save"
      submitDisabled={changes === 0}
      hideSubmit={!!result}
      onClose={onClose}
      onSubmit={submit}
    >
      {result ? (
        <div data-testid="edit-vm-result">
          <Alert tone="info" title="Saved">
            <ul>
              <li data-testid="edit-vm-live">Applied now: {result.applied_live.length ? names(result.applied_live) : "nothing"}</li>
              <li data-testid="edit-vm-next-boot">Waits for the next boot: {result.next_boot.length ? names(result.next_boot) : "nothing"}</li>
              {result.notes.map((n) => (
                <li key={n} data-testid="edit-vm-note">
                  {n}
                </li>
              ))}
            </ul>
          </Alert>
        </div>
      ) : (
        <>
          <div className="split" style={{ alignItems: "flex-start", gap: 12 }}>
            <div style={{ flex: 1 }}>
              <Field label="vCPUs" name="edit-vcpus" error={fe("vcpus")}>
                <TextInput id="edit-vcpus" type="number" min={1} value={vcpus} onChange={(e) => set("vcpus", e.target.value)} data-testid="edit-vcpus" />
              </Field>
            </div>
            <div style={{ flex: 1 }}>
              <Field label="Memory (MiB)" name="edit-memory" error={fe("memory_mib")}>
                <TextInput id="edit-memory" type="number" min={64} step={256} value={memory} onChange={(e) => set("memory", e.target.value)} data-testid="edit-memory" />
              </Field>
            </div>
          </div>
          {!isOff(vm.state) && (
            <p className="small muted" style={{ marginTop: -6, marginBottom: 12 }}>
              A running VM takes vCPUs and memory live up to its maxima; the rest waits for the next boot.
            </p>
          )}
          <Field label="Description" name="edit-description" error={fe("description")}>
            <TextInput id="edit-description" value={description} onChange={(e) => set("description", e.target.value)} data-testid="edit-description" />
          </Field>
          <Field label="Name" name="edit-name" error={fe("new_name")} hint={isOff(vm.state) ? "Renaming keeps the disks where they are." : "Only a stopped VM can be renamed."}>
            <TextInput id="edit-name" value={newName} disabled={!isOff(vm.state)} onChange={(e) => set("newName", e.target.value)} data-testid="edit-name" />
          </Field>
          <Checkbox id="edit-autostart" checked={autostart} onChange={(v) => set("autostart", v)}>
            Autostart with the node
          </Checkbox>
        </>
      )}
    </FormDialog>
  );
}
