"use client";

import { useEffect, useState } from "react";
import { ActionName, ApiError, asApiError, call } from "@/lib/api";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { PoolSelect, VolumeSelect } from "../../_components/StoragePickers";
import { WizardForm } from "../wizardModel";
import { Radio, StepProps } from "./shared";

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
          {form.osProfile === "windows" && (
            <VolumeSelect
              id="virtio-iso-volume"
              node={form.node}
              pool={form.isoPool}
              value={form.virtioIsoVolume}
              onChange={(virtioIsoVolume) => set({ virtioIsoVolume })}
              error={err("virtio_iso")}
              label="VirtIO driver ISO (optional: a second cdrom for Windows Setup's Load driver)"
              preferIso
            />
          )}
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
