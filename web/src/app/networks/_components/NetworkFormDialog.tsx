"use client";

import { RequestOf, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
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

const EMPTY = { name: "", mode: "nat" as Mode, ipv4: "", dhcp: true, dhcpStart: "", dhcpEnd: "", ipv6: "", bridge: "", domain: "", autostart: true };

/** Create a network. Nothing is checked here that the server checks better: every message (malformed or
 * overlapping subnet, DHCP range, bridge in use) comes from the API and is shown under its field. */
export function NetworkFormDialog({ open, node, onClose, onCreated }: NetworkFormDialogProps) {
  const form = useForm(open, () => EMPTY);
  const { name, mode, ipv4, dhcp, dhcpStart, dhcpEnd, ipv6, bridge, domain, autostart } = form.values;
  const { set, error } = form;
  // Host bridges a bridge-mode network can wrap (the node's interface list, through libvirt).
  const sources = useQuery("list-network-sources", { node }, { enabled: open });

  const addressed = mode !== "bridge";
  const submit = () => {
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
    void form.submit("create-network", async () => onCreated((await call("create-network", body)).network));
  };

  const hostBridges = (sources.data?.sources.bridges ?? []).filter((b) => !b.network);
  return (
    <FormDialog
      open={open}
      form={form}
      title={`Create network on ${node}`}
      errorTitle="Could not create the network"
      testId="create-network-dialog"
      submitLabel="Create network"
      onClose={onClose}
      onSubmit={submit}
      wide
    >
      <Field label="Name" name="net-name" required error={errorFor(error, "name")} hint="Letters, digits, '.', '_' or '-'.">
        <TextInput id="net-name" value={name} onChange={(e) => set("name", e.target.value)} placeholder="lab" data-testid="net-name-input" />
      </Field>
      <Field label="Mode" name="net-mode" error={errorFor(error, "mode")} hint={MODE_HELP[mode]}>
        <Select id="net-mode" value={mode} onChange={(e) => set("mode", e.target.value as Mode)} data-testid="net-mode-input">
          <Options values={MODES} />
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
            <TextInput id="net-ipv4" className="input mono" value={ipv4} onChange={(e) => set("ipv4", e.target.value)} placeholder="198.18.42.1/24" data-testid="net-ipv4-input" />
          </Field>
          <Check id="net-dhcp-input" checked={dhcp} onChange={(v) => set("dhcp", v)}>
            Serve DHCP
          </Check>
          {dhcp && (
            <div className="split" style={{ alignItems: "flex-start" }}>
              <Field label="DHCP start" name="net-dhcp-start" error={errorFor(error, "dhcp_start")} hint="Empty: the upper half of the subnet.">
                <TextInput id="net-dhcp-start" className="input mono" value={dhcpStart} onChange={(e) => set("dhcpStart", e.target.value)} data-testid="net-dhcp-start-input" />
              </Field>
              <Field label="DHCP end" name="net-dhcp-end" error={errorFor(error, "dhcp_end")}>
                <TextInput id="net-dhcp-end" className="input mono" value={dhcpEnd} onChange={(e) => set("dhcpEnd", e.target.value)} data-testid="net-dhcp-end-input" />
              </Field>
            </div>
          )}
          <Field label="IPv6 address / prefix" name="net-ipv6" error={errorFor(error, "ipv6_cidr")} hint="Optional, a /64 (guests use SLAAC).">
            <TextInput id="net-ipv6" className="input mono" value={ipv6} onChange={(e) => set("ipv6", e.target.value)} placeholder="fd00:198:18::1/64" data-testid="net-ipv6-input" />
          </Field>
          <Field label="DNS domain" name="net-domain" error={errorFor(error, "domain")} hint="Optional; answered by the network's dnsmasq, never forwarded.">
            <TextInput id="net-domain" value={domain} onChange={(e) => set("domain", e.target.value)} placeholder="lab.internal" data-testid="net-domain-input" />
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
        <TextInput id="net-bridge" className="input mono" list="net-bridge-options" value={bridge} onChange={(e) => set("bridge", e.target.value)} data-testid="net-bridge-input" />
        {mode === "bridge" && (
          <datalist id="net-bridge-options">
            {hostBridges.map((b) => (
              <option key={b.name} value={b.name} />
            ))}
          </datalist>
        )}
      </Field>
      <Check id="net-autostart-input" checked={autostart} onChange={(v) => set("autostart", v)}>
        Start with the host (autostart)
      </Check>
    </FormDialog>
  );
}
