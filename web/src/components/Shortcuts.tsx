"use client";

// Keyboard shortcuts of every page (not while typing in a field, except Ctrl/Cmd-K):
//   Ctrl/Cmd-K or /   search            ?   this list
//   g d  dashboard   g v  VMs   g n  nodes   g w  networks   g s  storage   g t  tasks
//   g m  templates   g p  snapshots   g k  keypairs   g a  audit log
// The list below is the one the help dialog shows.

import { useRouter } from "next/navigation";
import { useEffect, useRef } from "react";
import { Modal } from "@/components/Modal";

export const GO_KEYS: { key: string; href: string; label: string }[] = [
  { key: "d", href: "/", label: "Dashboard" },
  { key: "v", href: "/vms/", label: "VMs" },
  { key: "n", href: "/nodes/", label: "Nodes" },
  { key: "w", href: "/networks/", label: "Networks" },
  { key: "s", href: "/storage/", label: "Storage" },
  { key: "t", href: "/tasks/", label: "Tasks" },
  { key: "m", href: "/templates/", label: "Templates" },
  { key: "p", href: "/snapshots/", label: "Snapshots" },
  { key: "k", href: "/keypairs/", label: "Keypairs" },
  { key: "a", href: "/audit/", label: "Audit log" },
];

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || !!el.closest?.(".xterm, .vnc-screen");
}

/** The global key bindings (mounted once, by the shell). */
export function useShortcuts({ onSearch, onHelp, enabled }: { onSearch: () => void; onHelp: () => void; enabled: boolean }) {
  const router = useRouter();
  const pendingG = useRef(0);
  const cb = useRef({ onSearch, onHelp });
  cb.current = { onSearch, onHelp };
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        cb.current.onSearch();
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || typing(e.target)) return;
      if (document.querySelector("[role=dialog]")) return; // a dialog has the keyboard
      if (pendingG.current && Date.now() - pendingG.current < 1500) {
        pendingG.current = 0;
        const go = GO_KEYS.find((g) => g.key === e.key.toLowerCase());
        if (go) {
          e.preventDefault();
          router.push(go.href);
        }
        return;
      }
      if (e.key === "/") {
        e.preventDefault();
        cb.current.onSearch();
      } else if (e.key === "?") {
        e.preventDefault();
        cb.current.onHelp();
      } else if (e.key === "g") {
        pendingG.current = Date.now();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled, router]);
}

export function ShortcutsHelp({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Modal open={open} title="Keyboard shortcuts" onClose={onClose} testId="shortcuts-help">
      <table className="table shortcuts-table">
        <tbody>
          <tr>
            <td><kbd className="kbd">Ctrl</kbd> <kbd className="kbd">K</kbd> or <kbd className="kbd">/</kbd></td>
            <td>Search VMs, nodes, networks, pools, templates (name, IP, MAC)</td>
          </tr>
          <tr>
            <td><kbd className="kbd">?</kbd></td>
            <td>This list</td>
          </tr>
          {GO_KEYS.map((g) => (
            <tr key={g.key}>
              <td><kbd className="kbd">g</kbd> <kbd className="kbd">{g.key}</kbd></td>
              <td>Go to {g.label}</td>
            </tr>
          ))}
          <tr>
            <td><kbd className="kbd">Tab</kbd>, <kbd className="kbd">Enter</kbd></td>
            <td>Table headers sort; menus open with Enter and move with the arrow keys</td>
          </tr>
        </tbody>
      </table>
    </Modal>
  );
}
