// The sidebar's entries: ONE list for the whole app. A new module adds its page folder under src/app/ and
// one entry here (in the group where it belongs); nothing else in the layout changes.
import type { IconName } from "@/components/Icon";

export interface NavItem {
  /** Route of the page (with the trailing slash the static export uses). */
  href: string;
  label: string;
  icon: IconName;
  /** Stable id for data-testid="nav-<id>". */
  id: string;
  /** Also active on these path prefixes (e.g. detail pages under another folder). */
  match?: string[];
  /** Active on `href` itself only, not on the paths under it (the dashboard at `/`). */
  exact?: boolean;
  /** Shown only to tokens of this role (the page's actions need it: the server answers 403 otherwise). */
  role?: "admin";
}

export interface NavGroup {
  label: string;
  items: NavItem[];
}

export const NAV: NavGroup[] = [
  {
    label: "Overview",
    items: [{ id: "dashboard", href: "/", label: "Dashboard", icon: "dashboard", exact: true }],
  },
  {
    label: "Infrastructure",
    items: [
      { id: "nodes", href: "/nodes/", label: "Nodes", icon: "server" },
      { id: "networks", href: "/networks/", label: "Networks", icon: "network" },
      { id: "storage", href: "/storage/", label: "Storage", icon: "database" },
      { id: "tasks", href: "/tasks/", label: "Tasks", icon: "tasks" },
    ],
  },
  {
    label: "Compute",
    items: [
      { id: "vms", href: "/vms/", label: "VMs", icon: "vm" },
      { id: "templates", href: "/templates/", label: "Templates", icon: "template" },
      { id: "snapshots", href: "/snapshots/", label: "Snapshots", icon: "snapshot" },
      { id: "keypairs", href: "/keypairs/", label: "Keypairs", icon: "key" },
    ],
  },
  {
    label: "Administration",
    items: [
      { id: "audit", href: "/audit/", label: "Audit log", icon: "list", role: "admin" },
      { id: "tokens", href: "/tokens/", label: "API tokens", icon: "user", role: "admin" },
    ],
  },
];

/** The groups and entries a token of `role` sees (admin-only entries hidden from operators and viewers;
 * while the role is unknown, everything is shown: the server still checks every call). */
export function navFor(role: string | null | undefined): NavGroup[] {
  if (!role || role === "admin") return NAV;
  return NAV.map((g) => ({ ...g, items: g.items.filter((i) => !i.role) })).filter((g) => g.items.length > 0);
}

/** The entry a path belongs to (longest matching prefix). */
export function activeNavItem(pathname: string): NavItem | null {
  const path = pathname.endsWith("/") ? pathname : `${pathname}/`;
  let best: NavItem | null = null;
  let bestLen = -1;
  for (const group of NAV) {
    for (const item of group.items) {
      if (item.exact) {
        if (path === item.href && item.href.length > bestLen) {
          best = item;
          bestLen = item.href.length;
        }
        continue;
      }
      for (const prefix of [item.href, ...(item.match ?? [])]) {
        if (path.startsWith(prefix) && prefix.length > bestLen) {
          best = item;
          bestLen = prefix.length;
        }
      }
    }
  }
  return best;
}
