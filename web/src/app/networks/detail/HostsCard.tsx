"use client";

import { FormEvent } from "react";
import { call } from "@/lib/api";
import { callOp, useOperations } from "@/lib/useOperations";
import { Column, DataTable, actionsColumn } from "@/components/DataTable";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, TextInput } from "@/components/Field";
import { useForm } from "@/components/FormDialog";
import { Icon } from "@/components/Icon";
import { EmptyState, Spinner } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { useToast } from "@/components/Toast";
import { DhcpHost, Network, errorFor } from "../_components/netUtil";

/** Static DHCP reservations: the table, an add form (the server's field errors under each field) and a
 * confirmed remove. Both go live to dnsmasq and to the persistent definition. */
export function HostsCard({ net, onChanged }: { net: Network; onChanged: () => void }) {
  const toast = useToast();
  const form = useForm(true, () => ({ mac: "", ip: "", hostname: "" }));
  const { mac, ip, hostname } = form.values;
  const { set, error, busy } = form;

  const add = (e: FormEvent) => {
    e.preventDefault();
    void form.submit("add-network-host", async () => {
      const body = { node: net.node, name: net.name, mac: mac.trim(), ip: ip.trim(), ...(hostname.trim() ? { hostname: hostname.trim() } : {}) };
      await call("add-network-host", body);
      toast.success(`Reserved ${body.ip} for ${body.mac}`);
      form.setValues({ mac: "", ip: "", hostname: "" });
      onChanged();
    });
  };

  const ops = useOperations<DhcpHost, "remove">({
    key: (h) => `${h.mac ?? h.hostname}-${h.ip}`,
    onChanged,
    ops: {
      // The address names the reservation; mac/hostname narrow it. A reservation made outside JVP may have
      // no MAC (a name and an address only): it is removed by its address and name.
      remove: callOp(
        "remove-network-host",
        (h) => ({ node: net.node, name: net.name, ip: h.ip, ...(h.mac ? { mac: h.mac } : {}), ...(h.hostname ? { hostname: h.hostname } : {}) }),
        (h) => `Reservation ${h.ip} removed`,
        {
          confirm: (h) => ({
            title: `Remove reservation ${h.ip}?`,
            message: (
              <>
                {h.mac ? <span className="mono">{h.mac}</span> : <>Host {h.hostname ? <span className="mono">{h.hostname}</span> : "(no MAC)"}</>} no longer gets{" "}
                <span className="mono">{h.ip}</span>; a lease it holds runs until it expires.
              </>
            ),
            confirmLabel: "Remove",
            danger: true,
            testId: "remove-host-dialog",
          }),
        },
      ),
    },
  });

  const columns: Column<DhcpHost>[] = [
    { key: "ip", header: "IP", render: (h) => <span className="mono cell-main">{h.ip}</span> },
    { key: "mac", header: "MAC", render: (h) => <span className="mono">{h.mac ?? "—"}</span> },
    { key: "hostname", header: "Hostname" },
    actionsColumn((h) => (
        <button
          type="button"
          className="btn btn-sm btn-ghost btn-icon"
          onClick={() => ops.run("remove", h)}
          data-testid="host-remove"
          aria-label={`Remove reservation ${h.ip}`}
          title="Remove reservation"
        >
          <Icon name="trash" size={15} />
        </button>
      )),
  ];

  return (
    <Card bodyless title="Static hosts" testId="card-hosts">
      <form className="table-toolbar filters" onSubmit={add} noValidate data-testid="host-form" style={{ alignItems: "flex-start" }}>
        <div style={{ flexBasis: "100%" }}>
          <ErrorBanner error={error} title="Could not add the reservation" testId="host-form-error" />
        </div>
        <Field label="MAC" name="host-mac" required error={errorFor(error, "mac")}>
          <TextInput id="host-mac" className="input input-sm mono" value={mac} onChange={(e) => set("mac", e.target.value)} placeholder="52:54:00:12:34:56" data-testid="host-mac-input" />
        </Field>
        <Field label="IP" name="host-ip" required error={errorFor(error, "ip")}>
          <TextInput id="host-ip" className="input input-sm mono" value={ip} onChange={(e) => set("ip", e.target.value)} placeholder="198.18.42.10" data-testid="host-ip-input" />
        </Field>
        <Field label="Hostname" name="host-hostname" error={errorFor(error, "hostname")}>
          <TextInput id="host-hostname" className="input input-sm" value={hostname} onChange={(e) => set("hostname", e.target.value)} data-testid="host-hostname-input" />
        </Field>
        <div className="field">
          <label>&nbsp;</label>
          <button type="submit" className="btn btn-sm btn-primary" disabled={busy} data-testid="host-add">
            {busy && <Spinner />}
            <Icon name="plus" size={14} /> Reserve
          </button>
        </div>
      </form>
      <DataTable
        columns={columns}
        rows={net.hosts}
        rowKey={(h) => `${h.mac ?? h.hostname}-${h.ip}`}
        testId="hosts-table"
        rowTestId="host-row"
        initialSort={{ key: "ip", dir: "asc" }}
        empty={<EmptyState title="No static hosts" testId="hosts-empty">Reserve an address for a VM's MAC above.</EmptyState>}
      />
      {ops.ui}
    </Card>
  );
}
