"use client";

import { useState } from "react";
import { asApiError, call } from "@/lib/api";
import { Operation, useOperations } from "@/lib/useOperations";
import { Alert } from "@/components/ErrorBanner";
import { ActionMenu } from "@/components/ActionMenu";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { VmSummary, isOff } from "./vmUtil";
import { VmActionId, whyNot } from "./vmActions";

type BulkVerb = "start" | "stop" | "reboot" | "suspend" | "resume" | "delete";
type Result = "done" | "skipped" | "failed";

interface Outcome {
  name: string;
  node: string;
  result: Result;
  message: string;
}

const PAST: Record<BulkVerb, string> = {
  start: "started", stop: "stopped", reboot: "asked to reboot", suspend: "suspended", resume: "resumed", delete: "deleted",
};
const LABEL: Record<BulkVerb, string> = {
  start: "Start", stop: "Stop", reboot: "Reboot", suspend: "Suspend", resume: "Resume", delete: "Delete",
};

/** "1 started, 3 skipped: already running, 1 failed": what really happened, counted by outcome. */
export function summarize(verb: BulkVerb, items: Outcome[]): string {
  const parts: string[] = [];
  const done = items.filter((i) => i.result === "done").length;
  if (done) parts.push(`${done} ${PAST[verb]}`);
  const skipped = items.filter((i) => i.result === "skipped");
  const reasons = Array.from(new Set(skipped.map((s) => s.message)));
  if (skipped.length) parts.push(`${skipped.length} skipped${reasons.length === 1 ? `: ${reasons[0]}` : ""}`);
  const failed = items.filter((i) => i.result === "failed").length;
  if (failed) parts.push(`${failed} failed`);
  return parts.join(", ") || "nothing to do";
}

/** Start, stop, reboot, suspend, resume or delete the selected VMs (one request per VM, concurrently); every
 * verb asks first (start and resume too: they act on many VMs at once). A VM the verb cannot act on in its state
 * is skipped and said so; the summary counts what was done, skipped and failed. */
export function BulkBar({ selected, onDone, onClear }: { selected: VmSummary[]; onDone: () => void; onClear: () => void }) {
  const [results, setResults] = useState<{ verb: BulkVerb; items: Outcome[] } | null>(null);
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState("60");
  const [deleteVolumes, setDeleteVolumes] = useState(false);

  const skipReason = (verb: BulkVerb, vm: VmSummary): string | undefined => {
    if (verb === "delete") return !isOff(vm.state) && !force ? `${vm.state}: power it off first` : undefined;
    const why = whyNot(verb as VmActionId, vm);
    if (!why) return undefined;
    return verb === "start" || verb === "stop" ? `already ${vm.state}` : why.replace(/\.$/, "");
  };

  const one = async (verb: BulkVerb, vm: VmSummary): Promise<Outcome> => {
    const base = { name: vm.name, node: vm.node };
    const skip = skipReason(verb, vm);
    if (skip) return { ...base, result: "skipped", message: skip };
    try {
      const t = Math.max(1, Math.min(600, Number(timeoutS) || 60));
      switch (verb) {
        case "stop": {
          const res = await call("stop-vm", { ...base, force, timeout_s: t });
          return { ...base, result: res.stopped ? "done" : "failed", message: res.message };
        }
        case "delete": {
          await call("delete-vm", { ...base, force: force && !isOff(vm.state), delete_volumes: deleteVolumes });
          return { ...base, result: "done", message: "deleted" };
        }
        default: {
          const res = await call(`${verb}-vm` as "start-vm", base);
          return { ...base, result: "done", message: `${PAST[verb]} (${res.state})` };
        }
      }
    } catch (err) {
      const e = asApiError(err, `${verb}-vm`);
      return { ...base, result: "failed", message: `${e.code}: ${e.message}` };
    }
  };

  const runAll = async (verb: BulkVerb, vms: VmSummary[]) => {
    setResults(null);
    const items = await Promise.all(vms.map((vm) => one(verb, vm)));
    setResults({ verb, items });
    return null; // the summary and the list say it all: no toast
  };

  const confirmFor = (verb: BulkVerb) => (vms: VmSummary[]) => {
    const acting = vms.filter((v) => !skipReason(verb, v));
    const skipped = vms.length - acting.length;
    return {
      title: `${LABEL[verb]} ${vms.length} VM${vms.length === 1 ? "" : "s"}?`,
      message: (
        <>
          <p style={{ marginBottom: 12 }} data-testid="bulk-dialog-names">
            {acting.length ? `${LABEL[verb]}: ${acting.map((v) => v.name).join(", ")}.` : `None of them can be ${PAST[verb]} in its state.`}
            {skipped > 0 && ` ${skipped} skipped (${vms.filter((v) => skipReason(verb, v)).map((v) => `${v.name}: ${skipReason(verb, v)}`).join("; ")}).`}
          </p>
          {verb === "stop" && (
            <>
              <Checkbox id="bulk-stop-force" checked={force} onChange={setForce} hint="Power off at once instead of asking the guests to shut down.">
                Force (power off)
              </Checkbox>
              {!force && (
                <Field label="Wait up to (seconds) for each" name="bulk-stop-timeout">
                  <TextInput id="bulk-stop-timeout" type="number" min={1} max={600} value={timeoutS} onChange={(e) => setTimeoutS(e.target.value)} />
                </Field>
              )}
            </>
          )}
          {verb === "delete" && (
            <>
              <Checkbox id="bulk-delete-volumes" checked={deleteVolumes} onChange={setDeleteVolumes} hint="Each VM's disks are deleted from their pools (shared and template volumes are kept).">
                Also delete their volumes
              </Checkbox>
              <Checkbox id="bulk-delete-force" checked={force} onChange={setForce} hint="Running VMs are powered off first (like pulling the plug); without this they are skipped.">
                Force running VMs off, then delete
              </Checkbox>
            </>
          )}
        </>
      ),
      confirmLabel: verb === "stop" && force ? "Power off" : LABEL[verb],
      danger: verb === "delete" || (verb === "stop" && force),
      typeToConfirm: verb === "delete" ? `${vms.length}` : undefined,
      testId: `bulk-${verb}-dialog`,
    };
  };

  const op = (v: BulkVerb): Operation<VmSummary[]> => ({
    action: `${v}-vm`,
    onAsk: () => {
      setForce(false);
      setDeleteVolumes(false);
    },
    confirm: confirmFor(v),
    run: (vms) => runAll(v, vms),
  });
  const ops = useOperations<VmSummary[], BulkVerb>({
    key: () => "selection",
    onChanged: onDone,
    ops: { start: op("start"), stop: op("stop"), reboot: op("reboot"), suspend: op("suspend"), resume: op("resume"), delete: op("delete") },
  });
  const busy = ops.busy?.kind ?? null;

  const failed = results?.items.filter((r) => r.result === "failed") ?? [];
  return (
    <>
      {selected.length > 0 && (
        <div className="table-toolbar" data-testid="bulk-bar">
          <span className="small">
            <strong data-testid="bulk-count">{selected.length}</strong> selected
          </span>
          <div className="split">
            <button type="button" className="btn btn-sm" onClick={() => ops.run("start", selected)} disabled={!!busy} data-testid="bulk-start">
              {busy === "start" ? <Spinner /> : <Icon name="play" size={13} />} Start
            </button>
            <button type="button" className="btn btn-sm" onClick={() => ops.run("stop", selected)} disabled={!!busy} data-testid="bulk-stop">
              {busy === "stop" ? <Spinner /> : <Icon name="stop" size={13} />} Stop
            </button>
            <ActionMenu
              label="More"
              testId="bulk-more"
              items={(["reboot", "suspend", "resume", "delete"] as BulkVerb[]).map((v) => ({
                id: v, label: `${LABEL[v]}…`, onSelect: () => ops.run(v, selected), disabled: !!busy,
                danger: v === "delete", testId: `bulk-${v}`,
              }))}
            />
            <button type="button" className="btn btn-sm btn-ghost" onClick={onClear} disabled={!!busy} data-testid="bulk-clear">
              Clear selection
            </button>
          </div>
        </div>
      )}
      {results && (
        <div style={{ padding: "12px 14px 0" }}>
          <Alert tone={failed.length ? "warning" : "info"} title={`Bulk ${results.verb}: ${summarize(results.verb, results.items)}`} testId="bulk-result">
            <ul>
              {results.items.map((r) => (
                <li key={`${r.node}/${r.name}`} data-testid="bulk-result-item" data-result={r.result}
                    data-ok={r.result === "failed" ? "false" : "true"} data-key={`${r.node}/${r.name}`}>
                  <strong>{r.name}</strong> ({r.node}): {r.result === "skipped" ? `skipped: ${r.message}` : r.message}
                </li>
              ))}
            </ul>
            <button type="button" className="btn btn-sm" style={{ marginTop: 8 }} onClick={() => setResults(null)} data-testid="bulk-result-dismiss">
              Dismiss
            </button>
          </Alert>
        </div>
      )}
      {ops.ui}
    </>
  );
}
