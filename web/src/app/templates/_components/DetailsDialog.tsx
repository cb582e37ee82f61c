"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { formatAgo, formatBytes, formatTime, show } from "@/lib/format";
import { ErrorBanner } from "@/components/ErrorBanner";
import { LoadingBlock } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import { Alert } from "@/components/ErrorBanner";
import { StateBadge } from "@/components/StateBadge";
import { Template, osText } from "./templateUtil";

type HistoryEntry = {
  at: string;
  event: string;
  outcome: string;
  by?: string | null;
  task?: string | null;
  vm?: string | null;
  old?: { volume?: string | null; version?: number | null; checksum?: string | null; size?: number | null } | null;
  new?: { volume?: string | null; version?: number | null; checksum?: string | null; size?: number | null } | null;
  message?: string;
};

function imageText(i: HistoryEntry["old"]): string {
  if (!i || !i.volume) return "—";
  return `${i.volume}${i.size != null ? `, ${formatBytes(i.size)}` : ""}${i.checksum ? `, ${i.checksum.slice(0, 19)}…` : ""}`;
}

/** list-template-history: what happened to the image, newest first. */
function History({ node, name, reload, testId }: { node: string; name: string; reload: number; testId: string }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let stopped = false;
    call("list-template-history", { node, name, limit: 50 })
      .then((res) => !stopped && setEntries(res.entries as HistoryEntry[]))
      .catch((err) => !stopped && setError(asApiError(err, "list-template-history")));
    return () => {
      stopped = true;
    };
  }, [node, name, reload]);
  return (
    <>
      <div className="section-title" style={{ marginTop: 16 }}>History</div>
      <ErrorBanner error={error} title="Could not read the history" testId={`${testId}-history-error`} />
      {entries && entries.length === 0 && <div className="muted" data-testid={`${testId}-history-empty`}>Nothing recorded yet.</div>}
      {entries && entries.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid={`${testId}-history`}>
            <thead><tr><th>When</th><th>Event</th><th>Outcome</th><th>By</th><th>Image before → after</th><th>Message</th></tr></thead>
            <tbody>
              {entries.map((e, i) => (
                <tr key={`${e.at}-${i}`} data-testid={`${testId}-history-entry`} data-event={e.event} data-outcome={e.outcome}>
                  <td className="small">{formatTime(e.at)}</td>
                  <td>{e.event}{e.vm ? ` ${e.vm}` : ""}</td>
                  <td>{e.outcome}</td>
                  <td className="small">{e.by ?? "—"}</td>
                  <td className="mono small">{imageText(e.old)}{e.new ? ` → ${imageText(e.new)}` : ""}</td>
                  <td className="small">{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** describe-template: the image, its source and checksums, the VMs and volumes built from it (computed from
 * the node right now) and the old images still kept for the volumes on them. */
export function DetailsDialog({ template, onClose, onRebuild, onVerify, reload = 0 }: {
  template: Template | null;
  onClose: () => void;
  /** Opens the Rebuild VMs confirmation with the described template (its affected VMs). */
  onRebuild?: (t: Template) => void;
  onVerify?: (t: Template) => void;
  reload?: number;
}) {
  const [detail, setDetail] = useState<Template | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    setDetail(null);
    setError(null);
    if (!template) return;
    let stopped = false;
    call("describe-template", { node: template.node, name: template.name })
      .then((res) => !stopped && setDetail(res.template))
      .catch((err) => !stopped && setError(asApiError(err, "describe-template")));
    return () => {
      stopped = true;
    };
  }, [template, reload]);

  const testId = "template-details";
  const t = detail;
  const vms = t?.usage.vms ?? [];
  const volumes = t?.usage.volumes ?? [];
  return (
    <Modal
      open={!!template}
      title={template ? `Template ${template.name}` : ""}
      onClose={onClose}
      testId={testId}
      wide
      footer={<button type="button" className="btn" onClick={onClose} data-testid={`${testId}-close`}>Close</button>}
    >
      <ErrorBanner error={error} title="Could not describe the template" testId={`${testId}-error`} />
      {!t && !error && <LoadingBlock testId={`${testId}-loading`}>Asking the node…</LoadingBlock>}
      {t && (
        <div data-testid={`${testId}-body`}>
          {t.state === "broken" && (
            <Alert tone="danger" title="The image is broken" testId={`${testId}-broken`}>
              {t.integrity?.reason ?? "Its image is missing or changed."} New VMs and rebuilds are refused until Verify
              image finds the recorded checksum again.
              {onVerify && (
                <div style={{ marginTop: 8 }}>
                  <button type="button" className="btn btn-sm" onClick={() => onVerify(t)} data-testid={`${testId}-verify`}>Verify image</button>
                </div>
              )}
            </Alert>
          )}
          <dl className="kv">
            <dt>State</dt>
            <dd><StateBadge state={t.state} testId={`${testId}-state`} /></dd>
            <dt>Node / pool</dt>
            <dd>{t.node} / {t.pool}</dd>
            <dt>Image</dt>
            <dd className="mono" data-testid={`${testId}-image`}>{t.storage.template_pool}/{t.storage.volume}</dd>
            <dt>Path</dt>
            <dd className="mono small">{t.storage.path}</dd>
            <dt>Format / size</dt>
            <dd>{t.storage.format}, {formatBytes(t.storage.virtual_size)} virtual, file {formatBytes(t.storage.size)}, version {t.storage.version}</dd>
            <dt>OS</dt>
            <dd>{osText(t)}{t.os.kernel ? ` (kernel ${t.os.kernel})` : ""}</dd>
            <dt>Features</dt>
            <dd>
              {[t.features.cloud_init && "cloud-init", t.features.virtio && "virtio", t.features.qemu_guest_agent && "guest agent"]
                .filter(Boolean).join(", ") || "—"}
            </dd>
            <dt>Source</dt>
            <dd data-testid={`${testId}-source`}>
              <span className="badge badge-neutral">{t.source.type}</span>{" "}
              <span className="mono small">
                {t.source.url ?? t.source.path ?? (t.source.volume ? `${t.source.pool ?? ""}/${t.source.volume}` : null) ??
                  (t.source.vm ? `${t.source.vm}@${t.source.snapshot ?? ""}` : "")}
              </span>
            </dd>
            {t.source.checksum_url && (<><dt>Checksum file</dt><dd className="mono small">{t.source.checksum_url}</dd></>)}
            <dt>Checksum</dt>
            <dd className="mono small" data-testid={`${testId}-checksum`}>
              {show(t.source.checksum)}
              {t.source.verified_checksum && <div data-testid={`${testId}-verified-checksum`}>verified with {t.source.verified_checksum}</div>}
              {t.source.verified === false && <div className="muted">not verified (no checksum was given or published)</div>}
            </dd>
            <dt>Registered</dt>
            <dd>{formatTime(t.created_at)}{t.source.fetched_at && t.source.fetched_at !== t.created_at ? `, image fetched ${formatTime(t.source.fetched_at)}` : ""}</dd>
            <dt>Last used</dt>
            <dd>{t.usage.last_used ? formatAgo(t.usage.last_used) : "never"}</dd>
            {t.update_check && (
              <>
                <dt>Update check</dt>
                <dd>
                  {formatTime(t.update_check.checked_at)}:{" "}
                  {t.update_check.update_available == null ? "cannot tell" : t.update_check.update_available ? "a newer image is available" : "up to date"}
                </dd>
              </>
            )}
            {t.description && (<><dt>Description</dt><dd>{t.description}</dd></>)}
          </dl>

          <div className="section-title split" style={{ marginTop: 16, justifyContent: "space-between" }}>
            <span data-testid={`${testId}-affected-title`}>Affected VMs: built from this template ({t.usage.vm_count == null ? "node not answering" : `${t.usage.vm_count} VM${t.usage.vm_count === 1 ? "" : "s"}`})</span>
            {onRebuild && vms.length > 0 && (
              <button type="button" className="btn btn-sm btn-danger" onClick={() => onRebuild(t)} disabled={t.state === "broken"}
                      title="Give these VMs a fresh system disk from the template's current image" data-testid={`${testId}-rebuild`}>
                Rebuild VMs…
              </button>
            )}
          </div>
          {vms.length === 0 && volumes.length === 0 ? (
            <div className="muted" data-testid={`${testId}-unused`}>
              {t.usage.vm_count == null ? "The node could not be asked." : "No VM or volume uses it."}
            </div>
          ) : (
            <>
              {vms.length > 0 && (
                <table className="table" data-testid={`${testId}-vms`}>
                  <thead><tr><th>VM</th><th>State</th><th>Disks on the template</th><th>Created</th></tr></thead>
                  <tbody>
                    {vms.map((v) => (
                      <tr key={v.name} data-testid={`${testId}-vm`} data-name={v.name}>
                        <td>{v.name}</td>
                        <td>{v.running ? "running" : "not running"}</td>
                        <td className="mono small">{v.disks.length ? v.disks.join(", ") : v.by_metadata ? "(named by its metadata)" : "—"}</td>
                        <td>{formatTime(v.created_at)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {volumes.length > 0 && (
                <table className="table" data-testid={`${testId}-volumes`} style={{ marginTop: 8 }}>
                  <thead><tr><th>Volume</th><th>Backed by</th></tr></thead>
                  <tbody>
                    {volumes.map((v) => (
                      <tr key={`${v.pool}/${v.name}`} data-testid={`${testId}-volume`}>
                        <td className="mono">{v.pool}/{v.name}</td>
                        <td className="mono small">{v.base.split("/").pop()}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          )}

          {t.previous.length > 0 && (
            <>
              <div className="section-title" style={{ marginTop: 16 }}>Old images kept</div>
              <table className="table" data-testid={`${testId}-previous`}>
                <thead><tr><th>Image</th><th>Replaced</th><th>Still backing</th></tr></thead>
                <tbody>
                  {t.previous.map((p) => (
                    <tr key={p.volume} data-testid={`${testId}-previous-image`}>
                      <td className="mono">{p.volume} (v{p.version})</td>
                      <td>{formatTime(p.replaced_at)}</td>
                      <td className="mono small">{(p.dependents ?? []).join(", ") || "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div className="small muted" style={{ marginTop: 6 }}>
                An old image is removed once nothing is backed by it (checked when a VM is deleted, and at each update check).
              </div>
            </>
          )}
          <History node={t.node} name={t.name} reload={reload} testId={testId} />
        </div>
      )}
    </Modal>
  );
}
