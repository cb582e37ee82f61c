import type { Schema } from "@/lib/api";
import { ApiError } from "@/lib/api";
import { fieldError } from "@/components/Field";

export type Network = Schema<"Network">;
export type NetworkIp = Schema<"NetworkIp">;
export type NetworkIpBlock = Schema<"NetworkIpBlock">;
export type DhcpHost = Schema<"NetworkDhcpHost">;
export type Bridge = Schema<"Bridge">;
export type HostInterface = Schema<"HostInterface">;

export const MODES = ["nat", "route", "isolated", "open", "bridge"] as const;
export type Mode = (typeof MODES)[number];

export const MODE_HELP: Record<Mode, string> = {
  nat: "NAT to the host's uplinks (guests reach out, nothing reaches in)",
  route: "Routed to the host's uplinks without NAT (the LAN needs a route back)",
  isolated: "Guests and the host only; without an IPv4 subnet a plain layer-2 switch",
  open: "Routed, and libvirt adds no firewall rules",
  bridge: "An existing host bridge: guests sit on the LAN behind it",
};

/** The schema types a nullable nested object loosely ({} | null | NetworkIp): the block, or null. */
export function ipOf(v: Network["ipv4"] | undefined): NetworkIp | null {
  return v && typeof (v as NetworkIp).address === "string" ? (v as NetworkIp) : null;
}

export function cidrText(ip: NetworkIp | null): string | null {
  return ip ? `${ip.address}/${ip.prefix ?? "?"}` : null;
}

export function dhcpText(ip: NetworkIp | null): string {
  if (!ip) return "—";
  return ip.dhcp_start && ip.dhcp_end ? `${ip.dhcp_start} – ${ip.dhcp_end}` : "off";
}

export function networkHref(node: string, name: string): string {
  return `/networks/detail/?node=${encodeURIComponent(node)}&name=${encodeURIComponent(name)}`;
}

/** Errors the API reports without field_errors, placed under the field they are about. */
const CODE_FIELD: Record<string, (e: ApiError) => string> = {
  NetworkExists: () => "name",
  SubnetOverlap: (e) => (String(e.details.subnet ?? "").includes(":") ? "ipv6_cidr" : "ipv4_cidr"),
  SubnetInUseOnHost: (e) => (String(e.details.subnet ?? "").includes(":") ? "ipv6_cidr" : "ipv4_cidr"),
  HostBridgeMissing: () => "bridge",
  BridgeExists: () => "name",
  InterfaceProtected: () => "interfaces",
  InterfaceInUse: () => "interfaces",
  InterfaceNotFound: () => "interfaces",
};

/** The server's message for a field: its field_errors, or a conflict that names that field. */
export function errorFor(error: ApiError | null, field: string): string | undefined {
  if (!error) return undefined;
  const own = fieldError(error, field);
  if (own) return own;
  const pick = CODE_FIELD[error.code];
  return pick && pick(error) === field ? error.message : undefined;
}
