"use client";

import { useState } from "react";
import { call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { callOp, useOperations } from "@/lib/useOperations";
import { Column, actionsColumn } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { Spinner } from "@/components/Loading";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { Bridge, errorFor } from "./netUtil";

function BridgeFormDialog({ open, node, onClose, onCreated }: { open: boolean; node: string; onClose: () => void; onCreated: (b: Bridge) => void }) {
  const form = useForm(open, () => ({ name: "", picked: [] as string[], stp: false, force: false }));
  const { name, picked, stp, force } = form.values;
  const { set, error } = form;
  const ifaces = useQuery("list-available-interfaces", { node }, { enabled: open });

  const submit = () =>
    void form.submit("create-bridge", async () => onCreated((await call("create-bridge", { node, name: name.trim(), interfaces: picked, stp, force })).bridge));
  const toggle = (n: string, on: boolean) => set("picked", on ? [...picked, n] : picked.filter((x) => x !== n));
  const list = ifaces.data?.interfaces ?? [];
  return (
    <FormDialog
      open={open}
      form={form}
      title={`Create bridge on ${node}`}
      errorTitle="Could not create the bridge"
      testId="create-bridge-dialog"
      submitLabel="Create bridge"
      onClose={onClose}
      onSubmit={submit}
    >
      <ErrorBanner error={ifaces.error} title="Could not list the interfaces" testId="bridge-ifaces-error" />
      <Field label="Name" name="bridge-name" required error={errorFor(error, "name")} hint="At most 15 characters: letters, digits, '_', '.' or '-'.">
        <TextInput id="bridge-name" className="input mono" value={name} onChange={(e) => set("name", e.target.value)} placeholder="br0" data-testid="bridge-name-input" />
      </Field>
      <Field label="Interfaces" name="bridge-interfaces" error={errorFor(error, "interfaces")} hint="Ports of the bridge; none is fine (guests only).">
        <div data-testid="bridge-interfaces">
          {ifaces.loading && <Spinner />}
          {!ifaces.loading && list.length === 0 && <span className="muted small">No free interface.</span>}
          {list.map((i) => (
            <label key={i.name} className="split" style={{ fontWeight: 400 }} data-testid="bridge-iface" data-key={i.name}>
              <input
                type="checkbox"
                checked={picked.includes(i.name)}
                disabled={i.protected && !force}
                onChange={(e) => toggle(i.name, e.target.checked)}
                data-testid="bridge-iface-check"
              />
              <span className="mono">{i.name}</span>
              <span className="muted small">{i.kind}</span>
              {i.protected && (
                <span className="badge badge-warning" title={i.reason ?? ""} data-testid="bridge-iface-protected">
                  protected
                </span>
              )}
            </label>
          ))}
        </div>
      </Field>
      <label className="split" style={{ marginBottom: 10 }}>
        <input type="checkbox" checked={stp} onChange={(e) => set("stp", e.target.checked)} data-testid="bridge-stp-input" />
        Spanning tree (STP; ports wait ~30 s before forwarding)
      </label>
      <label className="split">
        <input type="checkbox" checked={force} onChange={(e) => set("force", e.target.checked)} data-testid="bridge-force-input" />
        Allow protected interfaces (they carry an address or the default route: the host may lose its connection)
      </label>
    </FormDialog>
  );
}

/** Host bridges of the node (the local node only: others answer NotSupportedOnRemoteNode, shown as is). */
export function BridgesTab({ node }: { node: string }) {
  const toast = useToast();
  const q = useQuery("list-bridges", { node }, { refreshMs: 15_000 });
  const [creating, setCreating] = useState(false);
  const ops = useOperations<Bridge, "delete">({
    key: (b) => b.name,
    onChanged: () => void q.refresh(),
    ops: {
      delete: callOp("delete-bridge", (b) => ({ node, name: b.name }), (b) => `Bridge ${b.name} deleted`, {
        confirm: (b) => ({
          title: `Delete bridge ${b.name}?`,
          message: (
            <>
              Its ports are released and the bridge is removed from the host. The server refuses while a libvirt network
              or a VM uses it, or when it carries an address or the default route.
            </>
          ),
          confirmLabel: "Delete bridge",
          danger: true,
          typeToConfirm: b.name,
          testId: "delete-bridge-dialog",
        }),
      }),
    },
  });

  const columns: Column<Bridge>[] = [
    { key: "name", header: "Name", render: (b) => <span className="cell-main mono">{b.name}</span> },
    { key: "state", header: "State", render: (b) => <StateBadge state={b.state} tone={b.state === "up" ? "success" : undefined} testId="bridge-state" /> },
    { key: "interfaces", header: "Interfaces", sortable: false, render: (b) => (b.interfaces.length ? <span className="mono">{b.interfaces.join(", ")}</span> : "—") },
    { key: "addresses", header: "Addresses", sortable: false, render: (b) => (b.addresses.length ? <span className="mono">{b.addresses.join(", ")}</span> : "—") },
    { key: "stp", header: "STP", render: (b) => (b.stp ? "on" : "off") },
    { key: "network", header: "libvirt network", render: (b) => b.network ?? <span className="muted">—</span> },
    { key: "vms", header: "VMs", align: "num", sortValue: (b) => b.vms.length, render: (b) => <span title={b.vms.join(", ")}>{b.vms.length}</span> },
    actionsColumn((b) => (
        <OpButton ops={ops} kind="delete" target={b} icon="trash" look="icon" label="Delete bridge" ariaLabel={`Delete bridge ${b.name}`} testId="bridge-delete" />
      )),
  ];

  return (
    <ListPage
      query={q}
      testId="bridges"
      errorTitle="Host bridges are not available"
      refresh="none"
      notices={ops.ui}
      count={{ noun: "bridge", fallback: "Bridges" }}
      cardActions={
        <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} disabled={!!q.error} data-testid="add-bridge">
          <Icon name="plus" size={14} /> Create bridge
        </button>
      }
      table={{ columns, rows: q.data?.bridges, rowKey: (b) => b.name, rowTestId: "bridge-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No host bridges" }}
    >
      <BridgeFormDialog
        open={creating}
        node={node}
        onClose={() => setCreating(false)}
        onCreated={(b) => {
          setCreating(false);
          toast.success(`Bridge ${b.name} created`);
          void q.refresh();
        }}
      />
    </ListPage>
  );
}
