"use client";

import { ApiError, ResponseOf, call } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { CodeBlock } from "@/components/CodeBlock";
import { Field, Select, TextInput, fieldError } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";

type NewToken = ResponseOf<"create-token">;
type Role = "admin" | "operator" | "viewer";

/** The expiry choices (days; "" = never). */
const TTLS: { value: string; label: string }[] = [
  { value: "1", label: "1 day" },
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "", label: "Never" },
];

const nameError = (e: ApiError | null) => fieldError(e, "name") ?? (e?.code === "TokenExists" ? e.message : undefined);

/** Create an API token. The answer holds its secret, shown here once: JVP stores only its SHA-256, so the
 * dialog keeps it on screen (with a copy button) until the user says it is saved. */
export function CreateTokenDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: () => void }) {
  const form = useForm(open, () => ({ name: "", role: "viewer" as Role, ttl: "30", created: null as NewToken | null, saved: false }));
  const { name, role, ttl, created, saved } = form.values;
  const { set, error } = form;

  const submit = () =>
    void form.submit("create-token", async () => {
      set("created", await call("create-token", { name: name.trim(), role, ttl_days: ttl ? Number(ttl) : null }));
      onCreated();
    });

  const close = () => {
    if (created && !saved && !window.confirm("The token will not be shown again. Close anyway?")) return;
    onClose();
  };

  if (created) {
    return (
      <FormDialog open={open} title={`Token ${created.token.name} created`} testId="token-created-dialog" submitLabel="" hideSubmit onClose={close} onSubmit={() => undefined} wide>
        <Alert tone="warning" title="Copy the token now" testId="token-secret-warning">
          This is the only time it is shown: JVP keeps only its hash. Whoever has it can call the API as{" "}
          <strong>{created.token.role}</strong>
          {created.token.expires_at ? ` until ${new Date(created.token.expires_at).toLocaleString()}` : " until it is revoked"}.
        </Alert>
        <div style={{ margin: "14px 0 8px" }}>
          <CodeBlock text={created.secret} maxHeight={120} testId="token-secret" />
        </div>
        <p className="small muted">
          Use it as <code>Authorization: Bearer &lt;token&gt;</code>, or log in to this console with it.
        </p>
        <Checkbox id="token-saved" checked={saved} onChange={(v) => set("saved", v)}>
          I have saved the token
        </Checkbox>
      </FormDialog>
    );
  }

  return (
    <FormDialog open={open} form={form} title="Create an API token" errorTitle="Could not create the token" testId="create-token-dialog"
                submitLabel="Create token" onClose={onClose} onSubmit={submit}>
      <Field label="Name" name="token-name" required error={nameError(error)} hint="Letters, digits, '.', '_' or '-'; shown in the audit log.">
        <TextInput id="token-name" value={name} onChange={(e) => set("name", e.target.value)} data-testid="token-name" />
      </Field>
      <Field label="Role" name="token-role" error={fieldError(error, "role")} hint="viewer: read only; operator: run VMs and resources; admin: everything, tokens and the audit log included.">
        <Select id="token-role" value={role} onChange={(e) => set("role", e.target.value as Role)} data-testid="token-role">
          <option value="viewer">viewer</option>
          <option value="operator">operator</option>
          <option value="admin">admin</option>
        </Select>
      </Field>
      <Field label="Expires after" name="token-ttl" error={fieldError(error, "ttl_days")}>
        <Select id="token-ttl" value={ttl} onChange={(e) => set("ttl", e.target.value)} data-testid="token-ttl">
          {TTLS.map((t) => (
            <option key={t.label} value={t.value}>
              {t.label}
            </option>
          ))}
        </Select>
      </Field>
    </FormDialog>
  );
}
