"use client";

// migrate-vm from the VM page: choose the target node and options, see the preflight (check-migrate-vm: each
// check and what happens to each disk), start the move, follow its progress (memory and disk bytes, ETA) and
// cancel it (the VM then stays where it is). When the move succeeds the page follows the VM to its new node.
import { useEffect, useState } from "react";
import type { Schema } from "@/lib/api";
import { call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Checkbox } from "@/components/Checkbox";
import { Alert } from "@/components/ErrorBanner";
import { Field, Options, Select, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { Vm, vmFieldError } from "../_components/vmUtil";

type Plan = Schema<"MigrationPlan">;
const COPY_STORAGE = ["auto", "none", "all"] as const;

export function MigrateDialog({ vm, open, onClose, onMoved }: {
  vm: Vm;
  open: boolean;
  onClose: () => void;
  /** The move succeeded: the VM is on `node` now. */
  onMoved: (node: string) => void;
}) {
  const nodes = useQuery("list-nodes", {});
  const targets = (nodes.data?.nodes ?? []).map((n) => n.name).filter((n) => n !== vm.node);
  const form = useForm(open, () => ({ target: "", live: true, copy: "auto" as string, bandwidth: "" }), vm.name);
  const { target, live, copy, bandwidth } = form.values;
  const [plan, setPlan] = useState<Plan | null>(null);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [done, setDone] = useState<Task | null>(null);
  useEffect(() => {
    if (!open) return;
    setPlan(null);
    setTaskId(null);
    setDone(null);
  }, [open]);
  useEffect(() => {
    if (open && !target && targets.length) form.set("target", targets[0]);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, targets.join(",")]);
  useEffect(() => setPlan(null), [target, live, copy]);

  const body = () => ({
    node: vm.node, name: vm.name, target_node: target, live, copy_storage: copy as (typeof COPY_STORAGE)[number],
    ...(bandwidth.trim() ? { bandwidth_mib_s: Number(bandwidth) } : {}),
  });
  const check = () => void form.submit("check-migrate-vm", async () => setPlan((await call("check-migrate-vm", body())).plan));
  const migrate = () => void form.submit("migrate-vm", async () => setTaskId((await call("migrate-vm", body())).task.id));
  const finished = (task: Task) => {
    setDone(task);
    if (task.state === "succeeded") onMoved(target);
  };

  return (
    <FormDialog open={open} form={form} title={`Migrate ${vm.name}`} testId="migrate-dialog" errorTitle="Could not migrate" onClose={onClose}
                submitLabel={plan?.ok ? "Migrate" : "Check"} onSubmit={plan?.ok ? migrate : check}
                hideSubmit={!!taskId} submitDisabled={!target} wide>
      {taskId ? (
        <>
          <TaskProgress taskId={taskId} testId="migrate-task" onDone={finished} />
          {done?.state === "cancelled" && (
            <Alert tone="info" testId="migrate-cancelled">The move was aborted: {vm.name} stays on node {vm.node}.</Alert>
          )}
        </>
      ) : (
        <>
          {!targets.length && !nodes.loading && (
            <Alert tone="warning" testId="migrate-no-target">There is no other node to migrate to: add one on the Nodes page.</Alert>
          )}
          <Field label="Target node" name="migrate-target" required error={vmFieldError(form.error, "target_node")}>
            <Select id="migrate-target" value={target} onChange={(e) => form.set("target", e.target.value)} data-testid="migrate-target">
              <Options values={targets} />
            </Select>
          </Field>
          <Checkbox id="migrate-live" checked={live} onChange={(v) => form.set("live", v)} testId="migrate-live"
                    hint={vm.state === "stopped" ? "A stopped VM always moves offline (its definition and volumes)." : "The VM keeps running while it moves."}>
            Live
          </Checkbox>
          <Field label="Storage" name="migrate-copy" hint="auto: copy the disks the target does not see; none: shared storage only; all: copy every disk.">
            <Select id="migrate-copy" value={copy} onChange={(e) => form.set("copy", e.target.value)} data-testid="migrate-copy">
              <Options values={COPY_STORAGE} />
            </Select>
          </Field>
          <Field label="Bandwidth limit (MiB/s)" name="migrate-bandwidth" error={vmFieldError(form.error, "bandwidth_mib_s")} hint="Optional.">
            <TextInput id="migrate-bandwidth" inputMode="numeric" value={bandwidth} onChange={(e) => form.set("bandwidth", e.target.value)} data-testid="migrate-bandwidth" />
          </Field>
          {plan && <PlanView plan={plan} />}
        </>
      )}
    </FormDialog>
  );
}

function PlanView({ plan }: { plan: Plan }) {
  return (
    <div data-testid="migrate-plan" data-ok={plan.ok ? "yes" : "no"}>
      <Alert tone={plan.ok ? "info" : "danger"} title={plan.ok ? `Ready: a ${plan.mode} move to ${plan.target_node}` : "The move would be refused"}
             testId="migrate-verdict">
        {plan.ok ? "Press Migrate to start it." : "Fix what is marked below, then check again."}
      </Alert>
      <table className="table small" data-testid="migrate-checks">
        <tbody>
          {plan.checks.map((c) => (
            <tr key={c.check} data-testid={`migrate-check-${c.check}`} data-ok={c.ok ? "yes" : "no"}>
              <td>{c.ok ? "✓" : "✗"}</td>
              <td>{c.check}</td>
              <td>{c.message}{c.code && !c.ok ? <span className="mono"> ({c.code})</span> : null}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {plan.disks.length > 0 && (
        <table className="table small" data-testid="migrate-disks">
          <tbody>
            {plan.disks.map((d) => (
              <tr key={d.target}>
                <td className="mono">{d.target}</td>
                <td className="mono small">{d.path ?? "(empty)"}</td>
                <td data-testid={`migrate-disk-${d.target}`}>{d.action}{d.backing ? `, base image ${d.backing.action}` : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
