"use client";

import { useState } from "react";
import { asApiError, call } from "@/lib/api";
import { Alert } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { ConfirmDialog } from "@/components/ConfirmDialog";
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
  const [busy, setBusy] = useState<"start" | "stop" | null>(null);
  const [results, setResults] = useState<{ verb: string; items: Outcome[] } | null>(null);
  const [asking, setAsking] = useState(false);
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState("60");

  const run = async (verb: "start" | "stop") => {
    setBusy(verb);
    setResults(null);
    const t = Math.max(1, Math.min(600, Number(timeoutS) || 60));
    const items = await Promise.all(
      selected.map(async (vm): Promise<Outcome> => {
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
    setBusy(null);
    setAsking(false);
    onDone();
  };

  const failed = results?.items.filter((r) => !r.ok) ?? [];
  return (
    <>
      {selected.length > 0 && (
        <div className="table-toolbar" data-testid="bulk-bar">
          <span className="small">
            <strong data-testid="bulk-count">{selected.length}</strong> selected
          </span>
          <div className="split">
            <button type="button" className="btn btn-sm" onClick={() => void run("start")} disabled={!!busy} data-testid="bulk-start">
              {busy === "start" ? <Spinner /> : <Icon name="play" size={13} />} Start
            </button>
            <button
              type="button"
              className="btn btn-sm"
              onClick={() => {
                setForce(false);
                setAsking(true);
              }}
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
      <ConfirmDialog
        open={asking}
        title={`Stop ${selected.length} VM${selected.length === 1 ? "" : "s"}?`}
        message={
          <>
            <p style={{ marginBottom: 12 }}>
              {selected.map((v) => v.name).join(", ")}
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
        }
        confirmLabel={force ? "Power off" : "Shut down"}
        danger={force}
        busy={busy === "stop"}
        onConfirm={() => void run("stop")}
        onCancel={() => setAsking(false)}
        testId="bulk-stop-dialog"
      />
    </>
  );
}
