"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { Checkbox } from "@/components/Checkbox";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextArea, TextInput, fieldError } from "@/components/Field";
import { FormDialog } from "@/components/FormDialog";
import type { Template } from "./templateUtil";

/** update-template: description, OS facts, features and tags (the image itself changes only through
 * update-template-image). */
export function EditDialog({ template, onClose, onSaved }: {
  template: Template | null;
  onClose: () => void;
  onSaved: (t: Template) => void;
}) {
  const [os, setOs] = useState({ name: "", version: "", arch: "", kernel: "" });
  const [features, setFeatures] = useState({ cloud_init: false, virtio: false, qemu_guest_agent: false });
  const [tags, setTags] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    if (!template) return;
    setOs({ name: template.os.name ?? "", version: template.os.version ?? "", arch: template.os.arch ?? "",
            kernel: template.os.kernel ?? "" });
    setFeatures({ cloud_init: !!template.features.cloud_init, virtio: !!template.features.virtio,
                  qemu_guest_agent: !!template.features.qemu_guest_agent });
    setTags(template.tags.join(", "));
    setDescription(template.description);
    setError(null);
  }, [template]);

  const save = async () => {
    if (!template) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("update-template", {
        node: template.node, name: template.name, description: description.trim(), features,
        os: { name: os.name.trim() || null, version: os.version.trim() || null, arch: os.arch.trim() || null,
              kernel: os.kernel.trim() || null },
        tags: tags.split(",").map((t) => t.trim()).filter(Boolean),
      });
      onSaved(res.template);
    } catch (err) {
      setError(asApiError(err, "update-template"));
    } finally {
      setBusy(false);
    }
  };

  const fe = (f: string) => fieldError(error, f);
  return (
    <FormDialog open={!!template} title={template ? `Edit ${template.name}` : ""} testId="edit-template" busy={busy}
                submitLabel="Save" onClose={onClose} onSubmit={() => void save()}>
      <ErrorBanner error={error} title="Could not save the template" testId="edit-template-error" />
      {(["name", "version", "arch", "kernel"] as const).map((k) => (
        <Field key={k} label={`OS ${k}`} name={`edit-os-${k}`} error={fe(`os.${k}`)}>
          <TextInput id={`edit-os-${k}`} value={os[k]} onChange={(e) => setOs({ ...os, [k]: e.target.value })} data-testid={`edit-os-${k}`} />
        </Field>
      ))}
      <Checkbox id="edit-cloud-init" checked={features.cloud_init} onChange={(v) => setFeatures({ ...features, cloud_init: v })}>cloud-init</Checkbox>
      <Checkbox id="edit-virtio" checked={features.virtio} onChange={(v) => setFeatures({ ...features, virtio: v })}>virtio drivers</Checkbox>
      <Checkbox id="edit-agent" checked={features.qemu_guest_agent} onChange={(v) => setFeatures({ ...features, qemu_guest_agent: v })}>QEMU guest agent installed</Checkbox>
      <Field label="Tags" name="edit-tags" error={fe("tags")} hint="Comma separated.">
        <TextInput id="edit-tags" value={tags} onChange={(e) => setTags(e.target.value)} data-testid="edit-tags" />
      </Field>
      <Field label="Description" name="edit-description" error={fe("description")}>
        <TextArea id="edit-description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="edit-description" />
      </Field>
    </FormDialog>
  );
}
