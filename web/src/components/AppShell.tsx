"use client";

import * as Dialog from "@radix-ui/react-dialog";
import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { ReactNode, useEffect, useRef, useState } from "react";
import { CommandPalette } from "@/components/CommandPalette";
import { Icon, IconName } from "@/components/Icon";
import { LoadingBlock } from "@/components/Loading";
import { ShortcutsHelp, useShortcuts } from "@/components/Shortcuts";
import { TaskTray } from "@/components/TaskTray";
import { ToastProvider } from "@/components/Toast";
import { useEventStream } from "@/lib/events";
import { NavItem, activeNavItem, navFor } from "@/lib/nav";
import { QueryProvider } from "@/lib/queries";
import { Identity, clearSession, getIdentity, onSessionChange } from "@/lib/session";
import { ThemeChoice, useTheme } from "@/lib/theme";

function NavLinks({ active, role, testPrefix, onNavigate }: { active: NavItem | null; role?: string | null; testPrefix: string; onNavigate?: () => void }) {
  return (
    <nav aria-label="Main">
      {navFor(role).map((group) => (
        <div className="nav-group" key={group.label}>
          <div className="nav-group-label">{group.label}</div>
          {group.items.map((item) => {
            const isActive = active?.id === item.id;
            return (
              <Link
                key={item.id}
                href={item.href}
                className={`nav-item${isActive ? " active" : ""}`}
                aria-current={isActive ? "page" : undefined}
                data-testid={`${testPrefix}${item.id}`}
                onClick={onNavigate}
              >
                <Icon name={item.icon} size={17} />
                <span>{item.label}</span>
              </Link>
            );
          })}
        </div>
      ))}
    </nav>
  );
}

function Brand() {
  return (
    <div className="sidebar-brand">
      <div className="brand-mark">
        <Icon name="logo" size={17} />
      </div>
      <span>
        JVP
        <small>Virtualization control plane</small>
      </span>
    </div>
  );
}

const THEMES: { id: ThemeChoice; label: string; icon: IconName }[] = [
  { id: "system", label: "System", icon: "monitor" },
  { id: "light", label: "Light", icon: "sun" },
  { id: "dark", label: "Dark", icon: "moon" },
];

/** System / light / dark (lib/theme.ts), a radio menu on Radix's dropdown. */
function ThemeMenu() {
  const [choice, setChoice] = useTheme();
  const current = THEMES.find((t) => t.id === choice) ?? THEMES[0];
  return (
    <DropdownMenu.Root modal={false}>
      <DropdownMenu.Trigger asChild>
        <button
          type="button"
          className="btn btn-sm btn-icon btn-ghost"
          aria-label={`Theme: ${current.label}`}
          title={`Theme: ${current.label}`}
          data-testid="theme-toggle"
          data-choice={choice}
        >
          <Icon name={current.icon} size={16} />
        </button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content className="menu" align="end" sideOffset={4} data-testid="theme-menu">
          <DropdownMenu.Label className="menu-label">Theme</DropdownMenu.Label>
          <DropdownMenu.RadioGroup value={choice} onValueChange={(v) => setChoice(v as ThemeChoice)}>
            {THEMES.map((t) => (
              <DropdownMenu.RadioItem key={t.id} value={t.id} className="menu-item menu-radio" data-testid={`theme-${t.id}`}>
                <Icon name={t.icon} size={15} />
                <span className="menu-item-label">{t.label}</span>
                <DropdownMenu.ItemIndicator className="menu-check">
                  <Icon name="check" size={14} />
                </DropdownMenu.ItemIndicator>
              </DropdownMenu.RadioItem>
            ))}
          </DropdownMenu.RadioGroup>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

/** The frame of every page: the sidebar (from lib/nav.ts; a drawer behind the menu button on narrow
 * screens), the top bar (search, theme, live status, identity, log out), the task bar and the toasts,
 * inside the query client. The login page gets no frame; every other page needs a token and sends the
 * user to /login/ without one. */
export function AppShell({ children }: { children: ReactNode }) {
  const pathname = usePathname() || "/";
  const isLogin = pathname.startsWith("/login");
  const router = useRouter();
  const [identity, setIdentity] = useState<Identity | null | undefined>(undefined); // undefined: not read yet
  const loggingOut = useRef(false);
  const [drawer, setDrawer] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  const [search, setSearch] = useState(false);
  const [help, setHelp] = useState(false);
  const signedIn = !isLogin && !!identity;
  // the tab's one events stream, held open while a user is logged in (pages subscribe to it: lib/events.ts)
  const live = useEventStream(signedIn);
  useShortcuts({ onSearch: () => setSearch(true), onHelp: () => setHelp(true), enabled: signedIn });

  useEffect(() => {
    const read = () => {
      const id = getIdentity();
      if (id) loggingOut.current = false;
      setIdentity(id);
    };
    read();
    return onSessionChange(read);
  }, []);

  useEffect(() => {
    if (!isLogin && identity === null && !loggingOut.current) {
      const next = window.location.pathname + window.location.search;
      router.replace(next === "/" ? "/login/" : `/login/?next=${encodeURIComponent(next)}`);
    }
  }, [identity, isLogin, router]);

  // a page change closes the drawer
  useEffect(() => setDrawer(false), [pathname]);

  if (isLogin)
    return (
      <QueryProvider live={false}>
        <ToastProvider>{children}</ToastProvider>
      </QueryProvider>
    );

  const active = activeNavItem(pathname);
  const logout = () => {
    loggingOut.current = true; // go to the plain login page, not "log in again to come back here"
    clearSession();
    router.replace("/login/");
  };

  return (
    <QueryProvider live={signedIn}>
      <ToastProvider>
        <div className="shell">
          <aside className="sidebar" data-testid="sidebar">
            <Brand />
            <NavLinks active={active} role={identity?.role} testPrefix="nav-" />
            <div className="sidebar-foot">libvirt · KVM/QEMU</div>
          </aside>
          <Dialog.Root open={drawer} onOpenChange={setDrawer}>
            <Dialog.Portal>
              <Dialog.Overlay className="drawer-backdrop" />
              <Dialog.Content
                className="drawer sidebar"
                data-testid="nav-drawer"
                aria-describedby={undefined}
                onCloseAutoFocus={(e) => {
                  // back to the menu button (it opened the drawer without being a Radix trigger)
                  e.preventDefault();
                  menuButton.current?.focus();
                }}
              >
                <Dialog.Title className="sr-only">Menu</Dialog.Title>
                <div className="drawer-head">
                  <Brand />
                  <Dialog.Close asChild>
                    <button type="button" className="btn btn-ghost btn-sm btn-icon drawer-close" aria-label="Close the menu" data-testid="nav-drawer-close">
                      <Icon name="close" />
                    </button>
                  </Dialog.Close>
                </div>
                <NavLinks active={active} role={identity?.role} testPrefix="drawer-nav-" onNavigate={() => setDrawer(false)} />
              </Dialog.Content>
            </Dialog.Portal>
          </Dialog.Root>
          <div className="main">
            <header className="topbar" data-testid="topbar">
              <button
                type="button"
                ref={menuButton}
                className="btn btn-ghost btn-icon menu-button"
                aria-label="Menu"
                aria-expanded={drawer}
                onClick={() => setDrawer(true)}
                data-testid="menu-button"
              >
                <Icon name="menu" size={18} />
              </button>
              <div className="topbar-title">
                <span className="topbar-app">JVP</span> <Icon name="chevronRight" size={12} />{" "}
                <strong data-testid="topbar-title">{active?.label ?? "Not found"}</strong>
              </div>
              <div className="topbar-user">
                <button
                  type="button"
                  className="btn btn-sm search-button"
                  onClick={() => setSearch(true)}
                  data-testid="search-button"
                  aria-keyshortcuts="Control+K /"
                  title="Search VMs, nodes, networks, pools, templates (Ctrl+K or /)"
                >
                  <Icon name="search" size={15} />
                  {/* the name is the text, "Search Ctrl K"; on narrow screens it is visually hidden, still read */}
                  <span className="search-button-text">Search</span>{" "}
                  <kbd className="kbd search-button-text">Ctrl K</kbd>
                </button>
                <button
                  type="button"
                  className="btn btn-sm btn-icon btn-ghost shortcuts-button"
                  onClick={() => setHelp(true)}
                  aria-label="Keyboard shortcuts (?)"
                  title="Keyboard shortcuts (?)"
                  data-testid="shortcuts-button"
                >
                  <Icon name="keyboard" size={16} />
                </button>
                <ThemeMenu />
                <span
                  className={`badge ${live === "open" ? "badge-success" : "badge-neutral"} live-status`}
                  data-testid="events-status"
                  data-state={live}
                  role="status"
                  aria-label={live === "open" ? "Live" : live === "connecting" ? "Connecting" : "Polling"}
                  title={
                    live === "open"
                      ? "Live: pages update as changes happen (events stream)"
                      : "The events stream is not connected: pages refresh by polling"
                  }
                >
                  <span className="live-label">{live === "open" ? "Live" : live === "connecting" ? "Connecting" : "Polling"}</span>
                </span>
                {identity && (
                  <div className="identity" data-testid="identity" title="The API token this browser uses">
                    <div className="avatar">
                      <Icon name="user" size={15} />
                    </div>
                    <span className="identity-text">
                      <span data-testid="identity-name">{identity.name ?? <code>{identity.prefix}…</code>}</span>
                      {identity.role && (
                        <>
                          {" "}
                          <span className="badge badge-info" data-testid="identity-role" style={{ marginLeft: 4 }}>
                            {identity.role}
                          </span>
                        </>
                      )}
                    </span>
                  </div>
                )}
                <button type="button" className="btn btn-sm logout-button" onClick={logout} data-testid="logout" aria-label="Log out" title="Log out">
                  <Icon name="logout" size={14} /> <span className="logout-text">Log out</span>
                </button>
              </div>
            </header>
            <main className="content">{identity ? children : <LoadingBlock />}</main>
            {identity && <TaskTray />}
          </div>
        </div>
        {signedIn && <CommandPalette open={search} onOpenChange={setSearch} />}
        <ShortcutsHelp open={help} onClose={() => setHelp(false)} />
      </ToastProvider>
    </QueryProvider>
  );
}
