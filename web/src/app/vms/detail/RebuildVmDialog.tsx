"use client";

import { useEffect, useState } from "react";
import { ApiError, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";
import { Spinner } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import { TaskProgress } from "@/components/TaskProgress";
import { Vm } from "../_components/vmUtil";

const STOP_TIMEOUT_S = 120;

/** rebuild-vm with its confirmation: which template, what happens to the VM (stopped first when it runs),
 * and that the system disk's content is replaced; then the task's progress. */
export function RebuildVmDialog({ vm, open, onClose, onDone }: { vm: Vm; open: boolean; onClose: () => void; onDone: () => void }) {
  const templates = useQuery("list-templates", { node: vm.node }, { enabled: open });
  const [template, setTemplate] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [taskId, setTaskId] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setTemplate(vm.template ?? "");
    setBusy(false);
    setError(null);
    setTaskId(null);
  }, [open, vm.template]);

  const running = vm.state === "running" || vm.state === "shutting-down";
  const testId = "rebuild-vm";
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const body = { node: vm.node, name: vm.name, stop_timeout_s: STOP_TIMEOUT_S, ...(template && template !== vm.template ? { template } : {}) };
      setTaskId((await call("rebuild-vm", body)).task.id);
    } catch (err) {
      setError(asApiError(err, "rebuild-vm"));
    } finally {
      setBusy(false);
    }
  };
  const choices = templates.data?.templates ?? [];
  const footer = taskId ? (
    <button type="button" className="btn" onClick={onClose} data-testid={`${testId}-close`}>Close</button>
  ) : (
    <>
      <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>Cancel</button>
      <button type="button" className="btn btn-danger" onClick={() => void start()} disabled={busy || !template} data-testid={`${testId}-confirm`}>
        {busy && <Spinner />}
        Rebuild {vm.name}
      </button>
    </>
  );
  return (
    <Modal open={open} title={`Rebuild ${vm.name}?`} onClose={onClose} busy={busy} testId={testId} footer={footer}>
      <ErrorBanner error={error} title="The rebuild was refused" testId={`${testId}-error`} />
      {!taskId && (
        <>
          <Alert tone="danger" title="The system disk's content is replaced" testId={`${testId}-warning`}>
            {vm.name} gets a fresh copy of the template&apos;s current image as its system disk: whatever was written there
            is lost. Name, UUID, MACs, NICs, data disks and keypairs are kept; cloud-init runs again with the VM&apos;s
            settings (a new instance id). The old disk is kept until the rebuild succeeded.
          </Alert>
          <p data-testid={`${testId}-plan`}>
            {running
              ? `The VM is running: it is shut down (powered off after ${STOP_TIMEOUT_S} s if it does not stop), rebuilt and started again.`
              : `The VM is ${vm.state}: it is rebuilt and stays stopped.`}
          </p>
          <Field label="Template" name="rebuild-template" hint={vm.template ? `Created from ${vm.template}.` : "The VM was not created from a template: choose one."}>
            <Select id="rebuild-template" value={template} onChange={(e) => setTemplate(e.target.value)} data-testid={`${testId}-template`}>
              {!vm.template && <option value="">Choose a template…</option>}
              {vm.template && !choices.some((t) => t.name === vm.template) && <option value={vm.template}>{vm.template}</option>}
              {choices.map((t) => (
                <option key={t.name} value={t.name} disabled={t.state === "broken"}>
                  {t.name}{t.state !== "ready" ? ` (${t.state})` : ""}
                </option>
              ))}
            </Select>
          </Field>
        </>
      )}
      {taskId && <TaskProgress taskId={taskId} testId={`${testId}-task`} onDone={() => onDone()} />}
    </Modal>
  );
}
