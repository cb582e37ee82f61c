"use client";

import { ReactNode, useEffect, useRef } from "react";
import { QueryState, useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { freeText } from "../../storage/_components/storageUtil";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";

// Pool and volume pickers (list-storage-pools / list-volumes of one node), for the create wizard and the
// VM page's attach and media dialogs.

/** A listing can fail for a moment (a pool stopped or removed while libvirt lists them): try again a few
 * times, 2 s apart, before leaving the error on screen (with its Retry button). */
function useRetryOnError<T>(q: QueryState<T>, times = 3): void {
  const tries = useRef(0);
  useEffect(() => {
    if (!q.error) {
      if (q.data) tries.current = 0;
      return;
    }
    if (tries.current >= times) return;
    tries.current += 1;
    const id = window.setTimeout(() => void q.refresh(), 2000);
    return () => window.clearTimeout(id);
  }, [q.error, q.data]); // eslint-disable-line react-hooks/exhaustive-deps
}

export function PoolSelect({ id, node, value, onChange, error, label = "Storage pool", hint }: {
  id: string;
  node: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  label?: string;
  hint?: ReactNode;
}) {
  const pools = useQuery("list-storage-pools", { node });
  useRetryOnError(pools);
  const active = pools.data?.pools.filter((p) => p.active) ?? [];
  useEffect(() => {
    // Preselect: "default" when it exists, else the only active pool.
    if (value || !pools.data) return;
    const pick = active.find((p) => p.name === "default") ?? (active.length === 1 ? active[0] : undefined);
    if (pick) onChange(pick.name);
  }, [pools.data]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <>
      <ErrorBanner error={pools.error} title="Could not list the storage pools" onRetry={() => void pools.refresh()} testId={`${id}-list-error`} />
      <Field label={label} name={id} required error={error} hint={hint}>
        <Select id={id} value={value} onChange={(e) => onChange(e.target.value)} data-testid={id}>
          <option value="">{pools.loading ? "Loading…" : active.length ? "Choose a pool" : "No active pool"}</option>
          {active.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name} ({p.type}, {freeText(p)} free)
            </option>
          ))}
        </Select>
      </Field>
    </>
  );
}

export function VolumeSelect({ id, node, pool, value, onChange, error, label, hint, preferIso, disableUsed }: {
  id: string;
  node: string;
  pool: string;
  value: string;
  onChange: (v: string, capacity: number | null) => void;
  error?: string;
  label: string;
  hint?: ReactNode;
  preferIso?: boolean;
  /** Volumes attached to a VM cannot be picked (the server would refuse them with VolumeInUse). */
  disableUsed?: boolean;
}) {
  const vols = useQuery("list-volumes", { node, pool }, { enabled: !!pool });
  useRetryOnError(vols);
  let list = vols.data?.volumes ?? [];
  if (preferIso) list = [...list].sort((a, b) => Number(isIso(b)) - Number(isIso(a)) || a.name.localeCompare(b.name));
  return (
    <>
      <ErrorBanner error={vols.error} title="Could not list the volumes" onRetry={() => void vols.refresh()} testId={`${id}-list-error`} />
      <Field label={label} name={id} required error={error} hint={hint}>
        <Select
          id={id}
          value={value}
          disabled={!pool}
          onChange={(e) => {
            const v = list.find((x) => x.name === e.target.value);
            onChange(e.target.value, v?.capacity_bytes ?? null);
          }}
          data-testid={id}
        >
          <option value="">{!pool ? "Choose a pool first" : vols.loading ? "Loading…" : list.length ? "Choose a volume" : "No volume in this pool"}</option>
          {list.map((v) => (
            <option key={v.name} value={v.name} disabled={disableUsed && !!v.used_by?.length}>
              {v.name} ({v.format ?? "?"}, {formatBytes(v.capacity_bytes)}){v.used_by?.length ? ` — used by ${v.used_by.join(", ")}` : ""}
            </option>
          ))}
        </Select>
      </Field>
    </>
  );
}

export function isIso(v: { name: string; format?: string | null }): boolean {
  return v.format === "iso" || v.name.toLowerCase().endsWith(".iso");
}

