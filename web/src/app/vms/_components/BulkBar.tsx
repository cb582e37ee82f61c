"use client";

import { useState } from "react";
import { asApiError, call } from "@/lib/api";
import { useOperations } from "@/lib/useOperations";
import { Alert } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { Field, TextInput } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Spinner } from "@/components/Loading";
import { VmSummary, isOff } from "./vmUtil";

interface Outcome {
  name: string;
  node: string;
  ok: boolean;
  message: string;
}

/** Start or stop the selected VMs, all at once (one request per VM, concurrently); what each answered is
 * listed afterwards. VMs already in the wanted state are skipped and said so. */
export function BulkBar({ selected, onDone, onClear }: { selected: VmSummary[]; onDone: () => void; onClear: () => void }) {
  const [results, setResults] = useState<{ verb: string; items: Outcome[] } | null>(null);
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState("60");

  /** One request per VM, concurrently; each VM's answer goes to the list, none fails the whole. */
  const runAll = async (verb: "start" | "stop", vms: VmSummary[]) => {
    setResults(null);
    const t = Math.max(1, Math.min(600, Number(timeoutS) || 60));
    const items = await Promise.all(
      vms.map(async (vm): Promise<Outcome> => {
        const base = { name: vm.name, node: vm.node };
        if (verb === "start" && !isOff(vm.state)) return { ...base, ok: true, message: `skipped: already ${vm.state}` };
        if (verb === "stop" && isOff(vm.state)) return { ...base, ok: true, message: `skipped: already ${vm.state}` };
        try {
          if (verb === "start") {
            const res = await call("start-vm", base);
            return { ...base, ok: true, message: res.message };
          }
          const res = await call("stop-vm", { ...base, force, timeout_s: t });
          return { ...base, ok: res.stopped, message: res.message };
        } catch (err) {
          const e = asApiError(err, `${verb}-vm`);
          return { ...base, ok: false, message: `${e.code}: ${e.message}` };
        }
      }),
    );
    setResults({ verb, items });
    return null; // the list of answers says it all: no toast
  };

  const ops = useOperations<VmSummary[], "start" | "stop">({
    key: () => "selection",
    onChanged: onDone,
    ops: {
      start: { action: "start-vm", run: (vms) => runAll("start", vms) },
      stop: {
        action: "stop-vm",
        onAsk: () => setForce(false),
        confirm: (vms) => ({
          title: `Stop ${vms.length} VM${vms.length === 1 ? "" : "s"}?`,
          message: (
            <>
              <p style={{ marginBottom: 12 }}>
                {vms.map((v) => v.name).join(", ")}
              </p>
              <Checkbox id="bulk-stop-force" checked={force} onChange={setForce} hint="Power off at once instead of asking the guests to shut down.">
                Force (power off)
              </Checkbox>
              {!force && (
                <Field label="Wait up to (seconds) for each" name="bulk-stop-timeout">
                  <TextInput id="bulk-stop-timeout" type="number" min={1} max={600} value={timeoutS} onChange={(e) => setTimeoutS(e.target.value)} />
                </Field>
              )}
            </>
          ),
          confirmLabel: force ? "Power off" : "Shut down",
          danger: force,
          testId: "bulk-stop-dialog",
        }),
        run: (vms) => runAll("stop", vms),
      },
    },
  });
  const busy = ops.busy?.kind ?? null;

  const failed = results?.items.filter((r) => !r.ok) ?? [];
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
            <button
              type="button"
              className="btn btn-sm"
              onClick={() => ops.run("stop", selected)}
              disabled={!!busy}
              data-testid="bulk-stop"
            >
              {busy === "stop" ? <Spinner /> : <Icon name="stop" size={13} />} Stop
            </button>
            <button type="button" className="btn btn-sm btn-ghost" onClick={onClear} disabled={!!busy} data-testid="bulk-clear">
              Clear selection
            </button>
          </div>
        </div>
      )}
      {results && (
        <div style={{ padding: "12px 14px 0" }}>
          <Alert tone={failed.length ? "warning" : "info"} title={`Bulk ${results.verb}: ${results.items.length - failed.length} of ${results.items.length} done`} testId="bulk-result">
            <ul>
              {results.items.map((r) => (
                <li key={`${r.node}/${r.name}`} data-testid="bulk-result-item" data-ok={r.ok ? "true" : "false"} data-key={`${r.node}/${r.name}`}>
                  <strong>{r.name}</strong> ({r.node}): {r.message}
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
