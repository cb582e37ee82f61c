"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { FormDialog } from "@/components/FormDialog";
import { useToast } from "@/components/Toast";
import { Vm, vmFieldError } from "../_components/vmUtil";

/** reset-vm-password: through the guest agent (a running VM whose agent answers). */
export function PasswordDialog({ vm, open, onClose }: { vm: Vm; open: boolean; onClose: () => void }) {
  const toast = useToast();
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!open) return;
    setUser("");
    setPassword("");
    setAgain("");
    setError(null);
  }, [open]);
  const mismatch = !!again && again !== password;
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      await call("reset-vm-password", { node: vm.node, name: vm.name, user: user.trim(), password });
      toast.success(`Password of ${user.trim()} on ${vm.name} changed`);
      onClose();
    } catch (err) {
      setError(asApiError(err, "reset-vm-password"));
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormDialog open={open} title={`Reset a password on ${vm.name}`} testId="password-dialog" busy={busy} submitLabel="Set password" submitDisabled={mismatch || !password} onClose={onClose} onSubmit={() => void submit()}>
      <ErrorBanner error={error} title="Could not set the password" testId="password-dialog-error" />
      {vm.guest_agent === false && (
        <Alert tone="warning" testId="password-no-agent">
          The guest agent does not answer right now{vm.state !== "running" ? ` (the VM is ${vm.state})` : ""}: the server will refuse until it does.
        </Alert>
      )}
      <Field label="User" name="password-user" required error={vmFieldError(error, "user")} hint="An existing user in the guest.">
        <TextInput id="password-user" value={user} onChange={(e) => setUser(e.target.value)} data-testid="password-user" />
      </Field>
      <Field label="New password" name="password-new" required error={vmFieldError(error, "password")}>
        <TextInput id="password-new" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="password-new" />
      </Field>
      <Field label="Again" name="password-again" error={mismatch ? "The two passwords differ." : undefined}>
        <TextInput id="password-again" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} data-testid="password-again" />
      </Field>
    </FormDialog>
  );
}
