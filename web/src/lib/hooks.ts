"use client";

// Small data hooks on top of `call` (no data-fetching library needed):
//   const q = useQuery("list-nodes", {}, { refreshMs: 10_000 });   // q.data, q.error, q.loading, q.refresh()
//   const v = useQuery("list-vms", {}, { refreshMs: 5_000, live: isVmEvent() });  // + refetch on events
//   const del = useAction("delete-node");                             // await del.run({ name }), del.error

import { useCallback, useEffect, useRef, useState } from "react";
import { ActionName, ApiError, RequestOf, ResponseOf, asApiError, call } from "@/lib/api";
import { EventMatch, StreamStatus, useLiveRefresh } from "@/lib/events";

export interface QueryOptions {
  /** Re-fetch every N ms (skipped while a fetch is in flight or the tab is hidden). */
  refreshMs?: number;
  /** false: do not fetch (e.g. until a query parameter is known). Default true. */
  enabled?: boolean;
  /** Refetch when a message of the events stream matches (lib/events.ts); while the stream is open,
   * polling slows to `liveRefreshMs` (default: 6 x refreshMs, at least 30 s) and stays the fallback. */
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
  const key = `${action} ${JSON.stringify(body ?? {})}`;
  const [data, setData] = useState<ResponseOf<A> | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState<boolean>(enabled);
  const [fetching, setFetching] = useState(false);
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const inflight = useRef<AbortController | null>(null);
  const again = useRef<(() => void) | null>(null); // an event came during a fetch: fetch once more after it
  const bodyRef = useRef(body);
  bodyRef.current = body;

  const run = useCallback(async () => {
    inflight.current?.abort();
    const ctrl = new AbortController();
    inflight.current = ctrl;
    setFetching(true);
    try {
      const res = await call(action, bodyRef.current, { signal: ctrl.signal });
      if (ctrl.signal.aborted) return;
      setData(res);
      setError(null);
      setUpdatedAt(new Date());
    } catch (err) {
      if (ctrl.signal.aborted) return;
      setError(asApiError(err, action));
    } finally {
      if (inflight.current === ctrl) {
        inflight.current = null;
        setFetching(false);
        setLoading(false);
        const next = again.current;
        again.current = null;
        next?.();
      }
    }
    // `key` stands for action + body: a new body means a new query.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    if (!enabled) {
      setLoading(false);
      return;
    }
    setLoading(true);
    setData(undefined);
    setError(null);
    void run();
    return () => inflight.current?.abort();
  }, [run, enabled]);

  // An event during a fetch does not abort it (a burst of events would starve a slow listing): one more
  // fetch follows when it ends.
  const liveStatus = useLiveRefresh(() => {
    if (inflight.current) again.current = () => void run();
    else void run();
  }, enabled && live ? live : null);
  const pollMs =
    refreshMs && live && liveStatus === "open" ? (liveRefreshMs ?? Math.max(refreshMs * 6, 30_000)) : refreshMs;

  useEffect(() => {
    if (!enabled || !pollMs) return;
    const id = window.setInterval(() => {
      if (inflight.current || document.visibilityState === "hidden") return;
      void run();
    }, pollMs);
    return () => window.clearInterval(id);
  }, [run, enabled, pollMs]);

  return { data, error, loading, fetching, updatedAt, refresh: run, live: liveStatus };
}

export interface ActionState<A extends ActionName> {
  /** Resolves to the response, or to undefined when the call failed (the error is then in `error`). */
  run: (body: RequestOf<A>) => Promise<ResponseOf<A> | undefined>;
  loading: boolean;
  error: ApiError | null;
  reset: () => void;
}

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
