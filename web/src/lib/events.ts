"use client";

// The server's events stream (`/ws/events`, README: Events), shared by every component of the tab:
//
//   const status = useEventStream();                        // "connecting" | "open" | "closed"
//   useEvents((ev) => { ... });                             // every message (hello, vm, task, audit, node)
//   (queries: lib/queries.tsx invalidates the queries of the kinds each event names)
//
// One websocket per tab, opened while any component uses it and closed a little after the last one left
// (page changes keep it). The token goes in the first message, never in the URL. It reconnects with
// exponential backoff (1 s doubling to 30 s, with jitter); every `hello` (the first and each reconnect) makes
// the query layer refetch what the stream covers, since changes made while the stream was down were not seen.
// Polling stays as the fallback: `useQuery` polls at `refreshMs` while the stream is down and much more
// slowly while it is up.

import { useEffect, useRef, useState } from "react";
import { getToken, onSessionChange } from "@/lib/session";

export type StreamStatus = "connecting" | "open" | "closed";

export interface HelloEvent {
  type: "hello";
  time: string;
  role: string;
  token_name: string | null;
  kinds: string[];
  nodes: string[] | null;
  heartbeat_s: number;
}
export interface VmEvent {
  type: "vm";
  time: string;
  node: string;
  name: string;
  uuid: string;
  /** started, stopped, shutdown, crashed, suspended, resumed, defined, undefined, migrated, pmsuspended,
   * device-added, device-removed, metadata-changed */
  event: string;
  reason?: string;
  device?: string;
}
export interface TaskEvent {
  type: "task";
  time: string;
  id: string;
  action: string;
  state: string;
  progress: number | null;
  message?: string | null;
  node?: string;
  resource?: { kind?: string; node?: string; pool?: string; name?: string } | null;
  error?: { code?: string; message?: string };
  created_by?: string | null;
}
export interface AuditEvent {
  type: "audit";
  time: string;
  node?: string;
  action: string;
  outcome: string;
  [key: string]: unknown;
}
export interface NodeEvent {
  type: "node";
  time: string;
  node: string;
  /** added, removed, unreachable, reachable */
  event: string;
  code?: string;
  message?: string;
}
export type JvpEvent = HelloEvent | { type: "heartbeat"; time: string } | VmEvent | TaskEvent | AuditEvent | NodeEvent;
export type EventMatch = (ev: JvpEvent) => boolean;

const FINAL_TASK = new Set(["succeeded", "failed", "cancelled"]);
const LINGER_MS = 5_000; // the socket stays open this long after its last user left (page changes)
const MAX_BACKOFF_MS = 30_000;

// -- the one connection of the tab ------------------------------------------------------------------------
const listeners = new Set<(ev: JvpEvent) => void>();
const statusListeners = new Set<(s: StreamStatus) => void>();
let socket: WebSocket | null = null;
let status: StreamStatus = "closed";
let users = 0;
let attempt = 0;
let retryTimer: number | undefined;
let lingerTimer: number | undefined;
let unwatchSession: (() => void) | null = null;

function setStatus(s: StreamStatus) {
  if (s === status) return;
  status = s;
  statusListeners.forEach((fn) => fn(s));
}

function streamUrl(): string {
  const url = new URL("/ws/events", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function connect() {
  window.clearTimeout(retryTimer);
  retryTimer = undefined;
  const token = getToken();
  if (!token || users === 0) {
    setStatus("closed");
    return;
  }
  let ws: WebSocket;
  try {
    ws = new WebSocket(streamUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  socket = ws;
  setStatus("connecting");
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
  ws.onmessage = (m) => {
    if (socket !== ws) return;
    let ev: JvpEvent;
    try {
      ev = JSON.parse(String(m.data)) as JvpEvent;
    } catch {
      return;
    }
    if (ev.type === "hello") {
      attempt = 0;
      setStatus("open");
    }
    listeners.forEach((fn) => {
      try {
        fn(ev);
      } catch (err) {
        console.error("events listener failed", err);
      }
    });
  };
  ws.onclose = (e) => {
    if (socket !== ws) return;
    socket = null;
    setStatus("closed");
    if (e.code >= 4000) console.info(`events stream closed: ${e.code} ${e.reason}`);
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (users === 0 || retryTimer !== undefined) return;
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt);
  attempt += 1;
  retryTimer = window.setTimeout(connect, base * (0.75 + Math.random() * 0.5));
}

function disconnect() {
  window.clearTimeout(retryTimer);
  retryTimer = undefined;
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000, "page left");
  setStatus("closed");
}

function acquire() {
  users += 1;
  window.clearTimeout(lingerTimer);
  if (!unwatchSession) {
    // a new token (log in as someone else) or none (log out): start over with it
    unwatchSession = onSessionChange(() => {
      disconnect();
      attempt = 0;
      if (users > 0) connect();
    });
  }
  if (!socket && retryTimer === undefined) connect();
}

function release() {
  users -= 1;
  if (users > 0) return;
  window.clearTimeout(lingerTimer);
  lingerTimer = window.setTimeout(() => {
    if (users > 0) return;
    unwatchSession?.();
    unwatchSession = null;
    disconnect();
  }, LINGER_MS);
}

// -- hooks ------------------------------------------------------------------------------------------------
/** Keep the tab's stream open while the calling component is mounted (enabled); its status. */
export function useEventStream(enabled = true): StreamStatus {
  const [s, setS] = useState<StreamStatus>(status);
  useEffect(() => {
    if (!enabled) return;
    statusListeners.add(setS);
    acquire();
    setS(status);
    return () => {
      statusListeners.delete(setS);
      release();
    };
  }, [enabled]);
  return enabled ? s : "closed";
}

/** Call `onEvent` for every message of the stream (null: none, and the stream is not held open). */
export function useEvents(onEvent: ((ev: JvpEvent) => void) | null): StreamStatus {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const enabled = onEvent !== null;
  useEffect(() => {
    if (!enabled) return;
    const fn = (ev: JvpEvent) => handler.current?.(ev);
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  }, [enabled]);
  return useEventStream(enabled);
}

// -- matchers for the pages -------------------------------------------------------------------------------
function taskOn(ev: TaskEvent, kind: string, node?: string, name?: string): boolean {
  const r = ev.resource ?? {};
  return r.kind === kind && (!node || r.node === node) && (!name || r.name === name);
}

/** VM changes (of one node, or one VM), a VM task's end, and a node's reachability (listings show it). */
export function isVmEvent(node?: string, name?: string): EventMatch {
  return (ev) => {
    if (ev.type === "vm") return (!node || ev.node === node) && (!name || ev.name === name);
    if (ev.type === "task") return taskOn(ev, "vm", node, name) && (FINAL_TASK.has(ev.state) || !!name);
    if (ev.type === "node") return !name && (!node || ev.node === node);
    return false;
  };
}

/** Any task's progress or state (optionally of one node). */
export function isTaskEvent(node?: string): EventMatch {
  return (ev) => ev.type === "task" && (!node || ev.node === node);
}

/** A node's own changes and its VMs' starts and stops (the node page's counts). */
export function isNodeEvent(node?: string): EventMatch {
  return (ev) =>
    (ev.type === "node" && (!node || ev.node === node)) ||
    (ev.type === "vm" && (!node || ev.node === node) && ev.event !== "metadata-changed");
}
