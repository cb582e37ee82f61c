"use client";

// Global search (Ctrl/Cmd-K, "/", or the top bar's search button): VMs, nodes, networks, storage pools and
// templates by name, node, IP address and MAC address, plus the pages themselves; Enter opens the item's
// page. The lists are the pages' own queries (TanStack Query cache: what a page already loaded shows at
// once and is refreshed behind). cmdk does the keyboard list and the ranking; Radix's Dialog the focus trap.

import * as Dialog from "@radix-ui/react-dialog";
import { Command } from "cmdk";
import { useRouter } from "next/navigation";
import { useMemo, useState } from "react";
import { Icon, IconName } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { useQuery } from "@/lib/hooks";
import { NAV } from "@/lib/nav";

export interface SearchEntry {
  id: string;
  group: "Pages" | "VMs" | "Nodes" | "Networks" | "Storage pools" | "Templates";
  title: string;
  sub?: string;
  href: string;
  icon: IconName;
  /** Words it is found by besides its title: node, IPs, MACs, ... */
  keywords: string[];
}

const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

/** Everything the palette can find, from the cached lists. */
export function useSearchEntries(enabled: boolean): { entries: SearchEntry[]; loading: boolean } {
  const opts = { enabled };
  const vms = useQuery("list-vms", {}, opts);
  const nodes = useQuery("list-nodes", {}, opts);
  const nets = useQuery("list-networks", {}, opts);
  const pools = useQuery("list-storage-pools", {}, opts);
  const templates = useQuery("list-templates", {}, opts);
  const entries = useMemo(() => {
    const out: SearchEntry[] = [];
    for (const g of NAV)
      for (const it of g.items)
        out.push({ id: `page:${it.id}`, group: "Pages", title: it.label, href: it.href, icon: it.icon, keywords: [g.label] });
    for (const v of vms.data?.vms ?? []) {
      const macs = (v as { macs?: string[] }).macs ?? [];
      out.push({
        id: `vm:${v.node}/${v.name}`,
        group: "VMs",
        title: v.name,
        sub: [v.node, v.state, ...(v.ips ?? []), ...macs].filter(Boolean).join(" · "),
        href: `/vms/detail/?${q({ node: v.node, name: v.name })}`,
        icon: "vm",
        keywords: [v.node, v.uuid, ...(v.ips ?? []), ...macs],
      });
    }
    for (const n of nodes.data?.nodes ?? [])
      out.push({
        id: `node:${n.name}`,
        group: "Nodes",
        title: n.name,
        sub: [n.hostname, n.uri].filter(Boolean).join(" · "),
        href: `/nodes/detail/?${q({ name: n.name })}`,
        icon: "server",
        keywords: [n.hostname ?? "", n.uri ?? ""].filter(Boolean),
      });
    for (const n of nets.data?.networks ?? []) {
      const ips = (n.ips ?? []).map((ip) => ip.address).filter(Boolean) as string[];
      const hosts = (n.hosts ?? []).flatMap((h) => [h.mac, h.ip, h.hostname]).filter(Boolean) as string[];
      out.push({
        id: `network:${n.node}/${n.name}`,
        group: "Networks",
        title: n.name,
        sub: [n.node, n.bridge, ...ips].filter(Boolean).join(" · "),
        href: `/networks/detail/?${q({ node: n.node, name: n.name })}`,
        icon: "network",
        keywords: [n.node, n.bridge ?? "", ...ips, ...hosts].filter(Boolean),
      });
    }
    for (const p of pools.data?.pools ?? [])
      out.push({
        id: `pool:${p.node}/${p.name}`,
        group: "Storage pools",
        title: p.name,
        sub: [p.node, p.type, p.path].filter(Boolean).join(" · "),
        href: `/storage/detail/?${q({ node: p.node, name: p.name })}`,
        icon: "database",
        keywords: [p.node, p.path ?? ""].filter(Boolean),
      });
    for (const t of templates.data?.templates ?? [])
      out.push({
        id: `template:${t.node}/${t.name}`,
        group: "Templates",
        title: t.name,
        sub: [t.node, t.pool].filter(Boolean).join(" · "),
        href: `/templates/?${q({ node: t.node })}`,
        icon: "template",
        keywords: [t.node, t.pool ?? "", ...((t.tags as string[] | undefined) ?? [])].filter(Boolean),
      });
    return out;
  }, [vms.data, nodes.data, nets.data, pools.data, templates.data]);
  const loading = [vms, nodes, nets, pools, templates].some((x) => x.fetching);
  return { entries, loading };
}

/** Every word typed must appear in the entry (its id, title and keywords): "vm0" must not find "vm1", as
 * cmdk's default fuzzy ranking would. Titles that start with the text rank first. */
export function searchFilter(value: string, search: string, keywords?: string[]): number {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return 1;
  const text = `${value} ${(keywords ?? []).join(" ")}`.toLowerCase();
  if (!words.every((w) => text.includes(w))) return 0;
  return (keywords?.[0] ?? "").toLowerCase().startsWith(words[0]) ? 1 : 0.5;
}

const GROUPS: SearchEntry["group"][] = ["VMs", "Nodes", "Networks", "Storage pools", "Templates", "Pages"];

export function CommandPalette({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const router = useRouter();
  const [search, setSearch] = useState("");
  const { entries, loading } = useSearchEntries(open);
  const go = (href: string) => {
    onOpenChange(false);
    setSearch("");
    router.push(href);
  };
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="modal-backdrop palette-backdrop">
          <Dialog.Content className="palette" data-testid="search-dialog" aria-describedby={undefined}>
            <Dialog.Title className="sr-only">Search</Dialog.Title>
            <Command label="Search VMs, nodes, networks, pools, templates" loop filter={searchFilter}>
              <div className="palette-input">
                <Icon name="search" size={16} />
                <Command.Input
                  value={search}
                  onValueChange={setSearch}
                  placeholder="Name, IP or MAC address…"
                  data-testid="search-input"
                />
                {loading && <Spinner />}
                <kbd className="kbd">Esc</kbd>
              </div>
              <Command.List className="palette-list" data-testid="search-results">
                <Command.Empty className="palette-empty" data-testid="search-empty">
                  Nothing matches “{search}”.
                </Command.Empty>
                {GROUPS.map((g) => {
                  const items = entries.filter((e) => e.group === g);
                  if (!items.length) return null;
                  return (
                    <Command.Group key={g} heading={g} className="palette-group">
                      {items.map((e) => (
                        <Command.Item
                          key={e.id}
                          value={e.id}
                          keywords={[e.title, ...e.keywords]}
                          onSelect={() => go(e.href)}
                          className="palette-item"
                          data-testid="search-item"
                          data-id={e.id}
                        >
                          <Icon name={e.icon} size={16} />
                          <span className="palette-item-text">
                            <span className="palette-item-title">{e.title}</span>
                            {e.sub && <span className="palette-item-sub">{e.sub}</span>}
                          </span>
                        </Command.Item>
                      ))}
                    </Command.Group>
                  );
                })}
              </Command.List>
            </Command>
          </Dialog.Content>
        </Dialog.Overlay>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
