"use client";

import { FormEvent, Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { ApiError, asApiError, call } from "@/lib/api";
import { saveSession, safeNext } from "@/lib/session";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";

function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const expired = params.get("expired") === "1";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) return;
    setBusy(true);
    setError(null);
    try {
      // The token is checked with a real call before it is kept; the answer names it and its role.
      const { token: who } = await call("describe-token", {}, { token: value, noLoginRedirect: true });
      saveSession(value, { name: who.name, role: who.role });
      router.replace(safeNext(params.get("next")));
    } catch (err) {
      setError(asApiError(err, "describe-token"));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} data-testid="login-form">
      {expired && !error && (
        <Alert tone="info" testId="login-expired">
          The server did not accept the stored token any more. Log in again.
        </Alert>
      )}
      <ErrorBanner error={error} title="Log in failed" testId="login-error" />
      <Field
        label="API token"
        name="token"
        required
        hint={
          <>
            Create one with <code>jvp token create --name NAME --role admin</code>; on first start the admin token
            is written to <code>&lt;data dir&gt;/auth/admin-token</code>.
          </>
        }
      >
        <TextInput
          id="token"
          name="token"
          type="password"
          placeholder="jvp_…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoFocus
          data-testid="login-token"
        />
      </Field>
      <button type="submit" className="btn btn-primary" style={{ width: "100%", height: 38 }} disabled={busy || !token.trim()} data-testid="login-submit">
        {busy && <Spinner />} Log in
      </button>
    </form>
  );
}

export default function LoginPage() {
  return (
    <div className="login-wrap">
      <div className="card login-card">
        <div className="card-body">
          <div className="login-brand">
            <div className="brand-mark">
              <Icon name="logo" size={22} />
            </div>
            <div>
              <h1>JVP console</h1>
              <div className="muted small">KVM/QEMU hosts through libvirt</div>
            </div>
          </div>
          <Suspense fallback={null}>
            <LoginForm />
          </Suspense>
        </div>
      </div>
    </div>
  );
}
