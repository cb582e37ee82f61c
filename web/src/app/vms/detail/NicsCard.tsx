"use client";

import { useState } from "react";
import { call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { useOperations } from "@/lib/useOperations";
import { show } from "@/lib/format";
import { Column, DataTable, actionsColumn } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
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
  const form = useForm(open, () => ({ kind: "network" as NicKind, source: "", model: "virtio" as (typeof NIC_MODELS)[number], mac: "" }));
  const { kind, source, model, mac } = form.values;
  const { set, error } = form;
  const sources = useQuery("list-network-sources", { node: vm.node }, { enabled: open });
  const s = sources.data?.sources;
  const options =
    !s ? [] : kind === "network" ? s.networks.map((n) => ({ v: n.name, l: `${n.name} (${n.mode}, ${n.state})` }))
      : kind === "bridge" ? s.bridges.map((b) => ({ v: b.name, l: `${b.name}${b.network ? ` (network ${b.network})` : ""}` }))
        : s.interfaces.map((i) => ({ v: i.name, l: `${i.name}${i.link_state ? ` (${i.link_state})` : ""}` }));
  const submit = () =>
    void form.submit("attach-nic", async () => {
      const res = await call("attach-nic", { node: vm.node, name: vm.name, [kind]: source, model, ...(mac.trim() ? { mac: mac.trim() } : {}) });
      toast.success(`NIC ${res.mac ?? ""} attached to ${kind} ${source}`);
      onChanged(res.vm);
      onClose();
    });
  const codeOnSource = error && ["NetworkNotFound", "NetworkInactive", "BridgeNotFound", "InterfaceNotFound"].includes(error.code) ? error.message : undefined;
  const codeOnMac = error && ["MacInUse", "InvalidMac"].includes(error.code) ? error.message : undefined;
  return (
    <FormDialog open={open} form={form} title={`Add a NIC to ${vm.name}`} errorTitle="Could not add the NIC" testId="attach-nic-dialog"
                submitLabel="Add NIC" onClose={onClose} onSubmit={submit}>
      <ErrorBanner error={sources.error} title="Could not list the node's networks" testId="attach-nic-sources-error" />
      <Field label="Attach to" name="nic-kind">
        <Select id="nic-kind" value={kind} onChange={(e) => form.setValues({ ...form.values, kind: e.target.value as NicKind, source: "" })} data-testid="nic-kind">
          <option value="network">libvirt network</option>
          <option value="bridge">host bridge</option>
          <option value="direct">host interface (macvtap)</option>
        </Select>
      </Field>
      <Field label="Source" name="nic-source" required error={vmFieldError(error, kind) ?? codeOnSource}>
        <Select id="nic-source" value={source} onChange={(e) => set("source", e.target.value)} data-testid="nic-source">
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
            <Select id="nic-model" value={model} onChange={(e) => set("model", e.target.value as typeof model)} data-testid="nic-model">
              <Options values={NIC_MODELS} />
            </Select>
          </Field>
        </div>
        <div style={{ flex: 1 }}>
          <Field label="MAC" name="nic-mac" error={vmFieldError(error, "mac") ?? codeOnMac} hint="Empty: generated.">
            <TextInput id="nic-mac" className="input mono" value={mac} onChange={(e) => set("mac", e.target.value)} placeholder="52:54:00:…" data-testid="nic-mac" />
          </Field>
        </div>
      </div>
    </FormDialog>
  );
}

export function NicsCard({ vm, onChanged }: { vm: Vm; onChanged: Changed }) {
  const [attaching, setAttaching] = useState(false);
  const ops = useOperations<VmNic, "detach">({
    key: (n) => n.mac,
    ops: {
      detach: {
        action: "detach-nic",
        confirm: (n) => ({
          title: `Remove NIC ${n.mac}?`,
          message: <p>The interface on {`${n.type} ${sourceText(n)}`} is removed, live and in the config.</p>,
          confirmLabel: "Remove NIC",
          danger: true,
          testId: "detach-nic-dialog",
        }),
        run: async (n) => {
          const res = await call("detach-nic", { node: vm.node, name: vm.name, mac: n.mac });
          onChanged(res.vm);
          return `NIC ${n.mac} removed (${res.live})`;
        },
      },
    },
  });

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
    actionsColumn((n) => (
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => ops.run("detach", n)}
          data-testid="nic-detach"
        >
          Remove
        </button>
      )),
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
      {ops.ui}
    </Card>
  );
}
