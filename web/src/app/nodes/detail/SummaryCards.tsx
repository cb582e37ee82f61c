"use client";

import type { ReactNode } from "react";
import type { Schema } from "@/lib/api";
import { formatBytes, formatNumber, show } from "@/lib/format";
import { CapacityBar } from "@/components/CapacityBar";
import { DataTable } from "@/components/DataTable";
import { Card } from "@/components/PageHeader";

type Summary = Schema<"NodeSummary">;

function plural(n: number | null | undefined, word: string): string {
  return n == null ? `— ${word}s` : `${n} ${word}${n === 1 ? "" : "s"}`;
}

function YesNo({ v, unknown = "—" }: { v: boolean | null | undefined; unknown?: string }) {
  if (v === null || v === undefined) return <span className="muted">{unknown}</span>;
  return <span className={v ? "yes" : "no"}>{v ? "yes" : "no"}</span>;
}

/** The describe-node-summary figures: CPU, memory, virtualization, NUMA cells and huge pages. Every
 * figure is libvirt's; what it did not report is "—". */
export function SummaryCards({ s, leading }: { s: Summary | undefined; leading?: ReactNode }) {
  if (!s) return <div className="cards cards-fill">{leading}</div>;
  const { cpu, memory: mem, virtualization: virt } = s;
  const topology =
    cpu.sockets == null && cpu.cores == null && cpu.threads == null
      ? "—"
      : `${plural(cpu.sockets, "socket")} × ${plural(cpu.cores, "core")} × ${plural(cpu.threads, "thread")}${cpu.dies && cpu.dies > 1 ? ` (${cpu.dies} dies)` : ""}`;
  const flags = cpu.flags ?? [];
  return (
    <>
      <div className="cards" data-testid="summary-cards">
        {leading}
        <Card title="CPU" testId="card-cpu">
          <div className="stat-row">
            <div className="stat">
              <div className="stat-label">Logical CPUs</div>
              <div className="stat-value" data-testid="cpu-count">{show(cpu.count)}</div>
            </div>
            <div className="stat">
              <div className="stat-label">Frequency</div>
              <div className="stat-value">{cpu.mhz == null ? "—" : `${formatNumber(cpu.mhz)} MHz`}</div>
            </div>
          </div>
          <dl className="kv">
            <dt>Model</dt>
            <dd data-testid="cpu-model">{show(cpu.model)}</dd>
            <dt>Vendor</dt>
            <dd data-testid="cpu-vendor">{show(cpu.vendor)}</dd>
            <dt>Architecture</dt>
            <dd>{show(cpu.arch)}</dd>
            <dt>Topology</dt>
            <dd>{topology}</dd>
          </dl>
          {flags.length > 0 ? (
            <details className="flags" data-testid="cpu-flags">
              <summary>{flags.length} CPU flags</summary>
              <div className="chips">
                {flags.map((f) => (
                  <span className="chip" key={f}>
                    {f}
                  </span>
                ))}
              </div>
            </details>
          ) : (
            <div className="muted small" style={{ marginTop: 8 }}>
              No CPU flags reported.
            </div>
          )}
        </Card>
        <Card title="Memory" testId="card-memory">
          <div style={{ marginBottom: 14 }}>
            <CapacityBar used={mem.used_bytes} total={mem.total_bytes} label="Used" testId="memory-bar" />
          </div>
          <dl className="kv">
            <dt>Total</dt>
            <dd data-testid="memory-total">{formatBytes(mem.total_bytes)}</dd>
            <dt>Used</dt>
            <dd data-testid="memory-used">{formatBytes(mem.used_bytes)}</dd>
            <dt>Free</dt>
            <dd data-testid="memory-free">{formatBytes(mem.free_bytes)}</dd>
            <dt>Buffers</dt>
            <dd>{formatBytes(mem.buffers_bytes)}</dd>
            <dt>Cached</dt>
            <dd>{formatBytes(mem.cached_bytes)}</dd>
          </dl>
          <div className="muted small" style={{ marginTop: 10 }}>
            Used = total − free − buffers − cached.
          </div>
        </Card>
        <Card title="Virtualization" testId="card-virt">
          <dl className="kv">
            <dt>KVM available</dt>
            <dd data-testid="virt-kvm-available">
              <YesNo v={virt.kvm_available} />
            </dd>
            <dt>KVM usable</dt>
            <dd data-testid="virt-kvm-usable">
              <YesNo v={virt.kvm_usable} unknown="not probed yet" />
            </dd>
            <dt>Nested</dt>
            <dd>
              <YesNo v={virt.nested} />
            </dd>
            <dt>IOMMU</dt>
            <dd>
              <YesNo v={virt.iommu} />
            </dd>
            <dt>Domain types</dt>
            <dd>
              {(virt.domain_types ?? []).length ? (
                <div className="chips">
                  {virt.domain_types!.map((t) => (
                    <span className="chip" key={t}>
                      {t}
                    </span>
                  ))}
                </div>
              ) : (
                "—"
              )}
            </dd>
          </dl>
          <div className="muted small" style={{ marginTop: 10 }}>
            “KVM usable” is known once a KVM guest has really been started on this node.
          </div>
        </Card>
      </div>
      <div className="cards">
        <Card title={`NUMA cells (${s.numa.length})`} bodyless testId="card-numa">
          <DataTable
            testId="numa-table"
            rowKey={(c) => String(c.id)}
            rows={s.numa}
            empty="libvirt reports no NUMA topology"
            columns={[
              { key: "id", header: "Cell", align: "num" },
              { key: "cpus", header: "CPUs", sortable: false, render: (c) => (c.cpus?.length ? compactRanges(c.cpus) : "—") },
              { key: "memory_bytes", header: "Memory", align: "num", render: (c) => formatBytes(c.memory_bytes) },
              { key: "free_memory_bytes", header: "Free", align: "num", render: (c) => formatBytes(c.free_memory_bytes) },
              {
                key: "distances",
                header: "Distances",
                sortable: false,
                render: (c) => {
                  const d = Object.entries(c.distances ?? {});
                  return d.length ? <span className="mono">{d.map(([k, v]) => `${k}:${v}`).join("  ")}</span> : "—";
                },
              },
            ]}
          />
        </Card>
        <Card title="Huge pages" bodyless testId="card-hugepages">
          <DataTable
            testId="hugepages-table"
            rowKey={(h) => String(h.size_kib)}
            rows={s.hugepages}
            empty="No huge page sizes reported"
            columns={[
              { key: "size_kib", header: "Page size", align: "num", render: (h) => formatBytes(h.size_kib * 1024, 0) },
              { key: "total", header: "Total pages", align: "num", render: (h) => formatNumber(h.total) },
              { key: "free", header: "Free pages", align: "num", render: (h) => formatNumber(h.free) },
              {
                key: "bytes",
                header: "Reserved",
                align: "num",
                sortValue: (h) => (h.total == null ? null : h.total * h.size_kib),
                render: (h) => (h.total == null ? "—" : formatBytes(h.total * h.size_kib * 1024)),
              },
            ]}
          />
        </Card>
      </div>
    </>
  );
}

/** [0,1,2,3,8,9] -> "0-3, 8-9". */
export function compactRanges(ids: number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const out: string[] = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (const id of sorted.slice(1).concat([NaN])) {
    if (id === prev + 1) {
      prev = id;
      continue;
    }
    out.push(start === prev ? String(start) : `${start}-${prev}`);
    start = id;
    prev = id;
  }
  return out.join(", ");
}
