"use client";

// The data layer: one TanStack Query client for the tab, kept fresh by the events stream.
//
// Every query is `[action, body]` (lib/hooks.ts `useQuery`). Each action belongs to resource kinds, read
// from its name (`list-vms` -> vm, `describe-node-vms` -> node + vm, `list-storage-pools` -> storage...).
// Then:
//  - an event of the stream (lib/events.ts) invalidates the queries of the kinds it names: a `vm` event the
//    VM queries of that node/VM and the node queries, a `task` event the task queries (and, when the task
//    ends, its resource's kinds), a `node` event node + VM queries, `audit` the audit log; a `hello` (first
//    connect, each reconnect) everything the stream covers, since changes were missed while it was down;
//  - an action that changes something and succeeds (anything but list/describe/get/check/validate, through
//    `call` from any page) invalidates the kinds it touches;
//  - polling (`refreshMs`) stays only as the fallback: while the stream is open, queries of kinds it covers
//    poll 6 x slower (at least 30 s).
// Invalidations are batched (150 ms) and never abort a fetch in flight (a burst of events must not starve
// a slow listing): a query busy when its invalidation comes is refetched once more after it ends.

import { Query, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ReactNode, useEffect, useState } from "react";
import { onActionDone } from "@/lib/api";
import { JvpEvent, useEvents } from "@/lib/events";

export type Kind =
  | "vm" | "node" | "network" | "storage" | "template" | "snapshot" | "keypair" | "task" | "audit"
  | "metrics" | "token" | "other";

/** Kinds the events stream reports changes of (queries of other kinds only poll). */
export const LIVE_KINDS: ReadonlySet<Kind> = new Set<Kind>(["vm", "node", "task", "audit", "snapshot"]);

const READ_VERBS = new Set(["list", "describe", "get", "check", "validate", "download"]);

/** The resource kinds an action reads or changes, from its name. */
export function kindsOf(action: string): Kind[] {
  const noun = action.slice(action.indexOf("-") + 1);
  const out = new Set<Kind>();
  if (/metrics|usage/.test(noun)) return ["metrics"];
  if (noun === "token" || noun === "tokens") return ["token"];
  if (/snapshot/.test(noun)) out.add("snapshot").add("vm");
  if (/(^|-)vms?($|-)/.test(noun) || /^nic$|^volume$/.test(noun) && /^(attach|detach)/.test(action)) out.add("vm");
  if (/(^|-)media$/.test(noun)) out.add("vm");
  if (/node/.test(noun)) out.add("node");
  if (/network|bridge|interfaces/.test(noun)) out.add("network");
  if (/storage-pool|volume/.test(noun)) out.add("storage");
  if (/template/.test(noun)) out.add("template");
  if (/keypair/.test(noun)) out.add("keypair");
  if (/task/.test(noun)) out.add("task");
  if (/audit/.test(noun)) out.add("audit");
  return out.size ? [...out] : ["other"];
}

/** What a successful change of these kinds may have changed too. */
const TOUCHES: Record<Kind, Kind[]> = {
  vm: ["vm", "node", "snapshot", "storage", "network", "task", "audit"],
  snapshot: ["snapshot", "vm", "template", "storage", "task", "audit"],
  node: ["node", "vm", "network", "storage", "template", "task", "audit"],
  network: ["network", "vm", "audit"],
  storage: ["storage", "template", "vm", "task", "audit"],
  template: ["template", "storage", "vm", "task", "audit"],
  keypair: ["keypair", "audit"],
  task: ["task", "audit"],
  audit: ["audit"],
  metrics: [],
  token: ["token", "audit"],
  other: ["audit"],
};

export function isReadAction(action: string): boolean {
  return READ_VERBS.has(action.slice(0, action.indexOf("-")));
}

type Body = Record<string, unknown>;
const actionOf = (q: Query) => String(q.queryKey[0]);
const bodyOf = (q: Query) => (q.queryKey[1] ?? {}) as Body;

/** A query selected by kinds, optionally narrowed to one node / one resource name (fields of its body). */
function selects(q: Query, kinds: Set<Kind>, node?: string | null, name?: string | null): boolean {
  const action = actionOf(q);
  if (!kindsOf(action).some((k) => kinds.has(k))) return false;
  const body = bodyOf(q);
  if (node && typeof body.node === "string" && body.node && body.node !== node) return false;
  // a describe of another resource of the same kind is not concerned (lists always are)
  if (name && action.startsWith("describe-")) {
    const target = typeof body.vm === "string" ? body.vm : body.name;
    if (typeof target === "string" && target !== name) return false;
  }
  return true;
}

const ALL_LIVE = (q: Query) => kindsOf(actionOf(q)).some((k) => LIVE_KINDS.has(k));

/** Which queries an event makes stale (null: none). */
export function eventSelector(ev: JvpEvent): ((q: Query) => boolean) | null {
  switch (ev.type) {
    case "hello":
      return ALL_LIVE;
    case "vm":
      return (q) =>
        selects(q, new Set<Kind>(["vm", "snapshot"]), ev.node, ev.name) ||
        (kindsOf(actionOf(q)).includes("node") && (!bodyOf(q).name || bodyOf(q).name === ev.node));
    case "node":
      return (q) => selects(q, new Set<Kind>(["node", "vm"]), ev.node);
    case "audit":
      return (q) => kindsOf(actionOf(q)).includes("audit");
    case "task": {
      const ended = ev.state === "succeeded" || ev.state === "failed" || ev.state === "cancelled";
      const r = ev.resource ?? {};
      const resourceKinds = ended && r.kind ? TOUCHES[(kindsOf(`x-${r.kind}`)[0] ?? "other") as Kind] : [];
      return (q) => {
        const action = actionOf(q);
        if (action === "describe-task") return bodyOf(q).id === ev.id;
        if (action === "list-tasks") return true;
        return resourceKinds.length > 0 && selects(q, new Set(resourceKinds), r.node ?? ev.node);
      };
    }
    default:
      return null;
  }
}

// -- batching ---------------------------------------------------------------------------------------------
const BATCH_MS = 150;

class Invalidator {
  private pending: ((q: Query) => boolean)[] = [];
  private waiting = new Set<Query>(); // stale but busy when their turn came: refetched after their fetch
  private timer: number | undefined;

  constructor(private client: QueryClient) {}

  add(select: (q: Query) => boolean) {
    this.pending.push(select);
    if (this.timer === undefined) this.timer = window.setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush() {
    this.timer = undefined;
    const selectors = this.pending;
    this.pending = [];
    const cache = this.client.getQueryCache();
    const chosen = new Set(this.waiting);
    this.waiting.clear();
    for (const q of cache.getAll()) if (selectors.some((s) => s(q))) chosen.add(q);
    for (const q of chosen) {
      if (q.state.fetchStatus === "fetching") {
        this.waiting.add(q);
        continue;
      }
      void this.client.invalidateQueries({ queryKey: q.queryKey, exact: true }, { cancelRefetch: false });
    }
    if (this.waiting.size && this.timer === undefined) {
      this.timer = window.setTimeout(() => this.flush(), BATCH_MS * 2);
    }
  }

  dispose() {
    window.clearTimeout(this.timer);
  }
}

function makeClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: false, // an error shows at once (ErrorBanner has its own Retry)
        refetchOnWindowFocus: false, // the stream and the polling fallback keep data fresh
        staleTime: 2_000,
      },
    },
  });
}

/** The tab's query client and the stream -> invalidation bridge (AppShell mounts it around every page). */
export function QueryProvider({ children, live }: { children: ReactNode; live: boolean }) {
  const [client] = useState(makeClient);
  const [inv] = useState(() => (typeof window === "undefined" ? null : new Invalidator(client)));
  useEffect(() => () => inv?.dispose(), [inv]);
  useEffect(
    () =>
      onActionDone((action) => {
        if (isReadAction(action)) return;
        const touched = new Set<Kind>(kindsOf(action).flatMap((k) => TOUCHES[k]));
        inv?.add((q) => kindsOf(actionOf(q)).some((k) => touched.has(k)));
      }),
    [inv],
  );
  useEvents(
    live
      ? (ev) => {
          const sel = eventSelector(ev);
          if (sel) inv?.add(sel);
        }
      : null,
  );
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}
