"use client";

// The data hooks, on TanStack Query (lib/queries.tsx: the client, the events -> invalidation rules):
//   const q = useQuery("list-nodes", {}, { refreshMs: 10_000 });   // q.data, q.error, q.loading, q.refresh()
//   const v = useQuery("list-vms", {}, { refreshMs: 5_000, live: isVmEvent() });
//   const del = useAction("delete-node");                             // await del.run({ name }), del.error
// The query key is [action, body]: two components asking the same thing share one request and one cache
// entry; a successful change (any `call` that is not a read) and the events stream invalidate what they
// touch, so pages need no polling of their own: `refreshMs` is the fallback while the stream is down.

import { useQuery as useTanstackQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ActionName, ApiError, RequestOf, ResponseOf, asApiError, call } from "@/lib/api";
import { EventMatch, StreamStatus, useEventStream } from "@/lib/events";
import { LIVE_KINDS, kindsOf } from "@/lib/queries";

export interface QueryOptions {
  /** Poll every N ms (not while the tab is hidden). While the events stream is open, a query of a kind the
   * stream reports (VMs, nodes, tasks, audit, snapshots) polls at `liveRefreshMs` (default: 6 x refreshMs,
   * at least 30 s) instead: the stream's events invalidate it. */
  refreshMs?: number;
  /** false: do not fetch (e.g. until a query parameter is known). Default true. */
  enabled?: boolean;
  /** Kept for the pages that pass a matcher: the query reports the stream's status in `live`. Which
   * events refetch it is decided once, by kind, in lib/queries.tsx. */
  live?: EventMatch;
  liveRefreshMs?: number;
}

export interface QueryState<T> {
  data: T | undefined;
  error: ApiError | null;
  /** True until the first answer (success or error) for the current request. */
  loading: boolean;
  /** True while any fetch (first or refresh) is in flight. */
  fetching: boolean;
  /** Time of the last successful answer. */
  updatedAt: Date | null;
  refresh: () => Promise<void>;
  /** The events stream's status for a live query ("closed" for others). */
  live: StreamStatus;
}

export function useQuery<A extends ActionName>(
  action: A,
  body: RequestOf<A>,
  opts: QueryOptions = {},
): QueryState<ResponseOf<A>> {
  const { refreshMs, enabled = true, live, liveRefreshMs } = opts;
  const streamCovers = kindsOf(action).some((k) => LIVE_KINDS.has(k));
  // the stream is held open by the shell; asking for its status does not open a second one
  const status = useEventStream(enabled && streamCovers);
  const pollMs =
    refreshMs && streamCovers && status === "open" ? (liveRefreshMs ?? Math.max(refreshMs * 6, 30_000)) : refreshMs;
  const q = useTanstackQuery<ResponseOf<A>, ApiError>({
    queryKey: [action, body ?? {}],
    queryFn: async ({ signal }) => {
      try {
        return await call(action, body, { signal });
      } catch (err) {
        if (err instanceof DOMException && err.name === "AbortError") throw err;
        throw asApiError(err, action);
      }
    },
    enabled,
    refetchInterval: enabled && pollMs ? pollMs : false,
  });
  const { refetch } = q;
  const refresh = useCallback(async () => {
    await refetch();
  }, [refetch]);
  const updatedAt = useMemo(() => (q.dataUpdatedAt ? new Date(q.dataUpdatedAt) : null), [q.dataUpdatedAt]);
  return {
    data: q.data,
    error: q.error ?? null,
    loading: enabled && q.status === "pending",
    fetching: q.isFetching,
    updatedAt,
    refresh,
    live: live || streamCovers ? status : "closed",
  };
}

export interface ActionState<A extends ActionName> {
  /** Resolves to the response, or to undefined when the call failed (the error is then in `error`). */
  run: (body: RequestOf<A>) => Promise<ResponseOf<A> | undefined>;
  loading: boolean;
  error: ApiError | null;
  reset: () => void;
}

/** One action to run on demand. On success the query layer invalidates the queries of the kinds it
 * touches (lib/queries.tsx: every `call` that is not a read does). */
export function useAction<A extends ActionName>(action: A): ActionState<A> {
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const run = useCallback(
    async (body: RequestOf<A>) => {
      setLoading(true);
      setError(null);
      try {
        return await call(action, body);
      } catch (err) {
        if (mounted.current) setError(asApiError(err, action));
        return undefined;
      } finally {
        if (mounted.current) setLoading(false);
      }
    },
    [action],
  );
  const reset = useCallback(() => setError(null), []);
  return { run, loading, error, reset };
}

/** Re-render every `ms` (0: never), so that texts such as "updated N s ago" stay true. */
export function useTick(ms: number): void {
  const [, setN] = useState(0);
  useEffect(() => {
    if (!ms) return;
    const id = window.setInterval(() => setN((n) => n + 1), ms);
    return () => window.clearInterval(id);
  }, [ms]);
}
