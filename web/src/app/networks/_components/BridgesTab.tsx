"use client";

import { FormEvent, useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Column, DataTable } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { EmptyState, Spinner } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import { Card } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { Bridge, errorFor } from "./netUtil";

function BridgeFormDialog({ open, node, onClose, onCreated }: { open: boolean; node: string; onClose: () => void; onCreated: (b: Bridge) => void }) {
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const [stp, setStp] = useState(false);
  const [force, setForce] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const ifaces = useQuery("list-available-interfaces", { node }, { enabled: open });
  useEffect(() => {
    if (!open) return;
    setName("");
    setPicked([]);
    setStp(false);
    setForce(false);
    setError(null);
    setBusy(false);
  }, [open]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onCreated((await call("create-bridge", { node, name: name.trim(), interfaces: picked, stp, force })).bridge);
    } catch (err) {
      setError(asApiError(err, "create-bridge"));
    } finally {
      setBusy(false);
    }
  };
  const toggle = (n: string, on: boolean) => setPicked((xs) => (on ? [...xs, n] : xs.filter((x) => x !== n)));
  const list = ifaces.data?.interfaces ?? [];
  const testId = "create-bridge-dialog";
  return (
    <Modal
      open={open}
      title={`Create bridge on ${node}`}
      onClose={onClose}
      busy={busy}
      testId={testId}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>
            Cancel
          </button>
          <button type="submit" form={`${testId}-form`} className="btn btn-primary" disabled={busy} data-testid={`${testId}-submit`}>
            {busy && <Spinner />}
            Create bridge
          </button>
        </>
      }
    >
      <form id={`${testId}-form`} onSubmit={submit} noValidate>
        <ErrorBanner error={error} title="Could not create the bridge" testId={`${testId}-error`} />
        <ErrorBanner error={ifaces.error} title="Could not list the interfaces" testId="bridge-ifaces-error" />
        <Field label="Name" name="bridge-name" required error={errorFor(error, "name")} hint="At most 15 characters: letters, digits, '_', '.' or '-'.">
          <TextInput id="bridge-name" className="input mono" value={name} onChange={(e) => setName(e.target.value)} placeholder="br0" data-testid="bridge-name-input" />
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
          <input type="checkbox" checked={stp} onChange={(e) => setStp(e.target.checked)} data-testid="bridge-stp-input" />
          Spanning tree (STP; ports wait ~30 s before forwarding)
        </label>
        <label className="split">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="bridge-force-input" />
          Allow protected interfaces (they carry an address or the default route: the host may lose its connection)
        </label>
      </form>
    </Modal>
  );
}

/** Host bridges of the node (the local node only: others answer NotSupportedOnRemoteNode, shown as is). */
export function BridgesTab({ node }: { node: string }) {
  const toast = useToast();
  const q = useQuery("list-bridges", { node }, { refreshMs: 15_000 });
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Bridge | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | null>(null);

  const remove = async () => {
    if (!deleting) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await call("delete-bridge", { node, name: deleting.name });
      toast.success(`Bridge ${deleting.name} deleted`);
      setDeleting(null);
      void q.refresh();
    } catch (err) {
      setDeleteError(asApiError(err, "delete-bridge"));
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<Bridge>[] = [
    { key: "name", header: "Name", render: (b) => <span className="cell-main mono">{b.name}</span> },
    { key: "state", header: "State", render: (b) => <StateBadge state={b.state} tone={b.state === "up" ? "success" : undefined} testId="bridge-state" /> },
    { key: "interfaces", header: "Interfaces", sortable: false, render: (b) => (b.interfaces.length ? <span className="mono">{b.interfaces.join(", ")}</span> : "—") },
    { key: "addresses", header: "Addresses", sortable: false, render: (b) => (b.addresses.length ? <span className="mono">{b.addresses.join(", ")}</span> : "—") },
    { key: "stp", header: "STP", render: (b) => (b.stp ? "on" : "off") },
    { key: "network", header: "libvirt network", render: (b) => b.network ?? <span className="muted">—</span> },
    { key: "vms", header: "VMs", align: "num", sortValue: (b) => b.vms.length, render: (b) => <span title={b.vms.join(", ")}>{b.vms.length}</span> },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (b) => (
        <button
          type="button"
          className="btn btn-sm btn-ghost btn-icon"
          onClick={() => {
            setDeleteError(null);
            setDeleting(b);
          }}
          data-testid="bridge-delete"
          title="Delete bridge"
          aria-label={`Delete bridge ${b.name}`}
        >
          <Icon name="trash" size={15} />
        </button>
      ),
    },
  ];

  const bridges = q.data?.bridges;
  return (
    <>
      <ErrorBanner error={q.error} title="Host bridges are not available" onRetry={() => void q.refresh()} testId="bridges-error" />
      <Card
        bodyless
        title={bridges ? `${bridges.length} bridge${bridges.length === 1 ? "" : "s"}` : "Bridges"}
        extra={
          <button type="button" className="btn btn-sm btn-primary" onClick={() => setCreating(true)} disabled={!!q.error} data-testid="add-bridge">
            <Icon name="plus" size={14} /> Create bridge
          </button>
        }
      >
        <DataTable
          columns={columns}
          rows={bridges}
          rowKey={(b) => b.name}
          loading={q.loading}
          testId="bridges-table"
          rowTestId="bridge-row"
          initialSort={{ key: "name", dir: "asc" }}
          empty={<EmptyState title="No host bridges" testId="bridges-empty" />}
        />
      </Card>
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
      <ConfirmDialog
        open={!!deleting}
        title={`Delete bridge ${deleting?.name ?? ""}?`}
        message={
          <>
            Its ports are released and the bridge is removed from the host. The server refuses while a libvirt network
            or a VM uses it, or when it carries an address or the default route.
          </>
        }
        confirmLabel="Delete bridge"
        danger
        typeToConfirm={deleting?.name}
        busy={busy}
        error={deleteError}
        onConfirm={remove}
        onCancel={() => setDeleting(null)}
        testId="delete-bridge-dialog"
      />
    </>
  );
}
