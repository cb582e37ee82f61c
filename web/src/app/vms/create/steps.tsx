"use client";

import { ReactNode, useEffect, useState } from "react";
import { ActionName, ApiError, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { Field, Select, TextArea, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { PoolSelect, VolumeSelect } from "../_components/StoragePickers";
import { NIC_MODELS, NicKind, WizardForm, packageList, pastedKeys } from "./wizardModel";

export interface StepProps {
  form: WizardForm;
  set: (patch: Partial<WizardForm>) => void;
  /** The message to show under a field: the wizard's own check, or the server's. */
  err: (path: string) => string | undefined;
  templatesSupported: boolean;
}

let nextId = 1;
export const newId = () => nextId++;

function Radio({ name, value, checked, onChange, children, testId }: {
  name: string;
  value: string;
  checked: boolean;
  onChange: (v: string) => void;
  children: ReactNode;
  testId: string;
}) {
  return (
    <label
      className="card"
      style={{ display: "flex", gap: 10, padding: "12px 14px", cursor: "pointer", borderColor: checked ? "var(--primary)" : undefined, flex: "1 1 200px" }}
    >
      <input type="radio" name={name} value={value} checked={checked} onChange={() => onChange(value)} data-testid={testId} style={{ marginTop: 3 }} />
      <span>{children}</span>
    </label>
  );
}

// -- basics ---------------------------------------------------------------------------------------------
export function BasicsStep({ form, set, err }: StepProps) {
  const nodes = useQuery("list-nodes", {});
  const node = nodes.data?.nodes.find((n) => n.name === form.node);
  return (
    <>
      <ErrorBanner error={nodes.error} title="Could not list the nodes" testId="nodes-error" />
      <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
        <div style={{ flex: "1 1 240px" }}>
          <Field label="Node" name="vm-node" required error={err("node")} hint={node ? `${node.cpus ?? "?"} CPUs, ${formatBytes(node.memory_bytes)} memory${node.maintenance ? " — in maintenance" : ""}` : undefined}>
            <Select id="vm-node" value={form.node} onChange={(e) => set({ node: e.target.value, pool: "", volume: "", isoPool: "", isoVolume: "", nics: [], extraDisks: [] })} data-testid="vm-node">
              {!nodes.data && <option value={form.node}>{form.node}</option>}
              {nodes.data?.nodes.map((n) => (
                <option key={n.name} value={n.name} disabled={n.state !== "online"}>
                  {n.name}
                  {n.state !== "online" ? ` (${n.state})` : ""}
                </option>
              ))}
            </Select>
          </Field>
        </div>
        <div style={{ flex: "1 1 240px" }}>
          <Field label="Name" name="vm-name" required error={err("name")} hint="Letters, digits, '.', '_' or '-'; unique on the node.">
            <TextInput id="vm-name" value={form.name} onChange={(e) => set({ name: e.target.value })} placeholder="web1" data-testid="vm-name" />
          </Field>
        </div>
      </div>
      <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="vCPUs" name="vm-vcpus" required error={err("vcpus")} hint={node?.cpus ? `At most ${node.cpus} on ${node.name}.` : undefined}>
            <TextInput id="vm-vcpus" type="number" min={1} value={form.vcpus} onChange={(e) => set({ vcpus: e.target.value })} data-testid="vm-vcpus" />
          </Field>
        </div>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="Memory (MiB)" name="vm-memory" required error={err("memory_mib")} hint={`${formatBytes((Number(form.memoryMib) || 0) * 1024 * 1024)}`}>
            <TextInput id="vm-memory" type="number" min={64} step={256} value={form.memoryMib} onChange={(e) => set({ memoryMib: e.target.value })} data-testid="vm-memory" />
          </Field>
        </div>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="Firmware" name="vm-firmware" error={err("firmware")} hint="UEFI needs OVMF on the node.">
            <Select id="vm-firmware" value={form.firmware} onChange={(e) => set({ firmware: e.target.value as "bios" | "uefi" })} data-testid="vm-firmware">
              <option value="bios">BIOS</option>
              <option value="uefi">UEFI</option>
            </Select>
          </Field>
        </div>
      </div>
      <Field label="Description" name="vm-description" error={err("description")}>
        <TextInput id="vm-description" value={form.description} onChange={(e) => set({ description: e.target.value })} data-testid="vm-description" />
      </Field>
    </>
  );
}

// -- system disk ----------------------------------------------------------------------------------------
interface TemplateRow {
  name: string;
  pool?: string;
  state?: string;
  type?: string;
}

/** The node's templates from list-templates, called untyped: the template module may not be in the generated
 * types of every build (the wizard only offers templates when create-vm takes one, see page.tsx). */
function useTemplates(node: string, enabled: boolean): { rows: TemplateRow[]; loading: boolean; error: ApiError | null } {
  const [state, setState] = useState<{ rows: TemplateRow[]; loading: boolean; error: ApiError | null }>({ rows: [], loading: false, error: null });
  useEffect(() => {
    if (!enabled) return;
    let stop = false;
    setState((s) => ({ ...s, loading: true, error: null }));
    call("list-templates" as ActionName, { node } as never)
      .then((res) => {
        const rows = ((res as { templates?: TemplateRow[] }).templates ?? []).filter((t) => t && t.name);
        if (!stop) setState({ rows, loading: false, error: null });
      })
      .catch((err) => {
        if (!stop) setState({ rows: [], loading: false, error: asApiError(err, "list-templates") });
      });
    return () => {
      stop = true;
    };
  }, [node, enabled]);
  return state;
}

export function DiskStep({ form, set, err, templatesSupported, onCapacity }: StepProps & { onCapacity: (bytes: number | null) => void }) {
  const templates = useTemplates(form.node, templatesSupported && form.source === "template");
  const setSource = (v: string) => {
    const source = v as WizardForm["source"];
    set({ source, clone: source === "blank" ? "" : form.clone || "linked", ci: source === "blank" ? { ...form.ci, enabled: false } : form.ci });
  };
  return (
    <>
      <div className="split" style={{ flexWrap: "wrap", gap: 10, marginBottom: 16, alignItems: "stretch" }} role="radiogroup" aria-label="System disk source">
        <Radio name="disk-source" value="volume" checked={form.source === "volume"} onChange={setSource} testId="disk-source-volume">
          <strong>Existing volume</strong>
          <div className="small muted">A cloud image or a prepared disk, used as it is or cloned.</div>
        </Radio>
        {templatesSupported && (
          <Radio name="disk-source" value="template" checked={form.source === "template"} onChange={setSource} testId="disk-source-template">
            <strong>Template</strong>
            <div className="small muted">A linked clone of a template&apos;s image.</div>
          </Radio>
        )}
        <Radio name="disk-source" value="blank" checked={form.source === "blank"} onChange={setSource} testId="disk-source-blank">
          <strong>Blank disk</strong>
          <div className="small muted">An empty qcow2 disk, installed from an ISO.</div>
        </Radio>
      </div>
      <PoolSelect
        id="vm-pool"
        node={form.node}
        value={form.pool}
        onChange={(pool) => set({ pool, volume: "" })}
        error={err("pool")}
        hint="Where the system disk (or its clone), new disks and the cloud-init seed go."
      />
      {form.source === "volume" && (
        <>
          <VolumeSelect
            id="vm-volume"
            node={form.node}
            pool={form.pool}
            value={form.volume}
            onChange={(volume, cap) => {
              set({ volume });
              onCapacity(cap);
            }}
            error={err("volume")}
            label="Volume"
          />
          <Field label="Use the volume" name="vm-clone" error={err("clone")} hint={CLONE_HELP[form.clone || "as-is"]}>
            <Select id="vm-clone" value={form.clone} onChange={(e) => set({ clone: e.target.value as WizardForm["clone"] })} data-testid="vm-clone">
              <option value="linked">as the base of a linked clone (qcow2 overlay)</option>
              <option value="full">as the source of a full copy</option>
              <option value="">as it is (the VM writes to it)</option>
            </Select>
          </Field>
        </>
      )}
      {form.source === "template" && templatesSupported && (
        <>
          <ErrorBanner error={templates.error} title="Could not list the templates" testId="templates-error" />
          <Field label="Template" name="vm-template" required error={err("template")} hint={templates.rows.length ? "Templates of this node; the clone goes to the pool above." : undefined}>
            {templates.rows.length > 0 || templates.loading ? (
              <Select id="vm-template" value={form.template} onChange={(e) => set({ template: e.target.value })} data-testid="vm-template">
                <option value="">{templates.loading ? "Loading…" : "Choose a template"}</option>
                {templates.rows.map((t) => (
                  <option key={`${t.pool ?? ""}/${t.name}`} value={t.name} disabled={!!t.state && t.state !== "ready"}>
                    {t.name}
                    {t.pool ? ` (pool ${t.pool}${t.state && t.state !== "ready" ? `, ${t.state}` : ""})` : ""}
                  </option>
                ))}
              </Select>
            ) : (
              <TextInput id="vm-template" value={form.template} onChange={(e) => set({ template: e.target.value })} placeholder="No template listed: type its name" data-testid="vm-template" />
            )}
          </Field>
          <Field label="Clone" name="vm-clone" error={err("clone")} hint={TEMPLATE_CLONE_HELP[form.clone || "linked"]}>
            <Select id="vm-clone" value={form.clone || "linked"} onChange={(e) => set({ clone: e.target.value as WizardForm["clone"] })} data-testid="vm-clone">
              <option value="linked">linked (instant, shares the template&apos;s image)</option>
              <option value="full">full copy</option>
            </Select>
          </Field>
        </>
      )}
      {form.source === "blank" && (
        <>
          <Alert tone="info" title="Install from an ISO">
            The VM boots the ISO from its cdrom drive; the disk size is set on the next step. Leave the ISO empty to insert one later
            (media on the VM&apos;s page).
          </Alert>
          <div style={{ height: 12 }} />
          <PoolSelect id="iso-pool" node={form.node} value={form.isoPool} onChange={(isoPool) => set({ isoPool, isoVolume: "" })} label="ISO pool" />
          <VolumeSelect
            id="iso-volume"
            node={form.node}
            pool={form.isoPool}
            value={form.isoVolume}
            onChange={(isoVolume) => set({ isoVolume })}
            error={err("iso")}
            label="Install ISO"
            preferIso
          />
        </>
      )}
    </>
  );
}

const TEMPLATE_CLONE_HELP: Record<string, string> = {
  linked: "A qcow2 overlay <name>-root.qcow2 on the template's image: instant; the template stays in use while the VM exists.",
  full: "A full copy <name>-root.qcow2 of the template's image: independent of it, takes as long as copying it.",
};

const CLONE_HELP: Record<string, string> = {
  linked: "A qcow2 overlay <name>-root.qcow2 on top of the volume: instant whatever its size; the volume must stay unchanged.",
  full: "A full copy <name>-root.qcow2: independent of the volume, takes as long as copying it.",
  "as-is": "The VM writes to this volume directly; it must not be attached elsewhere or back other disks.",
};

// -- size & extra disks ---------------------------------------------------------------------------------
export function SizeStep({ form, set, err, baseCapacity }: StepProps & { baseCapacity: number | null }) {
  const asIs = form.source === "volume" && !form.clone;
  const update = (id: number, patch: Partial<WizardForm["extraDisks"][number]>) =>
    set({ extraDisks: form.extraDisks.map((d) => (d.id === id ? { ...d, ...patch } : d)) });
  return (
    <>
      <Field
        label="System disk size (GiB)"
        name="vm-disk-size"
        required={form.source === "blank"}
        error={err("disk_size_gib")}
        hint={
          asIs
            ? "The volume is used as it is: resize it on the storage page if needed."
            : form.source === "blank"
              ? "The size of the blank disk."
              : `Empty: the base image's size${baseCapacity ? ` (${formatBytes(baseCapacity)})` : ""}. A larger size grows the clone.`
        }
      >
        <TextInput
          id="vm-disk-size"
          type="number"
          min={1}
          value={asIs ? "" : form.diskSizeGib}
          disabled={asIs}
          onChange={(e) => set({ diskSizeGib: e.target.value })}
          placeholder={asIs ? "as it is" : form.source === "blank" ? "20" : "same as the base"}
          data-testid="vm-disk-size"
        />
      </Field>
      <div className="section-title">Extra disks</div>
      {form.extraDisks.length === 0 && <p className="muted small" style={{ marginBottom: 10 }}>None. They are attached as vdb, vdc, … in this order.</p>}
      {form.extraDisks.map((d, i) => (
        <div key={d.id} className="card" style={{ padding: "12px 14px", marginBottom: 10 }} data-testid="extra-disk">
          <div className="split" style={{ justifyContent: "space-between", marginBottom: 8 }}>
            <strong>
              Disk {i + 1}: {d.kind === "new" ? "new" : "existing volume"}
            </strong>
            <button type="button" className="btn btn-sm btn-ghost" onClick={() => set({ extraDisks: form.extraDisks.filter((x) => x.id !== d.id) })} data-testid={`extra-disk-remove-${i}`}>
              <Icon name="trash" size={13} /> Remove
            </button>
          </div>
          <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 12 }}>
            {d.kind === "new" ? (
              <>
                <div style={{ flex: "1 1 140px" }}>
                  <Field label="Size (GiB)" name={`extra-size-${i}`} error={err(`extra_disks.${i}.size_gib`) ?? err(`extra_disks.${i}`)}>
                    <TextInput id={`extra-size-${i}`} type="number" min={1} value={d.sizeGib} onChange={(e) => update(d.id, { sizeGib: e.target.value })} data-testid={`extra-size-${i}`} />
                  </Field>
                </div>
                <div style={{ flex: "1 1 140px" }}>
                  <Field label="Format" name={`extra-format-${i}`} error={err(`extra_disks.${i}.format`)}>
                    <Select id={`extra-format-${i}`} value={d.format} onChange={(e) => update(d.id, { format: e.target.value as "qcow2" | "raw" })}>
                      <option value="qcow2">qcow2</option>
                      <option value="raw">raw</option>
                    </Select>
                  </Field>
                </div>
              </>
            ) : (
              <div style={{ flex: "1 1 300px" }}>
                <VolumeSelect
                  id={`extra-volume-${i}`}
                  node={form.node}
                  pool={d.pool || form.pool}
                  value={d.volume}
                  onChange={(volume) => update(d.id, { volume })}
                  error={err(`extra_disks.${i}.volume`) ?? err(`extra_disks.${i}`)}
                  label={`Volume (pool ${d.pool || form.pool || "?"})`}
                />
              </div>
            )}
          </div>
        </div>
      ))}
      <div className="split">
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => set({ extraDisks: [...form.extraDisks, { id: newId(), kind: "new", sizeGib: "10", format: "qcow2", pool: "", volume: "" }] })}
          data-testid="add-extra-new"
        >
          <Icon name="plus" size={13} /> New disk
        </button>
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => set({ extraDisks: [...form.extraDisks, { id: newId(), kind: "existing", sizeGib: "", format: "qcow2", pool: "", volume: "" }] })}
          data-testid="add-extra-volume"
        >
          <Icon name="plus" size={13} /> Existing volume
        </button>
      </div>
    </>
  );
}

// -- network --------------------------------------------------------------------------------------------
export function NetworkStep({ form, set, err }: StepProps) {
  const sources = useQuery("list-network-sources", { node: form.node });
  const s = sources.data?.sources;
  const options = (kind: NicKind): { value: string; label: string; disabled?: boolean }[] => {
    if (!s) return [];
    if (kind === "network") return s.networks.map((n) => ({ value: n.name, label: `${n.name} (${n.mode}, ${n.state})` }));
    if (kind === "bridge") return s.bridges.map((b) => ({ value: b.name, label: `${b.name}${b.network ? ` (network ${b.network})` : ""}${b.active ? "" : " — down"}` }));
    return s.interfaces.map((i) => ({ value: i.name, label: `${i.name}${i.link_state ? ` (${i.link_state})` : ""}` }));
  };
  // A first NIC on the first active network, once, when the VM has none yet.
  const [seeded, setSeeded] = useState(false);
  useEffect(() => {
    if (seeded || !s) return;
    setSeeded(true);
    if (form.nics.length) return;
    const net = s.networks.find((n) => n.state === "active") ?? s.networks[0];
    if (net) set({ nics: [{ id: newId(), kind: "network", source: net.name, mac: "", model: "virtio" }] });
  }, [s, seeded]); // eslint-disable-line react-hooks/exhaustive-deps
  const update = (id: number, patch: Partial<WizardForm["nics"][number]>) => set({ nics: form.nics.map((n) => (n.id === id ? { ...n, ...patch } : n)) });
  return (
    <>
      <ErrorBanner error={sources.error} title="Could not list the node's networks and interfaces" onRetry={() => void sources.refresh()} testId="sources-error" />
      {sources.loading && <Spinner />}
      {err("nics") && <div className="field-error small" style={{ color: "var(--danger)", marginBottom: 10 }} data-testid="field-nics-error">{err("nics")}</div>}
      {form.nics.length === 0 && <p className="muted small" style={{ marginBottom: 10 }} data-testid="no-nics">No NIC: the VM gets no network.</p>}
      {form.nics.map((n, i) => (
        <div key={n.id} className="card" style={{ padding: "12px 14px", marginBottom: 10 }} data-testid="nic-form">
          <div className="split" style={{ justifyContent: "space-between", marginBottom: 8 }}>
            <strong>NIC {i}</strong>
            <button type="button" className="btn btn-sm btn-ghost" onClick={() => set({ nics: form.nics.filter((x) => x.id !== n.id) })} data-testid={`nic-remove-${i}`}>
              <Icon name="trash" size={13} /> Remove
            </button>
          </div>
          <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 12 }}>
            <div style={{ flex: "0 1 170px" }}>
              <Field label="Attach to" name={`nic-kind-${i}`}>
                <Select id={`nic-kind-${i}`} value={n.kind} onChange={(e) => update(n.id, { kind: e.target.value as NicKind, source: "" })} data-testid={`nic-kind-${i}`}>
                  <option value="network">libvirt network</option>
                  <option value="bridge">host bridge</option>
                  <option value="direct">host interface (macvtap)</option>
                </Select>
              </Field>
            </div>
            <div style={{ flex: "1 1 220px" }}>
              <Field label="Source" name={`nic-source-${i}`} required error={err(`nics.${i}.${n.kind}`) ?? err(`nics.${i}`)}>
                <Select id={`nic-source-${i}`} value={n.source} onChange={(e) => update(n.id, { source: e.target.value })} data-testid={`nic-source-${i}`}>
                  <option value="">Choose…</option>
                  {options(n.kind).map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </Select>
              </Field>
            </div>
            <div style={{ flex: "0 1 120px" }}>
              <Field label="Model" name={`nic-model-${i}`} error={err(`nics.${i}.model`)}>
                <Select id={`nic-model-${i}`} value={n.model} onChange={(e) => update(n.id, { model: e.target.value as typeof n.model })} data-testid={`nic-model-${i}`}>
                  {NIC_MODELS.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </Select>
              </Field>
            </div>
            <div style={{ flex: "1 1 180px" }}>
              <Field label="MAC" name={`nic-mac-${i}`} error={err(`nics.${i}.mac`)} hint="Empty: generated.">
                <TextInput id={`nic-mac-${i}`} className="input mono" value={n.mac} onChange={(e) => update(n.id, { mac: e.target.value })} placeholder="52:54:00:…" data-testid={`nic-mac-${i}`} />
              </Field>
            </div>
          </div>
        </div>
      ))}
      <button
        type="button"
        className="btn btn-sm"
        onClick={() => set({ nics: [...form.nics, { id: newId(), kind: "network", source: "", mac: "", model: "virtio" }] })}
        data-testid="add-nic"
      >
        <Icon name="plus" size={13} /> Add NIC
      </button>
    </>
  );
}

// -- cloud-init -----------------------------------------------------------------------------------------
export function CloudInitStep({ form, set, err }: StepProps) {
  const keypairs = useQuery("list-keypairs", {});
  const ci = form.ci;
  const setCi = (patch: Partial<WizardForm["ci"]>) => set({ ci: { ...ci, ...patch } });
  const raw = ci.advanced && !!ci.userData.trim();
  return (
    <>
      <Checkbox
        id="ci-enabled"
        checked={ci.enabled}
        onChange={(enabled) => setCi({ enabled })}
        hint="A NoCloud seed ISO (meta-data, user-data, network-config) on a cdrom; the image must run cloud-init."
      >
        Configure the guest with cloud-init
      </Checkbox>
      {ci.enabled && (
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

