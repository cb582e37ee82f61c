"use client";

import { FormEvent, useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { labelsToText, parseLabels } from "@/lib/format";
import { Modal } from "@/components/Modal";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextArea, TextInput, fieldError } from "@/components/Field";
import { Spinner } from "@/components/Loading";
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
  const [name, setName] = useState("");
  const [uri, setUri] = useState("");
  const [description, setDescription] = useState("");
  const [labelsText, setLabelsText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [labelsError, setLabelsError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setName(node?.name ?? "");
    setUri(node?.uri ?? "");
    setDescription(node?.description ?? "");
    setLabelsText(labelsToText(node?.labels));
    setError(null);
    setLabelsError(null);
    setBusy(false);
  }, [open, node]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseLabels(labelsText);
    setLabelsError(parsed.error);
    if (parsed.error) return;
    setBusy(true);
    setError(null);
    try {
      let saved: Node;
      if (editing && node) {
        const body: { name: string; uri?: string; description?: string; labels?: Record<string, string> } = {
          name: node.name,
          description: description,
          labels: parsed.labels,
        };
        // Only a changed URI is sent: the server reconnects to check it.
        if (!node.local && uri.trim() !== node.uri) body.uri = uri.trim();
        saved = (await call("modify-node", body)).node;
      } else {
        saved = (
          await call("create-node", {
            name: name.trim(),
            uri: uri.trim(),
            description,
            labels: parsed.labels,
          })
        ).node;
      }
      onSaved(saved);
    } catch (err) {
      setError(asApiError(err, editing ? "modify-node" : "create-node"));
    } finally {
      setBusy(false);
    }
  };

  const testId = editing ? "edit-node-dialog" : "add-node-dialog";
  return (
    <Modal
      open={open}
      title={editing ? `Edit node ${node?.name}` : "Add node"}
      onClose={onClose}
      busy={busy}
      testId={testId}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>
            Cancel
          </button>
          <button type="submit" form={`${testId}-form`} className="btn btn-primary" disabled={busy} data-testid={`${testId}-submit`}>
            {busy && <Spinner />}
            {editing ? "Save" : busy ? "Connecting…" : "Add node"}
          </button>
        </>
      }
    >
      <form id={`${testId}-form`} onSubmit={submit} noValidate>
        <ErrorBanner error={error} title={editing ? "Could not save the node" : "Could not add the node"} testId={`${testId}-error`} />
        {!editing && (
          <Field
            label="Name"
            name="node-name"
            required
            error={fieldError(error, "name")}
            hint="Letters, digits, '.', '_' or '-'; at most 63 characters."
          >
            <TextInput id="node-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="kvm2" data-testid="node-name-input" />
          </Field>
        )}
        <Field
          label="libvirt URI"
          name="node-uri"
          required
          error={fieldError(error, "uri")}
          hint={
            node?.local
              ? "The local node's URI comes from the configuration (local_uri)."
              : "JVP connects before saving; an unreachable URI is refused. Also qemu+tcp://host/system, qemu+tls://host/system."
          }
        >
          <TextInput
            id="node-uri"
            value={uri}
            onChange={(e) => setUri(e.target.value)}
            placeholder="qemu+ssh://root@host/system"
            disabled={!!node?.local}
            className="input mono"
            data-testid="node-uri-input"
          />
        </Field>
        <Field label="Description" name="node-description" error={fieldError(error, "description")}>
          <TextInput
            id="node-description"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            placeholder="Rack 4, 2×EPYC"
            data-testid="node-description-input"
          />
        </Field>
        <Field
          label="Labels"
          name="node-labels"
          error={labelsError ?? fieldError(error, "labels")}
          hint="One key=value per line, e.g. zone=eu-1"
        >
          <TextArea
            id="node-labels"
            value={labelsText}
            onChange={(e) => setLabelsText(e.target.value)}
            placeholder={"zone=eu-1\nrack=r4"}
            rows={3}
            data-testid="node-labels-input"
          />
        </Field>
      </form>
    </Modal>
  );
}
