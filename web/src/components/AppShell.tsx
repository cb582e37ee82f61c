"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { ReactNode, useEffect, useRef, useState } from "react";
import { Icon } from "@/components/Icon";
import { LoadingBlock } from "@/components/Loading";
import { ToastProvider } from "@/components/Toast";
import { useEventStream } from "@/lib/events";
import { activeNavItem, navFor } from "@/lib/nav";
import { Identity, clearSession, getIdentity, onSessionChange } from "@/lib/session";

/** The frame of every page: the sidebar (from lib/nav.ts), the top bar and the toasts. The login page
 * gets no frame; every other page needs a token and sends the user to /login/ without one. */
export function AppShell({ children }: { children: ReactNode }) {
  const pathname = usePathname() || "/";
  const isLogin = pathname.startsWith("/login");
  const router = useRouter();
  const [identity, setIdentity] = useState<Identity | null | undefined>(undefined); // undefined: not read yet
  const loggingOut = useRef(false);
  // the tab's one events stream, held open while a user is logged in (pages subscribe to it: lib/events.ts)
  const live = useEventStream(!isLogin && !!identity);

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

  if (isLogin) return <ToastProvider>{children}</ToastProvider>;

  const active = activeNavItem(pathname);
  const logout = () => {
    loggingOut.current = true; // go to the plain login page, not "log in again to come back here"
    clearSession();
    router.replace("/login/");
  };

  return (
    <ToastProvider>
      <div className="shell">
        <aside className="sidebar" data-testid="sidebar">
          <div className="sidebar-brand">
            <div className="brand-mark">
              <Icon name="logo" size={17} />
            </div>
            <span>
              JVP
              <small>Virtualization control plane</small>
            </span>
          </div>
          <nav aria-label="Main">
            {navFor(identity?.role).map((group) => (
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
                      data-testid={`nav-${item.id}`}
                      title={item.label}
                    >
                      <Icon name={item.icon} size={17} />
                      <span>{item.label}</span>
                    </Link>
                  );
                })}
              </div>
            ))}
          </nav>
          <div className="sidebar-foot">libvirt · KVM/QEMU</div>
        </aside>
        <div className="main">
          <header className="topbar" data-testid="topbar">
            <div className="topbar-title">
              JVP <Icon name="chevronRight" size={12} /> <strong>{active?.label ?? "Console"}</strong>
            </div>
            <div className="topbar-user">
              <span
                className={`badge ${live === "open" ? "badge-success" : "badge-neutral"} live-status`}
                data-testid="events-status"
                data-state={live}
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
                  <span>
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
              <button type="button" className="btn btn-sm" onClick={logout} data-testid="logout">
                <Icon name="logout" size={14} /> Log out
              </button>
            </div>
          </header>
          <main className="content">{identity ? children : <LoadingBlock />}</main>
        </div>
      </div>
    </ToastProvider>
  );
}
