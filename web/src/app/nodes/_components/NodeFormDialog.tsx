"use client";

import { useEffect, useState } from "react";
import { call } from "@/lib/api";
import { labelsToText, parseLabels } from "@/lib/format";
import { Field, TextArea, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import type { Node } from "./nodeUtil";

export interface NodeFormDialogProps {
  open: boolean;
  /** Absent: "Add node" (create-node). Present: edit that node (modify-node). */
  node?: Node | null;
  onClose: () => void;
  onSaved: (node: Node) => void;
}

/** Add a node, or edit a node's URI, description and labels. The API's own error (a bad URI's libvirt
 * message, a name in use) is shown inside the dialog; the dialog stays open until it succeeds. */
export function NodeFormDialog({ open, node, onClose, onSaved }: NodeFormDialogProps) {
  const editing = !!node;
  const form = useForm(
    open,
    () => ({ name: node?.name ?? "", uri: node?.uri ?? "", description: node?.description ?? "", labelsText: labelsToText(node?.labels) }),
    node,
  );
  const { name, uri, description, labelsText } = form.values;
  const { set, error } = form;
  const [labelsError, setLabelsError] = useState<string | null>(null);
  useEffect(() => setLabelsError(null), [open, node]);

  const submit = () => {
    const parsed = parseLabels(labelsText);
    setLabelsError(parsed.error);
    if (parsed.error) return;
    void form.submit(editing ? "modify-node" : "create-node", async () => {
      if (editing && node) {
        const body: { name: string; uri?: string; description?: string; labels?: Record<string, string> } = {
          name: node.name,
          description: description,
          labels: parsed.labels,
        };
        // Only a changed URI is sent: the server reconnects to check it.
        if (!node.local && uri.trim() !== node.uri) body.uri = uri.trim();
        onSaved((await call("modify-node", body)).node);
      } else {
        onSaved((await call("create-node", { name: name.trim(), uri: uri.trim(), description, labels: parsed.labels })).node);
      }
    });
  };

  return (
    <FormDialog
      open={open}
      form={form}
      title={editing ? `Edit node ${node?.name}` : "Add node"}
      errorTitle={editing ? "Could not save the node" : "Could not add the node"}
      testId={editing ? "edit-node-dialog" : "add-node-dialog"}
      submitLabel={editing ? "Save" : form.busy ? "Connecting…" : "Add node"}
      onClose={onClose}
      onSubmit={submit}
      wide
    >
      {!editing && (
        <Field
          label="Name"
          name="node-name"
          required
          error={form.field("name")}
          hint="Letters, digits, '.', '_' or '-'; at most 63 characters."
        >
          <TextInput id="node-name" value={name} onChange={(e) => set("name", e.target.value)} placeholder="kvm2" data-testid="node-name-input" />
        </Field>
      )}
      <Field
        label="libvirt URI"
        name="node-uri"
        required
        error={form.field("uri")}
        hint={
          node?.local
            ? "The local node's URI comes from the configuration (local_uri)."
            : "JVP connects before saving; an unreachable URI is refused. Also qemu+tcp://host/system, qemu+tls://host/system."
        }
      >
        <TextInput
          id="node-uri"
          value={uri}
          onChange={(e) => set("uri", e.target.value)}
          placeholder="qemu+ssh://root@host/system"
          disabled={!!node?.local}
          className="input mono"
          data-testid="node-uri-input"
        />
      </Field>
      <Field label="Description" name="node-description" error={form.field("description")}>
        <TextInput
          id="node-description"
          value={description}
          onChange={(e) => set("description", e.target.value)}
          placeholder="Rack 4, 2×EPYC"
          data-testid="node-description-input"
        />
      </Field>
      <Field
        label="Labels"
        name="node-labels"
        error={labelsError ?? form.field("labels")}
        hint="One key=value per line, e.g. zone=eu-1"
      >
        <TextArea
          id="node-labels"
          value={labelsText}
          onChange={(e) => set("labelsText", e.target.value)}
          placeholder={"zone=eu-1\nrack=r4"}
          rows={3}
          data-testid="node-labels-input"
        />
      </Field>
    </FormDialog>
  );
}
