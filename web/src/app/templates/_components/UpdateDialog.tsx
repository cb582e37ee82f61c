"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { formatBytes, formatTime, show } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { LoadingBlock, Spinner } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import type { Task } from "@/components/TaskProgress";
import type { Template, UpdateCheck } from "./templateUtil";

function change(field: string, v: unknown): string {
  if (field === "length" && typeof v === "number") return formatBytes(v);
  return show(v);
}

/** check-template-update (asks the source, downloads nothing), shows what changed and which VMs and
 * volumes are built from the template, and only on a second, explicit confirmation starts
 * update-template-image. */
export function UpdateDialog({ template, onClose, onStarted }: {
  template: Template | null;
  onClose: () => void;
  onStarted: (task: Task) => void;
}) {
  const [check, setCheck] = useState<UpdateCheck | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setCheck(null);
    setError(null);
    setConfirming(false);
    if (!template) return;
    let stopped = false;
    call("check-template-update", { node: template.node, name: template.name })
      .then((res) => !stopped && setCheck(res))
      .catch((err) => !stopped && setError(asApiError(err, "check-template-update")));
    return () => {
      stopped = true;
    };
  }, [template]);

  const update = async () => {
    if (!template || !check) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("update-template-image", { node: template.node, name: template.name,
                                                         force: check.update_available !== true });
      onStarted(res.task);
    } catch (err) {
      setError(asApiError(err, "update-template-image"));
    } finally {
      setBusy(false);
    }
  };

  const testId = "template-update";
  const available = check?.update_available;
  return (
    <Modal
      open={!!template}
      title={template ? `Updates for ${template.name}` : ""}
      onClose={onClose}
      busy={busy}
      testId={testId}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-close`}>Close</button>
          {check && !confirming && (
            <button type="button" className={`btn ${available ? "btn-primary" : ""}`} onClick={() => setConfirming(true)}
                    data-testid={`${testId}-start`}>
              {available ? "Update the image…" : "Download again anyway…"}
            </button>
          )}
          {confirming && (
            <button type="button" className="btn btn-primary" onClick={() => void update()} disabled={busy} data-testid={`${testId}-confirm`}>
              {busy && <Spinner />}
              Yes, download and switch
            </button>
          )}
        </>
      }
    >
      <ErrorBanner error={error} title="The update check failed" testId={`${testId}-error`} />
      {!check && !error && <LoadingBlock testId={`${testId}-loading`}>Asking the source…</LoadingBlock>}
      {check && (
        <div data-testid={`${testId}-result`} data-available={String(available)}>
          <Alert tone={available ? "warning" : "info"} title={available ? "A newer image is available" : available === false ? "Up to date" : "Cannot tell"} testId={`${testId}-verdict`}>
            {check.message}
          </Alert>
          <div className="small muted" style={{ margin: "8px 0" }}>
            Checked {formatTime(check.checked_at)} against <span className="mono">{check.remote.url}</span>
            {check.decided_by ? <> (decided by the {check.decided_by.replace("_", "-")})</> : null}
          </div>
          {check.changes.length > 0 && (
            <table className="table" data-testid={`${testId}-changes`}>
              <thead><tr><th>What changed</th><th>Registered</th><th>At the source now</th></tr></thead>
              <tbody>
                {check.changes.map((c) => (
                  <tr key={c.field} data-testid={`${testId}-change`}>
                    <td>{c.field}</td><td className="mono small">{change(c.field, c.current)}</td>
                    <td className="mono small">{change(c.field, c.remote)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="section-title" style={{ marginTop: 12 }}>Built from this template</div>
          {check.vms.length === 0 && check.volumes.length === 0 ? (
            <div className="muted" data-testid={`${testId}-unused`}>No VM or volume uses it.</div>
          ) : (
            <ul data-testid={`${testId}-affected`}>
              {check.vms.map((v) => <li key={`vm-${v.name}`}>VM <b>{v.name}</b>{v.running ? " (running)" : ""}</li>)}
              {check.volumes.map((v) => <li key={`vol-${v.pool}/${v.name}`}>volume <span className="mono">{v.pool}/{v.name}</span></li>)}
            </ul>
          )}
          {confirming && (
            <Alert tone="warning" title="Download the new image?" testId={`${testId}-confirm-text`}>
              The new image is downloaded as a task and becomes the template&apos;s image for new VMs. The{" "}
              {check.vms.length} VM(s) listed above keep their current base image, which stays until nothing is
              backed by it any more.
            </Alert>
          )}
        </div>
      )}
    </Modal>
  );
}
