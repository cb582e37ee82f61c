"use client";

import { show } from "@/lib/format";
import { Card } from "@/components/PageHeader";
import { EmptyState } from "@/components/Loading";
import type { Network, NetworkIpBlock } from "../_components/netUtil";

const PREFIX_SOURCE: Record<string, string> = {
  prefix: "prefix",
  netmask: "from netmask",
  classful: "classful (no netmask)",
  default: "IPv6 default",
};

function rangesText(b: NetworkIpBlock): string {
  if (!b.ranges.length) return b.dhcp ? "no range" : "off";
  return b.ranges.map((r) => `${show(r.start)} – ${show(r.end)}`).join(", ");
}

/** Every <ip> block of the network as libvirt has it (several IPv4 and IPv6 blocks in networks made outside
 * JVP), with the prefix libvirt derives, the DHCP ranges, boot options and the block's static hosts. */
export function BlocksCard({ net }: { net: Network }) {
  const blocks = net.ips ?? [];
  return (
    <Card bodyless title={`Address blocks (${blocks.length})`} testId="card-blocks">
      {!blocks.length && (
        <EmptyState title="No addresses" testId="blocks-empty">
          The network has no IP block: a plain layer-2 switch (or the LAN behind a host bridge).
        </EmptyState>
      )}
      {blocks.map((b, i) => (
        <div className="card-body" key={`${b.family}-${b.address}-${i}`} data-testid="block">
          <dl className="kv">
            <dt>{b.family === "ipv6" ? "IPv6" : "IPv4"}</dt>
            <dd className="mono" data-testid="block-cidr">
              {b.address}/{b.prefix ?? "?"} <span className="muted">({PREFIX_SOURCE[b.prefix_source] ?? b.prefix_source})</span>
            </dd>
            <dt>DHCP</dt>
            <dd className="mono" data-testid="block-dhcp">{rangesText(b)}</dd>
            {b.tftp_root && (
              <>
                <dt>TFTP root</dt>
                <dd className="mono">{b.tftp_root}</dd>
              </>
            )}
            {b.bootp_file && (
              <>
                <dt>Boot file</dt>
                <dd className="mono">
                  {b.bootp_file}
                  {b.bootp_server ? ` on ${b.bootp_server}` : ""}
                </dd>
              </>
            )}
            <dt>Static hosts</dt>
            <dd data-testid="block-hosts">
              {b.hosts.length
                ? b.hosts.map((h) => (
                    <div className="mono" key={`${h.mac ?? h.id ?? h.hostname}-${h.ip}`} data-testid="block-host">
                      {h.ip} {h.mac ?? (h.id ? `id ${h.id}` : "")} {h.hostname ?? ""}
                    </div>
                  ))
                : "none"}
            </dd>
          </dl>
        </div>
      ))}
    </Card>
  );
}
