"use client";

// evacuate-node from the node page: every running VM moves live to the other nodes (each to the one that
// passes the preflight with the most free memory), then the node enters maintenance. The dialog follows the
// task and lists what moved, what could not (and why) and what stayed (stopped VMs).
import { useEffect, useState } from "react";
import { call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Checkbox } from "@/components/Checkbox";
import { Alert } from "@/components/ErrorBanner";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Task, TaskProgress } from "@/components/TaskProgress";

type Outcome = {
  moved: { vm: string; target_node: string }[];
  failed: { vm: string; code: string; message: string }[];
  stayed: { vm: string; state: string }[];
};

export function EvacuateDialog({ node, open, onClose, onDone }: { node: string; open: boolean; onClose: () => void; onDone: () => void }) {
  const nodes = useQuery("list-nodes", {});
  const others = (nodes.data?.nodes ?? []).filter((n) => n.name !== node && !n.maintenance).map((n) => n.name);
  const form = useForm(open, () => ({ picked: {} as Record<string, boolean> }), node);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [task, setTask] = useState<Task | null>(null);
  useEffect(() => {
    if (!open) return;
    setTaskId(null);
    setTask(null);
  }, [open]);
  const chosen = others.filter((n) => form.values.picked[n] ?? true);
  const submit = () =>
    void form.submit("evacuate-node", async () =>
      setTaskId((await call("evacuate-node", { name: node, ...(chosen.length < others.length ? { target_nodes: chosen } : {}) })).task.id));
  const outcome = task?.result as Outcome | undefined;
  return (
    <FormDialog open={open} form={form} title={`Evacuate ${node}`} testId="evacuate-dialog" errorTitle="Could not evacuate" onClose={onClose}
                submitLabel="Evacuate" onSubmit={submit} hideSubmit={!!taskId} submitDisabled={!chosen.length}>
      {taskId ? (
        <>
          <TaskProgress taskId={taskId} testId="evacuate-task" onDone={(t) => { setTask(t); onDone(); }} />
          {outcome && (
            <ul className="small" data-testid="evacuate-outcome">
              {outcome.moved.map((m) => <li key={m.vm} data-testid="evacuate-moved">{m.vm} → {m.target_node}</li>)}
              {outcome.failed.map((f) => <li key={f.vm} data-testid="evacuate-failed">{f.vm} stays: {f.code}: {f.message}</li>)}
              {outcome.stayed.map((s) => <li key={s.vm} data-testid="evacuate-stayed">{s.vm} ({s.state}) stays</li>)}
            </ul>
          )}
        </>
      ) : (
        <>
          <p>
            Every running VM of <strong>{node}</strong> moves live to one of the nodes below (the one with the most free memory that passes
            the migration checks); then {node} enters maintenance. A VM that cannot move keeps running here and is reported.
          </p>
          {!others.length && !nodes.loading && <Alert tone="warning" testId="evacuate-no-target">No other enabled node to move VMs to.</Alert>}
          {others.map((n) => (
            <Checkbox key={n} id={`evacuate-${n}`} checked={form.values.picked[n] ?? true} testId={`evacuate-target-${n}`}
                      onChange={(v) => form.set("picked", { ...form.values.picked, [n]: v })}>
              {n}
            </Checkbox>
          ))}
        </>
      )}
    </FormDialog>
  );
}
