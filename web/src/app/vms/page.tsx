"use client";

import Link from "next/link";
import { Suspense, useEffect, useMemo, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { isVmEvent } from "@/lib/events";
import { formatMiB, show } from "@/lib/format";
import { Column, actionsColumn } from "@/components/DataTable";
import { Field, Select, TextInput, Options } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { ListPage } from "@/components/ListPage";
import { LoadingBlock } from "@/components/Loading";
import { StateBadge } from "@/components/StateBadge";
import { BulkBar } from "./_components/BulkBar";
import { RowActions } from "./_components/PowerButtons";
import { useVmOps, vmKey } from "./_components/useVmOps";
import { VM_STATES, VmSummary, stateReasonText, vmHref, vmsHref } from "./_components/vmUtil";
import { ProblemsBadge } from "./_components/Problems";
import { MemoryUsed, indexUsage, usageColumns } from "./_components/usage";
import { useMetrics } from "@/lib/metrics";
import { ErrorBanner } from "@/components/ErrorBanner";

const REFRESH_MS = 5_000;


function Ips({ ips }: { ips: string[] }) {
  if (!ips.length) return <span className="muted">—</span>;
  return (
    <div className="mono small" data-testid="vm-ips">
      {ips.map((ip) => (
        <div key={ip}>{ip}</div>
      ))}
    </div>
  );
}

function VmsPage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") ?? "";
  const state = params.get("state") ?? "";
  const label = params.get("label") ?? "";
  const [labelDraft, setLabelDraft] = useState(label);
  useEffect(() => setLabelDraft(label), [label]);
  const go = (next: { node?: string; state?: string; label?: string }) =>
    router.replace(vmsHref({ node, state, label, ...next }));

  const body = {
    ...(node ? { node } : {}),
    ...(state ? { state: state as (typeof VM_STATES)[number] } : {}),
    ...(label ? { label } : {}),
  };
  const q = useQuery("list-vms", body, { refreshMs: REFRESH_MS, live: isVmEvent(node || undefined) });
  // The latest sample of every VM (the collector samples every 10 s by default).
  const usage = useMetrics("list-vm-usage", node ? { node } : {}, { refreshMs: 10_000 });
  const usageIndex = useMemo(() => indexUsage(usage.data?.vms), [usage.data]);
  const nodes = useQuery("list-nodes", {});
  const ops = useVmOps({ onChanged: () => void q.refresh() });
  const [selected, setSelected] = useState<Set<string>>(new Set());

  const vms = q.data?.vms;
  // Drop selections of VMs that are gone (deleted, filtered out).
  useEffect(() => {
    if (!vms) return;
    const present = new Set(vms.map(vmKey));
    setSelected((s) => {
      const kept = new Set([...s].filter((k) => present.has(k)));
      return kept.size === s.size ? s : kept;
    });
  }, [vms]);
  const selectedVms = useMemo(() => (vms ?? []).filter((v) => selected.has(vmKey(v))), [vms, selected]);
  const allSelected = !!vms?.length && selectedVms.length === vms.length;
  const toggle = (key: string, on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(key);
      else n.delete(key);
      return n;
    });

  const columns: Column<VmSummary>[] = [
    {
      key: "select",
      header: (
        <input
          type="checkbox"
          aria-label="Select all VMs"
          checked={allSelected}
          ref={(el) => {
            if (el) el.indeterminate = selectedVms.length > 0 && !allSelected;
          }}
          onChange={(e) => setSelected(e.target.checked ? new Set((vms ?? []).map(vmKey)) : new Set())}
          data-testid="vm-select-all"
        />
      ),
      sortable: false,
      width: 32,
      render: (v) => (
        <input
          type="checkbox"
          aria-label={`Select ${v.name}`}
          checked={selected.has(vmKey(v))}
          onChange={(e) => toggle(vmKey(v), e.target.checked)}
          data-testid="vm-select"
        />
      ),
    },
    {
      key: "name",
      header: "Name",
      render: (v) => (
        <div>
          <Link href={vmHref(v.node, v.name)} className="cell-main" data-testid="vm-link">
            {v.name}
          </Link>
          <ProblemsBadge problems={v.problems} />
          {/* on a phone the State column is off to the side: the name carries the state too */}
          <div className="phone-only">
            <StateBadge state={v.state} testId="vm-state-inline" />
          </div>
          {v.template && (
            <div className="cell-sub">
              from <span data-testid="vm-template">{v.template}</span>
            </div>
          )}
          {v.description && <div className="cell-sub">{v.description}</div>}
          {Object.keys(v.labels ?? {}).length > 0 && (
            <div className="chips" style={{ marginTop: 4 }}>
              {Object.entries(v.labels ?? {}).map(([k, val]) => (
                <button
                  type="button"
                  key={k}
                  className="chip"
                  style={{ cursor: "pointer" }}
                  title="Filter by this label"
                  onClick={() => go({ label: `${k}=${val}` })}
                >
                  {k}={val}
                </button>
              ))}
            </div>
          )}
        </div>
      ),
    },
    {
      key: "state",
      header: "State",
      render: (v) => (
        <div>
          <StateBadge state={v.state} testId="vm-state" />
          {stateReasonText(v.state_reason) && (
            <div className="cell-sub" data-testid="vm-state-reason">
              {stateReasonText(v.state_reason)}
            </div>
          )}
        </div>
      ),
    },
    { key: "node", header: "Node", render: (v) => <span data-testid="vm-node">{v.node}</span> },
    {
      key: "memory_mib",
      header: "Size",
      align: "num",
      render: (v) => (
        <div>
          <span style={{ whiteSpace: "nowrap" }}>
            <span data-testid="vm-vcpus">{show(v.vcpus)}</span> vCPU ·{" "}
            <span data-testid="vm-memory" title={v.max_memory_mib != null ? `current ${formatMiB(v.memory_mib)}, maximum ${formatMiB(v.max_memory_mib)}` : undefined}>
              {formatMiB(v.memory_mib)}
            </span>
          </span>
          <MemoryUsed vm={v} usage={usageIndex} />
        </div>
      ),
    },
    ...usageColumns(usageIndex),
    { key: "ips", header: "IPs", sortValue: (v) => v.ips[0], render: (v) => <Ips ips={v.ips} /> },
    actionsColumn((v) => <RowActions vm={v} ops={ops} />),
  ];

  const nodeNames = nodes.data?.nodes.map((n) => n.name) ?? [];
  const running = vms?.filter((v) => v.state === "running").length ?? 0;
  const filtered = !!(node || state || label);

  return (
    <ListPage
      title="Virtual machines"
      subtitle={`VMs of ${node ? `node ${node}` : "every node"}. ${q.live === "open" ? "The list follows changes as they happen." : `The list refreshes every ${REFRESH_MS / 1000} seconds.`}`}
      actions={
        <Link href={node ? `/vms/create/?node=${encodeURIComponent(node)}` : "/vms/create/"} className="btn btn-primary" data-testid="create-vm">
          <Icon name="plus" size={15} /> Create VM
        </Link>
      }
      query={q}
      testId="vms"
      errorTitle="Could not list the VMs"
      refresh="header"
      partial={{ title: "Some nodes did not answer; their VMs are missing below", errors: q.data?.errors, testId: "vms-node-errors", itemTestId: "vms-node-error" }}
      notices={
        <>
          {ops.ui}
          <ErrorBanner error={usage.error} title="Could not read the VMs' usage (the usage columns show —)" onRetry={() => void usage.refresh()} testId="vms-usage-error" />
        </>
      }
      count={{ noun: "VM", fallback: "VMs" }}
      summary={vms ? <span className="muted small" data-testid="vms-running">{running} running</span> : undefined}
      toolbar={
        <>
          <div className="table-toolbar">
            <form
              className="filters"
              onSubmit={(e) => {
                e.preventDefault();
                go({ label: labelDraft.trim() });
              }}
            >
              <Field label="Node" name="vms-filter-node">
                <Select id="vms-filter-node" className="select select-sm" value={node} onChange={(e) => go({ node: e.target.value })} data-testid="vms-filter-node">
                  <option value="">All nodes</option>
                  <Options values={(node && !nodeNames.includes(node) ? [node, ...nodeNames] : nodeNames)} />
                </Select>
              </Field>
              <Field label="State" name="vms-filter-state">
                <Select id="vms-filter-state" className="select select-sm" value={state} onChange={(e) => go({ state: e.target.value })} data-testid="vms-filter-state">
                  <option value="">Any state</option>
                  <Options values={VM_STATES} />
                </Select>
              </Field>
              <Field label="Label" name="vms-filter-label">
                <TextInput
                  id="vms-filter-label"
                  className="input input-sm"
                  placeholder="key or key=value"
                  value={labelDraft}
                  onChange={(e) => setLabelDraft(e.target.value)}
                  onBlur={() => labelDraft.trim() !== label && go({ label: labelDraft.trim() })}
                  data-testid="vms-filter-label"
                />
              </Field>
              {filtered && (
                <button type="button" className="btn btn-sm btn-ghost" onClick={() => router.replace("/vms/")} data-testid="vms-filter-clear">
                  Clear filters
                </button>
              )}
            </form>
          </div>
          <BulkBar selected={selectedVms} onDone={() => void q.refresh()} onClear={() => setSelected(new Set())} />
        </>
      }
      table={{ columns, rows: vms, rowKey: vmKey, rowTestId: "vm-row", initialSort: { key: "name", dir: "asc" } }}
      empty={
        filtered
          ? { title: "No VM matches the filters" }
          : {
              title: "No VMs yet",
              hint: "Create one from a cloud image volume, or from a blank disk and an install ISO.",
              action: (
                <Link href="/vms/create/" className="btn btn-primary">
                  <Icon name="plus" size={15} /> Create VM
                </Link>
              ),
            }
      }
    />
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <VmsPage />
    </Suspense>
  );
}
