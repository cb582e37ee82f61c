"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { show } from "@/lib/format";
import { Column, DataTable } from "@/components/DataTable";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { FormDialog } from "@/components/FormDialog";
import { Icon } from "@/components/Icon";
import { EmptyState } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { useToast } from "@/components/Toast";
import { Vm, VmNic, vmFieldError } from "../_components/vmUtil";
import { NIC_MODELS, NicKind } from "../create/wizardModel";

type Changed = (vm: Vm) => void;

const sourceText = (n: VmNic) => n.network ?? n.bridge ?? n.device ?? "—";

function AttachNicDialog({ vm, open, onClose, onChanged }: { vm: Vm; open: boolean; onClose: () => void; onChanged: Changed }) {
  const toast = useToast();
  const [kind, setKind] = useState<NicKind>("network");
  const [source, setSource] = useState("");
  const [model, setModel] = useState<(typeof NIC_MODELS)[number]>("virtio");
  const [mac, setMac] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const sources = useQuery("list-network-sources", { node: vm.node }, { enabled: open });
  useEffect(() => {
    if (!open) return;
    setKind("network");
    setSource("");
    setModel("virtio");
    setMac("");
    setError(null);
  }, [open]);
  const s = sources.data?.sources;
  const options =
    !s ? [] : kind === "network" ? s.networks.map((n) => ({ v: n.name, l: `${n.name} (${n.mode}, ${n.state})` }))
      : kind === "bridge" ? s.bridges.map((b) => ({ v: b.name, l: `${b.name}${b.network ? ` (network ${b.network})` : ""}` }))
        : s.interfaces.map((i) => ({ v: i.name, l: `${i.name}${i.link_state ? ` (${i.link_state})` : ""}` }));
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await call("attach-nic", { node: vm.node, name: vm.name, [kind]: source, model, ...(mac.trim() ? { mac: mac.trim() } : {}) });
      toast.success(`NIC ${res.mac ?? ""} attached to ${kind} ${source}`);
      onChanged(res.vm);
      onClose();
    } catch (err) {
      setError(asApiError(err, "attach-nic"));
    } finally {
      setBusy(false);
    }
  };
  const codeOnSource = error && ["NetworkNotFound", "NetworkInactive", "BridgeNotFound", "InterfaceNotFound"].includes(error.code) ? error.message : undefined;
  const codeOnMac = error && ["MacInUse", "InvalidMac"].includes(error.code) ? error.message : undefined;
  return (
    <FormDialog open={open} title={`Add a NIC to ${vm.name}`} testId="attach-nic-dialog" busy={busy} submitLabel="Add NIC" onClose={onClose} onSubmit={() => void submit()}>
      <ErrorBanner error={error} title="Could not add the NIC" testId="attach-nic-dialog-error" />
      <ErrorBanner error={sources.error} title="Could not list the node's networks" testId="attach-nic-sources-error" />
      <Field label="Attach to" name="nic-kind">
        <Select id="nic-kind" value={kind} onChange={(e) => { setKind(e.target.value as NicKind); setSource(""); }} data-testid="nic-kind">
          <option value="network">libvirt network</option>
          <option value="bridge">host bridge</option>
          <option value="direct">host interface (macvtap)</option>
        </Select>
      </Field>
      <Field label="Source" name="nic-source" required error={vmFieldError(error, kind) ?? codeOnSource}>
        <Select id="nic-source" value={source} onChange={(e) => setSource(e.target.value)} data-testid="nic-source">
          <option value="">{sources.loading ? "Loading…" : "Choose…"}</option>
          {options.map((o) => (
            <option key={o.v} value={o.v}>
              {o.l}
            </option>
          ))}
        </Select>
      </Field>
      <div className="split" style={{ alignItems: "flex-start", gap: 12 }}>
        <div style={{ flex: 1 }}>
          <Field label="Model" name="nic-model" error={vmFieldError(error, "model")}>
            <Select id="nic-model" value={model} onChange={(e) => setModel(e.target.value as typeof model)} data-testid="nic-model">
              {NIC_MODELS.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </Select>
          </Field>
        </div>
        <div style={{ flex: 1 }}>
          <Field label="MAC" name="nic-mac" error={vmFieldError(error, "mac") ?? codeOnMac} hint="Empty: generated.">
            <TextInput id="nic-mac" className="input mono" value={mac} onChange={(e) => setMac(e.target.value)} placeholder="52:54:00:…" data-testid="nic-mac" />
          </Field>
        </div>
      </div>
    </FormDialog>
  );
}

export function NicsCard({ vm, onChanged }: { vm: Vm; onChanged: Changed }) {
  const toast = useToast();
  const [attaching, setAttaching] = useState(false);
  const [detach, setDetach] = useState<VmNic | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const doDetach = async () => {
    if (!detach) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("detach-nic", { node: vm.node, name: vm.name, mac: detach.mac });
      toast.success(`NIC ${detach.mac} removed (${res.live})`);
      onChanged(res.vm);
      setDetach(null);
    } catch (err) {
      setError(asApiError(err, "detach-nic"));
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<VmNic>[] = [
    { key: "mac", header: "MAC", render: (n) => <span className="mono cell-main" data-testid="nic-mac">{n.mac}</span> },
    { key: "type", header: "Type", render: (n) => <span data-testid="nic-type">{n.type}</span> },
    { key: "source", header: "Source", sortValue: sourceText, render: (n) => <span data-testid="nic-source">{sourceText(n)}</span> },
    { key: "model", header: "Model", render: (n) => show(n.model) },
    {
      key: "ips",
      header: "IPs",
      sortValue: (n) => n.ips[0],
      render: (n) =>
        n.ips.length ? (
          <div className="mono small" data-testid="nic-ips">
            {n.ips.map((ip) => (
              <div key={ip}>{ip}</div>
            ))}
          </div>
        ) : (
          <span className="muted" data-testid="nic-ips">—</span>
        ),
    },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (n) => (
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => {
            setError(null);
            setDetach(n);
          }}
          data-testid="nic-detach"
        >
          Remove
        </button>
      ),
    },
  ];

  return (
    <Card
      bodyless
      title={`NICs (${vm.nics.length})`}
      testId="card-nics"
      extra={
        <button type="button" className="btn btn-sm" onClick={() => setAttaching(true)} data-testid="attach-nic">
          <Icon name="plus" size={13} /> Add NIC
        </button>
      }
    >
      <DataTable
        columns={columns}
        rows={vm.nics}
        rowKey={(n) => n.mac}
        testId="nics-table"
        rowTestId="nic-row"
        empty={<EmptyState title="No NICs" testId="nics-empty">The VM has no network interface.</EmptyState>}
      />
      <AttachNicDialog vm={vm} open={attaching} onClose={() => setAttaching(false)} onChanged={onChanged} />
      <ConfirmDialog
        open={!!detach}
        title={`Remove NIC ${detach?.mac ?? ""}?`}
        message={<p>The interface on {detach ? `${detach.type} ${sourceText(detach)}` : ""} is removed, live and in the config.</p>}
        confirmLabel="Remove NIC"
        danger
        busy={busy}
        error={error}
        onConfirm={() => void doDetach()}
        onCancel={() => setDetach(null)}
        testId="detach-nic-dialog"
      />
    </Card>
  );
}
