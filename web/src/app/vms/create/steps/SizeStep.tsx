"use client";

import { formatBytes } from "@/lib/format";
import { Field, Select, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { VolumeSelect } from "../../_components/StoragePickers";
import { WizardForm } from "../wizardModel";
import { StepProps, newId } from "./shared";

// -- size & extra disks ---------------------------------------------------------------------------------
export function SizeStep({ form, set, err, baseCapacity }: StepProps & { baseCapacity: number | null }) {
  const asIs = form.source === "volume" && !form.clone;
  const update = (id: number, patch: Partial<WizardForm["extraDisks"][number]>) =>
    set({ extraDisks: form.extraDisks.map((d) => (d.id === id ? { ...d, ...patch } : d)) });
  return (
    <>
      <Field
        label="System disk size (GiB)"
        name="vm-disk-size"
        required={form.source === "blank"}
        error={err("disk_size_gib")}
        hint={
          asIs
            ? "The volume is used as it is: resize it on the storage page if needed."
            : form.source === "blank"
              ? "The size of the blank disk."
              : `Empty: the base image's size${baseCapacity ? ` (${formatBytes(baseCapacity)})` : ""}. A larger size grows the clone.`
        }
      >
        <TextInput
          id="vm-disk-size"
          type="number"
          min={1}
          value={asIs ? "" : form.diskSizeGib}
          disabled={asIs}
          onChange={(e) => set({ diskSizeGib: e.target.value })}
          placeholder={asIs ? "as it is" : form.source === "blank" ? "20" : "same as the base"}
          data-testid="vm-disk-size"
        />
      </Field>
      <div className="section-title">Extra disks</div>
      {form.extraDisks.length === 0 && <p className="muted small" style={{ marginBottom: 10 }}>None. They are attached as vdb, vdc, … in this order.</p>}
      {form.extraDisks.map((d, i) => (
        <div key={d.id} className="card" style={{ padding: "12px 14px", marginBottom: 10 }} data-testid="extra-disk">
          <div className="split" style={{ justifyContent: "space-between", marginBottom: 8 }}>
            <strong>
              Disk {i + 1}: {d.kind === "new" ? "new" : "existing volume"}
            </strong>
            <button type="button" className="btn btn-sm btn-ghost" onClick={() => set({ extraDisks: form.extraDisks.filter((x) => x.id !== d.id) })} data-testid={`extra-disk-remove-${i}`}>
              <Icon name="trash" size={13} /> Remove
            </button>
          </div>
          <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 12 }}>
            {d.kind === "new" ? (
              <>
                <div style={{ flex: "1 1 140px" }}>
                  <Field label="Size (GiB)" name={`extra-size-${i}`} error={err(`extra_disks.${i}.size_gib`) ?? err(`extra_disks.${i}`)}>
                    <TextInput id={`extra-size-${i}`} type="number" min={1} value={d.sizeGib} onChange={(e) => update(d.id, { sizeGib: e.target.value })} data-testid={`extra-size-${i}`} />
                  </Field>
                </div>
                <div style={{ flex: "1 1 140px" }}>
                  <Field label="Format" name={`extra-format-${i}`} error={err(`extra_disks.${i}.format`)}>
                    <Select id={`extra-format-${i}`} value={d.format} onChange={(e) => update(d.id, { format: e.target.value as "qcow2" | "raw" })}>
                      <option value="qcow2">qcow2</option>
                      <option value="raw">raw</option>
                    </Select>
                  </Field>
                </div>
              </>
            ) : (
              <div style={{ flex: "1 1 300px" }}>
                <VolumeSelect
                  id={`extra-volume-${i}`}
                  node={form.node}
                  pool={d.pool || form.pool}
                  value={d.volume}
                  onChange={(volume) => update(d.id, { volume })}
                  error={err(`extra_disks.${i}.volume`) ?? err(`extra_disks.${i}`)}
                  label={`Volume (pool ${d.pool || form.pool || "?"})`}
                />
              </div>
            )}
          </div>
        </div>
      ))}
      <div className="split">
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => set({ extraDisks: [...form.extraDisks, { id: newId(), kind: "new", sizeGib: "10", format: "qcow2", pool: "", volume: "" }] })}
          data-testid="add-extra-new"
        >
          <Icon name="plus" size={13} /> New disk
        </button>
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => set({ extraDisks: [...form.extraDisks, { id: newId(), kind: "existing", sizeGib: "", format: "qcow2", pool: "", volume: "" }] })}
          data-testid="add-extra-volume"
        >
          <Icon name="plus" size={13} /> Existing volume
        </button>
      </div>
    </>
  );
}
