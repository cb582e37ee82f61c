"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { Template } from "./templateUtil";

type Running = "restart" | "skip";
const STOP_TIMEOUT_S = 120;

interface VmRow {
  name: string;
  running: boolean;
}

/** What rebuild-template-vms will do to one VM, in words (the same rules as the server's). */
export function rebuildPlanText(vm: VmRow, running: Running): string {
  if (!vm.running) return "system disk replaced; stays stopped (the new image is used at its next start)";
  if (running === "skip") return "skipped: left running as it is";
  return `shut down (powered off after ${STOP_TIMEOUT_S} s), system disk replaced, started again`;
}

interface VmResult {
  vm: string;
  state?: string | null;
  outcome?: string | null;
  message?: string;
  error?: { code: string; message: string };
}

/** rebuild-template-vms: the confirmation lists every VM built from the template with its state and what will
 * happen to it, warns that system-disk content is replaced, then follows the task and shows each VM's result. */
export function RebuildDialog({ template, onClose, onFinished }: {
  template: Template | null;
  onClose: () => void;
  onFinished?: () => void;
}) {
  const [running, setRunning] = useState<Running>("restart");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [results, setResults] = useState<VmResult[] | null>(null);
  const [finalTask, setFinalTask] = useState<Task | null>(null);

  useEffect(() => {
    setRunning("restart");
    setBusy(false);
    setError(null);
    setTaskId(null);
    setResults(null);
    setFinalTask(null);
  }, [template]);

  const vms: VmRow[] = (template?.usage.vms ?? []).map((v) => ({ name: v.name, running: v.running }));
  const affected = vms.filter((v) => !(v.running && running === "skip")).length;
  const testId = "rebuild-vms";

  const start = async () => {
    if (!template) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("rebuild-template-vms", { node: template.node, name: template.name, running,
                                                       stop_timeout_s: STOP_TIMEOUT_S });
      setTaskId(res.task.id);
    } catch (err) {
      setError(asApiError(err, "rebuild-template-vms"));
    } finally {
      setBusy(false);
    }
  };

  const footer = taskId ? (
    <button type="button" className="btn" onClick={onClose} data-testid={`${testId}-close`}>Close</button>
  ) : (
    <>
      <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>Cancel</button>
      <button type="button" className="btn btn-danger" onClick={() => void start()} disabled={busy || affected === 0}
              data-testid={`${testId}-confirm`}>
        {busy && <Spinner />}
        Rebuild {affected} VM{affected === 1 ? "" : "s"}
      </button>
    </>
  );

  return (
    <Modal open={!!template} title={template ? `Rebuild the VMs of ${template.name}` : ""} onClose={onClose} busy={busy}
           testId={testId} wide footer={footer}>
      <ErrorBanner error={error} title="Could not start the rebuild" testId={`${testId}-error`} />
      {!taskId && template && (
        <>
          <Alert tone="danger" title="System-disk content is replaced" testId={`${testId}-warning`}>
            Each rebuilt VM gets a fresh copy of the template&apos;s current image ({template.storage.volume}) as its system
            disk: whatever was written there is lost. Name, UUID, MACs, NICs, data disks and keypairs are kept, and
            cloud-init runs again.
          </Alert>
          <fieldset className="field" style={{ border: 0, padding: 0, margin: "12px 0" }}>
            <legend className="small">Running VMs</legend>
            <label className="split small">
              <input type="radio" name="rebuild-running" checked={running === "restart"} onChange={() => setRunning("restart")}
                     data-testid={`${testId}-restart`} />
              shut down, rebuild and start again
            </label>
            <label className="split small">
              <input type="radio" name="rebuild-running" checked={running === "skip"} onChange={() => setRunning("skip")}
                     data-testid={`${testId}-skip`} />
              leave them alone (skip)
            </label>
          </fieldset>
          {vms.length === 0 ? (
            <div className="muted" data-testid={`${testId}-none`}>No VM is built from this template.</div>
          ) : (
            <div className="table-wrap">
              <table className="table" data-testid={`${testId}-plan`}>
                <thead><tr><th>VM</th><th>State</th><th>What will happen</th></tr></thead>
                <tbody>
                  {vms.map((v) => (
                    <tr key={v.name} data-testid={`${testId}-vm`} data-name={v.name}>
                      <td>{v.name}</td>
                      <td data-testid={`${testId}-vm-state`}>{v.running ? "running" : "not running"}</td>
                      <td className="small" data-testid={`${testId}-vm-plan`}>{rebuildPlanText(v, running)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      {taskId && (
        <>
          <TaskProgress taskId={taskId} testId={`${testId}-task`} onDone={(t) => {
            setFinalTask(t);
            const r = (t.result as { vms?: VmResult[] } | null | undefined)?.vms;
            setResults(r ?? []);
            onFinished?.();
          }} />
          {results && (
            <div className="table-wrap" style={{ marginTop: 12 }}>
              <table className="table" data-testid={`${testId}-results`}>
                <thead><tr><th>VM</th><th>Before</th><th>Outcome</th><th>Message</th></tr></thead>
                <tbody>
                  {results.map((r) => (
                    <tr key={r.vm} data-testid={`${testId}-result`} data-name={r.vm} data-outcome={r.outcome ?? ""}>
                      <td>{r.vm}</td>
                      <td>{r.state ?? "—"}</td>
                      <td>{r.outcome}{r.error ? ` (${r.error.code})` : ""}</td>
                      <td className="small">{r.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {finalTask?.state === "failed" && <div className="cell-error small">{finalTask.error?.message}</div>}
        </>
      )}
    </Modal>
  );
}
