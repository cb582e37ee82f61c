"use client";

import { useEffect, useState } from "react";
import { useQuery } from "@/lib/hooks";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { NIC_MODELS, NicKind, WizardForm, defaultNicModel } from "../wizardModel";
import { StepProps, newId } from "./shared";

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
    if (net) set({ nics: [{ id: newId(), kind: "network", source: net.name, mac: "", model: defaultNicModel(form.osProfile) }] });
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
                  <Options values={NIC_MODELS} />
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
        onClick={() => set({ nics: [...form.nics, { id: newId(), kind: "network", source: "", mac: "", model: defaultNicModel(form.osProfile) }] })}
        data-testid="add-nic"
      >
        <Icon name="plus" size={13} /> Add NIC
      </button>
    </>
  );
}
