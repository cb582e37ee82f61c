"use client";

import { FormEvent, useEffect, useState } from "react";
import { ApiError, RequestOf, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Modal } from "@/components/Modal";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { Spinner } from "@/components/Loading";
import { MODES, MODE_HELP, Mode, Network, errorFor } from "./netUtil";

export interface NetworkFormDialogProps {
  open: boolean;
  node: string;
  onClose: () => void;
  onCreated: (net: Network) => void;
}

function Check({ id, checked, onChange, children }: { id: string; checked: boolean; onChange: (v: boolean) => void; children: React.ReactNode }) {
  return (
    <label htmlFor={id} className="split" style={{ fontWeight: 500, marginBottom: 14 }}>
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} data-testid={id} />
      {children}
    </label>
  );
}

/** Create a network. Nothing is checked here that the server checks better: every message (malformed or
 * overlapping subnet, DHCP range, bridge in use) comes from the API and is shown under its field. */
export function NetworkFormDialog({ open, node, onClose, onCreated }: NetworkFormDialogProps) {
  const [name, setName] = useState("");
  const [mode, setMode] = useState<Mode>("nat");
  const [ipv4, setIpv4] = useState("");
  const [dhcp, setDhcp] = useState(true);
  const [dhcpStart, setDhcpStart] = useState("");
  const [dhcpEnd, setDhcpEnd] = useState("");
  const [ipv6, setIpv6] = useState("");
  const [bridge, setBridge] = useState("");
  const [domain, setDomain] = useState("");
  const [autostart, setAutostart] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  // Host bridges a bridge-mode network can wrap (the node's interface list, through libvirt).
  const sources = useQuery("list-network-sources", { node }, { enabled: open });

  useEffect(() => {
    if (!open) return;
    setName("");
    setMode("nat");
    setIpv4("");
    setDhcp(true);
    setDhcpStart("");
    setDhcpEnd("");
    setIpv6("");
    setBridge("");
    setDomain("");
    setAutostart(true);
    setError(null);
    setBusy(false);
  }, [open]);

  const addressed = mode !== "bridge";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: RequestOf<"create-network"> = { node, name: name.trim(), mode, autostart };
    const put = (key: "ipv4_cidr" | "dhcp_start" | "dhcp_end" | "ipv6_cidr" | "bridge" | "domain", v: string) => {
      if (v.trim()) body[key] = v.trim();
    };
    put("bridge", bridge);
    if (addressed) {
      put("ipv4_cidr", ipv4);
      put("ipv6_cidr", ipv6);
      put("domain", domain);
      if (ipv4.trim()) {
        body.dhcp = dhcp;
        if (dhcp) {
          put("dhcp_start", dhcpStart);
          put("dhcp_end", dhcpEnd);
        }
      }
    }
    try {
      onCreated((await call("create-network", body)).network);
    } catch (err) {
      setError(asApiError(err, "create-network"));
    } finally {
      setBusy(false);
    }
  };

  const hostBridges = (sources.data?.sources.bridges ?? []).filter((b) => !b.network);
  const testId = "create-network-dialog";
  return (
    <Modal
      open={open}
      title={`Create network on ${node}`}
      onClose={onClose}
      busy={busy}
      testId={testId}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>
            Cancel
          </button>
          <button type="submit" form={`${testId}-form`} className="btn btn-primary" disabled={busy} data-testid={`${testId}-submit`}>
            {busy && <Spinner />}
            Create network
          </button>
        </>
      }
    >
      <form id={`${testId}-form`} onSubmit={submit} noValidate>
        <ErrorBanner error={error} title="Could not create the network" testId={`${testId}-error`} />
        <Field label="Name" name="net-name" required error={errorFor(error, "name")} hint="Letters, digits, '.', '_' or '-'.">
          <TextInput id="net-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="lab" data-testid="net-name-input" />
        </Field>
        <Field label="Mode" name="net-mode" error={errorFor(error, "mode")} hint={MODE_HELP[mode]}>
          <Select id="net-mode" value={mode} onChange={(e) => setMode(e.target.value as Mode)} data-testid="net-mode-input">
            {MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </Select>
        </Field>
        {addressed && (
          <>
            <Field
              label="IPv4 address / prefix"
              name="net-ipv4"
              required={mode === "nat"}
              error={errorFor(error, "ipv4_cidr")}
              hint="The host side's address, e.g. 198.18.42.1/24. It must not overlap another network or the host's own."
            >
              <TextInput id="net-ipv4" className="input mono" value={ipv4} onChange={(e) => setIpv4(e.target.value)} placeholder="198.18.42.1/24" data-testid="net-ipv4-input" />
            </Field>
            <Check id="net-dhcp-input" checked={dhcp} onChange={setDhcp}>
              Serve DHCP
            </Check>
            {dhcp && (
              <div className="split" style={{ alignItems: "flex-start" }}>
                <Field label="DHCP start" name="net-dhcp-start" error={errorFor(error, "dhcp_start")} hint="Empty: the upper half of the subnet.">
                  <TextInput id="net-dhcp-start" className="input mono" value={dhcpStart} onChange={(e) => setDhcpStart(e.target.value)} data-testid="net-dhcp-start-input" />
                </Field>
                <Field label="DHCP end" name="net-dhcp-end" error={errorFor(error, "dhcp_end")}>
                  <TextInput id="net-dhcp-end" className="input mono" value={dhcpEnd} onChange={(e) => setDhcpEnd(e.target.value)} data-testid="net-dhcp-end-input" />
                </Field>
              </div>
            )}
            <Field label="IPv6 address / prefix" name="net-ipv6" error={errorFor(error, "ipv6_cidr")} hint="Optional, a /64 (guests use SLAAC).">
              <TextInput id="net-ipv6" className="input mono" value={ipv6} onChange={(e) => setIpv6(e.target.value)} placeholder="fd00:198:18::1/64" data-testid="net-ipv6-input" />
            </Field>
            <Field label="DNS domain" name="net-domain" error={errorFor(error, "domain")} hint="Optional; answered by the network's dnsmasq, never forwarded.">
              <TextInput id="net-domain" value={domain} onChange={(e) => setDomain(e.target.value)} placeholder="lab.internal" data-testid="net-domain-input" />
            </Field>
          </>
        )}
        <Field
          label={mode === "bridge" ? "Host bridge" : "Bridge device"}
          name="net-bridge"
          required={mode === "bridge"}
          error={errorFor(error, "bridge")}
          hint={mode === "bridge" ? "An existing bridge on the node (see the Bridges tab)." : "Optional; empty: the next free jvpbrN."}
        >
          <TextInput id="net-bridge" className="input mono" list="net-bridge-options" value={bridge} onChange={(e) => setBridge(e.target.value)} data-testid="net-bridge-input" />
          {mode === "bridge" && (
            <datalist id="net-bridge-options">
              {hostBridges.map((b) => (
                <option key={b.name} value={b.name} />
              ))}
            </datalist>
          )}
        </Field>
        <Check id="net-autostart-input" checked={autostart} onChange={setAutostart}>
          Start with the host (autostart)
        </Check>
      </form>
    </Modal>
  );
}
