"use client";

import { ApiError, ResponseOf, call } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { CodeBlock } from "@/components/CodeBlock";
import { Field, Select, TextArea, TextInput, fieldError } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Icon } from "@/components/Icon";
import { downloadText } from "./download";

type NewKeypair = ResponseOf<"create-keypair">;

const nameError = (e: ApiError | null) => fieldError(e, "name") ?? (e?.code === "KeypairExists" ? e.message : undefined);

/** Generate a keypair. The answer holds the private key, shown here once: it is never stored by JVP, so the
 * dialog keeps it on screen (with a download) until the user says it is saved. */
export function CreateKeypairDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: () => void }) {
  const form = useForm(open, () => ({
    name: "",
    algorithm: "ed25519" as "ed25519" | "rsa",
    bits: 3072 as 2048 | 3072 | 4096,
    created: null as NewKeypair | null,
    saved: false,
    downloaded: false,
  }));
  const { name, algorithm, bits, created, saved, downloaded } = form.values;
  const { set, error } = form;

  const submit = () =>
    void form.submit("create-keypair", async () => {
      set("created", await call("create-keypair", { name: name.trim(), algorithm, ...(algorithm === "rsa" ? { bits } : {}) }));
      onCreated();
    });

  const download = () => {
    if (!created) return;
    downloadText(`${created.keypair.name}.pem`, created.private_key.endsWith("\n") ? created.private_key : `${created.private_key}\n`);
    set("downloaded", true);
  };

  // Once the key is shown, closing needs the user's word that it is saved (Escape and the backdrop too).
  const close = () => {
    if (created && !saved && !downloaded) {
      if (!window.confirm("The private key will not be shown again. Close anyway?")) return;
    }
    onClose();
  };

  if (created) {
    return (
      <FormDialog open={open} title={`Keypair ${created.keypair.name} created`} testId="keypair-created-dialog" submitLabel="" hideSubmit onClose={close} onSubmit={() => undefined} wide>
        <Alert tone="warning" title="Save the private key now" testId="private-key-warning">
          This is the only time it is shown: JVP keeps the public half only. Download it (or copy it) and keep it with{" "}
          <code>chmod 600</code>; whoever has it can log in to every VM that received this keypair.
        </Alert>
        <div style={{ margin: "14px 0 8px" }} className="split">
          <button type="button" className="btn btn-primary" onClick={download} data-testid="private-key-download">
            <Icon name="download" size={15} /> Download {created.keypair.name}.pem
          </button>
          {downloaded && <span className="small yes" data-testid="private-key-downloaded">Downloaded</span>}
        </div>
        <CodeBlock text={created.private_key} maxHeight={260} testId="private-key" />
        <div className="small muted" style={{ margin: "10px 0" }}>
          Fingerprint <code data-testid="created-fingerprint">{created.keypair.fingerprint}</code>
        </div>
        <Checkbox id="private-key-saved" checked={saved} onChange={(v) => set("saved", v)}>
          I have saved the private key
        </Checkbox>
      </FormDialog>
    );
  }

  return (
    <FormDialog open={open} form={form} title="Create a keypair" errorTitle="Could not create the keypair" testId="create-keypair-dialog"
                submitLabel="Create keypair" onClose={onClose} onSubmit={submit}>
      <Field label="Name" name="keypair-name" required error={nameError(error)} hint="Letters, digits, '.', '_' or '-'.">
        <TextInput id="keypair-name" value={name} onChange={(e) => set("name", e.target.value)} placeholder="alice-laptop" data-testid="keypair-name" />
      </Field>
      <div className="split" style={{ alignItems: "flex-start", gap: 12 }}>
        <div style={{ flex: 1 }}>
          <Field label="Algorithm" name="keypair-algorithm" error={fieldError(error, "algorithm")}>
            <Select id="keypair-algorithm" value={algorithm} onChange={(e) => set("algorithm", e.target.value as "ed25519" | "rsa")} data-testid="keypair-algorithm">
              <option value="ed25519">Ed25519 (recommended)</option>
              <option value="rsa">RSA</option>
            </Select>
          </Field>
        </div>
        {algorithm === "rsa" && (
          <div style={{ flex: 1 }}>
            <Field label="Bits" name="keypair-bits" error={fieldError(error, "bits")}>
              <Select id="keypair-bits" value={bits} onChange={(e) => set("bits", Number(e.target.value) as 2048 | 3072 | 4096)} data-testid="keypair-bits">
                <option value={2048}>2048</option>
                <option value={3072}>3072</option>
                <option value={4096}>4096</option>
              </Select>
            </Field>
          </div>
        )}
      </div>
      <p className="small muted">The server generates the key and returns its private half once, in OpenSSH format.</p>
    </FormDialog>
  );
}

export function ImportKeypairDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (name: string) => void }) {
  const form = useForm(open, () => ({ name: "", publicKey: "" }));
  const { name, publicKey } = form.values;
  const { set, error } = form;
  const submit = () =>
    void form.submit("import-keypair", async () => onImported((await call("import-keypair", { name: name.trim(), public_key: publicKey })).keypair.name));
  const keyError = fieldError(error, "public_key");
  const keyMessage = keyError ?? (error && ["InvalidPublicKey", "DuplicateKey"].includes(error.code) ? error.message : undefined);
  return (
    <FormDialog open={open} form={form} title="Import a public key" errorTitle="Could not import the key" testId="import-keypair-dialog"
                submitLabel="Import" onClose={onClose} onSubmit={submit} wide>
      <Field label="Name" name="import-name" required error={nameError(error)}>
        <TextInput id="import-name" value={name} onChange={(e) => set("name", e.target.value)} data-testid="import-name" />
      </Field>
      <Field
        label="Public key"
        name="import-public-key"
        required
        error={keyError && error && keyError !== error.message ? `${keyError} ${error.message}` : keyMessage}
        hint="One OpenSSH line, e.g. the content of ~/.ssh/id_ed25519.pub."
      >
        <TextArea id="import-public-key" rows={4} value={publicKey} onChange={(e) => set("publicKey", e.target.value)} placeholder="ssh-ed25519 AAAAC3Nza… alice@laptop" data-testid="import-public-key" />
      </Field>
    </FormDialog>
  );
}
