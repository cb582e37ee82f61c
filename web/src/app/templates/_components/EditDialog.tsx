"use client";

import { call } from "@/lib/api";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextArea, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import type { Template } from "./templateUtil";

/** update-template: description, OS facts, features and tags (the image itself changes only through
 * update-template-image). */
export function EditDialog({ template, onClose, onSaved }: {
  template: Template | null;
  onClose: () => void;
  onSaved: (t: Template) => void;
}) {
  const form = useForm(
    !!template,
    () => ({
      os: { name: template?.os.name ?? "", version: template?.os.version ?? "", arch: template?.os.arch ?? "", kernel: template?.os.kernel ?? "" },
      features: { cloud_init: !!template?.features.cloud_init, virtio: !!template?.features.virtio, qemu_guest_agent: !!template?.features.qemu_guest_agent },
      tags: template?.tags.join(", ") ?? "",
      description: template?.description ?? "",
    }),
    template,
  );
  const { os, features, tags, description } = form.values;
  const { set } = form;
  const setOs = (v: typeof os) => set("os", v);
  const setFeatures = (v: typeof features) => set("features", v);

  const save = () => {
    if (!template) return;
    void form.submit("update-template", async () => {
      const res = await call("update-template", {
        node: template.node, name: template.name, description: description.trim(), features,
        os: { name: os.name.trim() || null, version: os.version.trim() || null, arch: os.arch.trim() || null,
              kernel: os.kernel.trim() || null },
        tags: tags.split(",").map((t) => t.trim()).filter(Boolean),
      });
      onSaved(res.template);
    });
  };

  const fe = form.field;
  return (
    <FormDialog open={!!template} form={form} title={template ? `Edit ${template.name}` : ""} errorTitle="Could not save the template"
                testId="edit-template" submitLabel="Save" onClose={onClose} onSubmit={save}>
      {(["name", "version", "arch", "kernel"] as const).map((k) => (
        <Field key={k} label={`OS ${k}`} name={`edit-os-${k}`} error={fe(`os.${k}`)}>
          <TextInput id={`edit-os-${k}`} value={os[k]} onChange={(e) => setOs({ ...os, [k]: e.target.value })} data-testid={`edit-os-${k}`} />
        </Field>
      ))}
      <Checkbox id="edit-cloud-init" checked={features.cloud_init} onChange={(v) => setFeatures({ ...features, cloud_init: v })}>cloud-init</Checkbox>
      <Checkbox id="edit-virtio" checked={features.virtio} onChange={(v) => setFeatures({ ...features, virtio: v })}>virtio drivers</Checkbox>
      <Checkbox id="edit-agent" checked={features.qemu_guest_agent} onChange={(v) => setFeatures({ ...features, qemu_guest_agent: v })}>QEMU guest agent installed</Checkbox>
      <Field label="Tags" name="edit-tags" error={fe("tags")} hint="Comma separated.">
        <TextInput id="edit-tags" value={tags} onChange={(e) => set("tags", e.target.value)} data-testid="edit-tags" />
      </Field>
      <Field label="Description" name="edit-description" error={fe("description")}>
        <TextArea id="edit-description" rows={2} value={description} onChange={(e) => set("description", e.target.value)} data-testid="edit-description" />
      </Field>
    </FormDialog>
  );
}
