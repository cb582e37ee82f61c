"use client";

import { useQuery } from "@/lib/hooks";
import { demoLimit, useServerInfo } from "@/lib/server";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextArea, TextInput } from "@/components/Field";
import { WizardForm, packageList, pastedKeys } from "../wizardModel";
import { StepProps } from "./shared";

// -- cloud-init -----------------------------------------------------------------------------------------
export function CloudInitStep({ form, set, err }: StepProps) {
  const keypairs = useQuery("list-keypairs", {});
  const ci = form.ci;
  const setCi = (patch: Partial<WizardForm["ci"]>) => set({ ci: { ...ci, ...patch } });
  const raw = ci.advanced && !!ci.userData.trim();
  const demoReason = demoLimit(useServerInfo(), "cloud_init");
  return (
    <>
      {demoReason && (
        <p className="hint" data-testid="ci-disabled-reason">
          Disabled in the demo: {demoReason}.
        </p>
      )}
      <Checkbox
        id="ci-enabled"
        checked={ci.enabled && !demoReason}
        disabled={!!demoReason}
        onChange={(enabled) => setCi({ enabled })}
        hint="A NoCloud seed ISO (meta-data, user-data, network-config) on a cdrom; the image must run cloud-init."
      >
        Configure the guest with cloud-init
      </Checkbox>
      {ci.enabled && !demoReason && (
        <>
          <Field label="Hostname" name="ci-hostname" error={err("cloud_init.hostname")} hint={`Empty: the image's default.${form.name ? ` Usually "${form.name}".` : ""}`}>
            <TextInput id="ci-hostname" value={ci.hostname} onChange={(e) => setCi({ hostname: e.target.value })} placeholder={form.name || "web1"} data-testid="ci-hostname" />
          </Field>
          {!raw && (
            <>
              <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
                <div style={{ flex: "1 1 200px" }}>
                  <Field label="User" name="ci-user" error={err("cloud_init.users.0.name") ?? err("cloud_init.users")} hint="Created in the guest. Empty: keypairs go to a user 'jvp' with sudo.">
                    <TextInput id="ci-user" value={ci.user} onChange={(e) => setCi({ user: e.target.value })} placeholder="alice" data-testid="ci-user" />
                  </Field>
                </div>
                <div style={{ flex: "1 1 200px" }}>
                  <Field label="Password" name="ci-password" error={err("cloud_init.users.0.password")} hint="Stored in the seed as a SHA-512-crypt hash.">
                    <TextInput id="ci-password" type="password" autoComplete="new-password" value={ci.password} onChange={(e) => setCi({ password: e.target.value })} data-testid="ci-password" />
                  </Field>
                </div>
              </div>
              <Checkbox id="ci-sudo" checked={ci.sudo} onChange={(sudo) => setCi({ sudo })}>
                Passwordless sudo for this user
              </Checkbox>
              <Field label="Keypairs" name="ci-keypairs" error={err("cloud_init.keypairs")} hint="Their public keys go to the user above (or to 'jvp').">
                <div data-testid="ci-keypairs">
                  <ErrorBanner error={keypairs.error} title="Could not list the keypairs" testId="ci-keypairs-error" />
                  {keypairs.data && keypairs.data.keypairs.length === 0 && (
                    <span className="muted small">
                      No keypairs yet (<a href="/keypairs/">create one</a>), or paste keys below.
                    </span>
                  )}
                  <div className="chips">
                    {keypairs.data?.keypairs.map((k) => {
                      const on = ci.keypairs.includes(k.name);
                      return (
                        <label key={k.name} className="chip" style={{ cursor: "pointer", gap: 6, display: "inline-flex", alignItems: "center" }} title={k.fingerprint}>
                          <input
                            type="checkbox"
                            checked={on}
                            onChange={(e) => setCi({ keypairs: e.target.checked ? [...ci.keypairs, k.name] : ci.keypairs.filter((n) => n !== k.name) })}
                            data-testid={`ci-keypair-${k.name}`}
                          />
                          {k.name}
                        </label>
                      );
                    })}
                  </div>
                </div>
              </Field>
              <Field label="SSH public keys" name="ci-ssh-keys" error={err("cloud_init.users.0.ssh_keys")} hint="Pasted keys, one per line, for the user above.">
                <TextArea id="ci-ssh-keys" rows={3} value={ci.sshKeys} onChange={(e) => setCi({ sshKeys: e.target.value })} placeholder="ssh-ed25519 AAAA… me@laptop" data-testid="ci-ssh-keys" />
              </Field>
              <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
                <div style={{ flex: "2 1 280px" }}>
                  <Field label="Packages" name="ci-packages" error={err("cloud_init.packages")} hint="Installed on first boot; separated by spaces or commas.">
                    <TextInput id="ci-packages" value={ci.packages} onChange={(e) => setCi({ packages: e.target.value })} placeholder="nginx htop" data-testid="ci-packages" />
                  </Field>
                </div>
                <div style={{ flex: "1 1 160px" }}>
                  <Field label="Time zone" name="ci-timezone" error={err("cloud_init.timezone")}>
                    <TextInput id="ci-timezone" value={ci.timezone} onChange={(e) => setCi({ timezone: e.target.value })} placeholder="Europe/Paris" data-testid="ci-timezone" />
                  </Field>
                </div>
              </div>
            </>
          )}
          <details open={ci.advanced} onToggle={(e) => setCi({ advanced: (e.target as HTMLDetailsElement).open })} data-testid="ci-advanced">
            <summary style={{ cursor: "pointer", fontWeight: 600, marginBottom: 10 }}>Advanced: raw user-data</summary>
            <Field
              label="user-data"
              name="ci-user-data"
              error={err("user_data")}
              hint="Passed to the guest byte for byte and replaces the fields above (only the hostname goes with it). '#cloud-config' data must be a YAML mapping."
            >
              <TextArea id="ci-user-data" rows={10} value={ci.userData} onChange={(e) => setCi({ userData: e.target.value })} placeholder={"#cloud-config\npackages: [nginx]"} data-testid="ci-user-data" />
            </Field>
          </details>
        </>
      )}
    </>
  );
}

export function ciSummary(f: WizardForm): string {
  if (!f.ci.enabled) return "off";
  if (f.ci.advanced && f.ci.userData.trim()) return `raw user-data (${f.ci.userData.length} bytes)`;
  const parts: string[] = [];
  if (f.ci.hostname.trim()) parts.push(`hostname ${f.ci.hostname.trim()}`);
  if (f.ci.user.trim()) parts.push(`user ${f.ci.user.trim()}${f.ci.password ? " with a password" : ""}${f.ci.sudo ? ", sudo" : ""}`);
  if (f.ci.keypairs.length) parts.push(`keypairs ${f.ci.keypairs.join(", ")}`);
  if (pastedKeys(f).length) parts.push(`${pastedKeys(f).length} pasted key(s)`);
  if (packageList(f).length) parts.push(`packages ${packageList(f).join(" ")}`);
  return parts.join("; ") || "defaults only";
}
