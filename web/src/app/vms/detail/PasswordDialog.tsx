"use client";

import { call } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { useToast } from "@/components/Toast";
import { Vm, vmFieldError } from "../_components/vmUtil";

/** reset-vm-password: through the guest agent (a running VM whose agent answers). */
export function PasswordDialog({ vm, open, onClose }: { vm: Vm; open: boolean; onClose: () => void }) {
  const toast = useToast();
  const form = useForm(open, () => ({ user: "", password: "", again: "" }));
  const { user, password, again } = form.values;
  const { set, error } = form;
  const mismatch = !!again && again !== password;
  const submit = () =>
    void form.submit("reset-vm-password", async () => {
      await call("reset-vm-password", { node: vm.node, name: vm.name, user: user.trim(), password });
      toast.success(`Password of ${user.trim()} on ${vm.name} changed`);
      onClose();
    });
  return (
    <FormDialog open={open} form={form} title={`Reset a password on ${vm.name}`} errorTitle="Could not set the password" testId="password-dialog"
                submitLabel="Set password" submitDisabled={mismatch || !password} onClose={onClose} onSubmit={submit}>
      {vm.guest_agent === false && (
        <Alert tone="warning" testId="password-no-agent">
          The guest agent does not answer right now{vm.state !== "running" ? ` (the VM is ${vm.state})` : ""}: the server will refuse until it does.
        </Alert>
      )}
      <Field label="User" name="password-user" required error={vmFieldError(error, "user")} hint="An existing user in the guest.">
        <TextInput id="password-user" value={user} onChange={(e) => set("user", e.target.value)} data-testid="password-user" />
      </Field>
      <Field label="New password" name="password-new" required error={vmFieldError(error, "password")}>
        <TextInput id="password-new" type="password" autoComplete="new-password" value={password} onChange={(e) => set("password", e.target.value)} data-testid="password-new" />
      </Field>
      <Field label="Again" name="password-again" error={mismatch ? "The two passwords differ." : undefined}>
        <TextInput id="password-again" type="password" autoComplete="new-password" value={again} onChange={(e) => set("again", e.target.value)} data-testid="password-again" />
      </Field>
    </FormDialog>
  );
}
