"use client";

import Link from "next/link";
import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "next/navigation";
import { ApiError, asApiError, call } from "@/lib/api";
import { formatMiB } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Checkbox } from "@/components/Checkbox";
import { CodeBlock } from "@/components/CodeBlock";
import { Field, Select } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { Card, PageHeader } from "@/components/PageHeader";
import { Stepper, StepperFooter } from "@/components/Stepper";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { vmHref } from "../_components/vmUtil";
import { BasicsStep, CloudInitStep, DiskStep, NetworkStep, SizeStep, ciSummary } from "./steps";
import { demoLimit, useServerInfo } from "@/lib/server";
import { STEPS, StepId, WizardForm, apiFieldError, buildBody, initialForm, localProblems, stepsOfError } from "./wizardModel";

function Review({ form, templatesSupported, set, err }: { form: WizardForm; templatesSupported: boolean; set: (p: Partial<WizardForm>) => void; err: (p: string) => string | undefined }) {
  const body = buildBody(form, templatesSupported);
  const disk =
    form.source === "volume"
      ? `${form.pool}/${form.volume} ${form.clone ? `(${form.clone} clone)` : "(as it is)"}`
      : form.source === "template"
        ? `template ${form.template} (${form.clone || "linked"} clone)`
        : `blank ${form.diskSizeGib || "?"} GiB in ${form.pool}${form.isoVolume ? `, ISO ${form.isoPool || form.pool}/${form.isoVolume}` : ""}${form.osProfile === "windows" && form.virtioIsoVolume ? `, drivers ${form.virtioIsoVolume}` : ""}`;
  return (
    <>
      <dl className="kv" style={{ marginBottom: 18 }} data-testid="review">
        <dt>Node</dt>
        <dd data-testid="review-node">{form.node}</dd>
        <dt>Name</dt>
        <dd data-testid="review-name">{form.name}</dd>
        <dt>Size</dt>
        <dd data-testid="review-size">
          {form.vcpus} vCPU{form.vcpus === "1" ? "" : "s"}, {formatMiB(Number(form.memoryMib) || null)}, {form.firmware.toUpperCase()}
          {form.osProfile === "windows" ? ", Windows" : ""}
        </dd>
        <dt>System disk</dt>
        <dd data-testid="review-disk">
          {disk}
          {form.diskSizeGib && form.source !== "blank" && !(form.source === "volume" && !form.clone) ? `, grown to ${form.diskSizeGib} GiB` : ""}
        </dd>
        <dt>Extra disks</dt>
        <dd data-testid="review-extra">
          {form.extraDisks.length ? form.extraDisks.map((d) => (d.kind === "new" ? `new ${d.sizeGib} GiB ${d.format}` : d.volume)).join(", ") : "none"}
        </dd>
        <dt>NICs</dt>
        <dd data-testid="review-nics">{form.nics.length ? form.nics.map((n) => `${n.kind} ${n.source} (${n.model}${n.mac ? `, ${n.mac}` : ""})`).join("; ") : "none"}</dd>
        <dt>Cloud-init</dt>
        <dd data-testid="review-cloudinit">{ciSummary(form)}</dd>
      </dl>
      <Checkbox id="vm-start" checked={form.start} onChange={(start) => set({ start })} hint="Otherwise the VM is defined and stays stopped.">
        Start the VM once it is created
      </Checkbox>
      <Checkbox id="vm-autostart" checked={form.autostart} onChange={(autostart) => set({ autostart })} hint="Started when the node's libvirtd starts.">
        Autostart with the node
      </Checkbox>
      {form.start && (
        <Field label="The task ends" name="vm-wait-for" error={err("wait_for")}>
          <Select id="vm-wait-for" value={form.waitFor} onChange={(e) => set({ waitFor: e.target.value as WizardForm["waitFor"] })} data-testid="vm-wait-for">
            <option value="none">once the VM is started</option>
            <option value="agent">once the guest agent answers</option>
            <option value="ip">once the VM has an IP</option>
          </Select>
        </Field>
      )}
      <details style={{ marginTop: 6 }}>
        <summary style={{ cursor: "pointer", fontWeight: 600, marginBottom: 8 }}>The create-vm request</summary>
        <CodeBlock text={JSON.stringify(redacted(body), null, 2)} maxHeight={320} testId="review-request" />
      </details>
    </>
  );
}

/** The body as shown on screen: passwords masked. */
function redacted(body: ReturnType<typeof buildBody>): unknown {
  const users = body.cloud_init?.users?.map((u) => (u.password ? { ...u, password: "********" } : u));
  return users ? { ...body, cloud_init: { ...body.cloud_init, users } } : body;
}

function Progress({ taskId, form, onBack, onAnother }: { taskId: string; form: WizardForm; onBack: () => void; onAnother: () => void }) {
  const [done, setDone] = useState<Task | null>(null);
  const vm = (done?.result as { vm?: { name?: string; node?: string; state?: string } } | null | undefined)?.vm;
  // The task's message already carries the notes (KVM fallback, ...); list only what it leaves out.
  const notes = ((done?.result as { notes?: string[] } | null | undefined)?.notes ?? []).filter((n) => n && !(done?.message ?? "").includes(n));
  return (
    <Card title={`Creating VM ${form.name} on ${form.node}`} testId="create-progress">
      <TaskProgress taskId={taskId} onDone={setDone} testId="create-task" />
      {done?.state === "succeeded" && (
        <div style={{ marginTop: 16 }}>
          <Alert tone="info" title={done.message ?? "Created"} testId="create-done">
            {notes.length > 0 && (
              <ul>
                {notes.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            )}
          </Alert>
          <div className="split" style={{ marginTop: 12 }}>
            <Link href={vmHref(vm?.node ?? form.node, vm?.name ?? form.name)} className="btn btn-primary" data-testid="created-vm-link">
              Open VM {vm?.name ?? form.name}
            </Link>
            <Link href="/vms/" className="btn">
              All VMs
            </Link>
            <button type="button" className="btn btn-ghost" onClick={onAnother} data-testid="create-another">
              Create another
            </button>
          </div>
        </div>
      )}
      {done && done.state !== "succeeded" && (
        <div style={{ marginTop: 16 }}>
          {/* the task's error is shown once, by its bar above */}
          <p className="muted" data-testid="create-failed">Everything the create made was removed; fix the form and try again.</p>
          <button type="button" className="btn" style={{ marginTop: 12 }} onClick={onBack} data-testid="create-back-to-form">
            <Icon name="edit" size={14} /> Back to the form
          </button>
        </div>
      )}
    </Card>
  );
}

export function CreateVmWizard({ templatesSupported }: { templatesSupported: boolean }) {
  const params = useSearchParams();
  const [form, setForm] = useState<WizardForm>(() => initialForm(params.get("node") || "local"));
  const [step, setStep] = useState<StepId>("basics");
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [baseCapacity, setBaseCapacity] = useState<number | null>(null);

  const set = (patch: Partial<WizardForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setProblems({});
  };
  const err = (path: string) => problems[path] ?? apiFieldError(error, path);
  // The demo's test driver cannot upload a cloud-init seed: the demo's default is no cloud-init (the step says
  // why and its switch is disabled), so the default path of the wizard works there.
  const server = useServerInfo();
  const ciBlocked = !!demoLimit(server, "cloud_init");
  useEffect(() => {
    if (ciBlocked) setForm((f) => (f.ci.enabled ? { ...f, ci: { ...f.ci, enabled: false } } : f));
  }, [ciBlocked, form.ci.enabled]);
  const errorSteps = useMemo(() => stepsOfError(error), [error]);
  const index = STEPS.findIndex((s) => s.id === step);

  const go = (to: StepId) => {
    // Moving forward checks the steps in between; going back never does.
    const target = STEPS.findIndex((s) => s.id === to);
    for (let i = index; i < target; i += 1) {
      const p = localProblems(form, STEPS[i].id, templatesSupported);
      if (Object.keys(p).length) {
        setProblems(p);
        setStep(STEPS[i].id);
        return;
      }
    }
    setProblems({});
    setStep(to);
  };

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await call("create-vm", buildBody(form, templatesSupported));
      setTaskId(res.task.id);
    } catch (e) {
      const apiErr = asApiError(e, "create-vm");
      setError(apiErr);
      const steps = stepsOfError(apiErr);
      if (steps.length && steps[0] !== "review") setStep(steps[0]);
    } finally {
      setBusy(false);
    }
  };

  const sub: Partial<Record<StepId, string>> = {
    basics: form.name ? `${form.name} on ${form.node}` : undefined,
    disk: form.source === "volume" ? form.volume || undefined : form.source === "template" ? form.template || undefined : "blank",
    network: `${form.nics.length} NIC${form.nics.length === 1 ? "" : "s"}`,
    cloudinit: form.ci.enabled ? "on" : "off",
  };

  const props = { form, set, err, templatesSupported };
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link href="/vms/">VMs</Link> / create
          </>
        }
        title="Create a VM"
        subtitle="A libvirt domain with its disks, NICs and a cloud-init seed, built by a task on the node."
      />
      {taskId ? (
        <Progress
          taskId={taskId}
          form={form}
          onBack={() => {
            setTaskId(null);
            setStep("review");
          }}
          onAnother={() => {
            setTaskId(null);
            setForm(initialForm(form.node));
            setStep("basics");
            setError(null);
          }}
        />
      ) : (
        <>
          <Stepper
            steps={STEPS.map((s) => ({ id: s.id, label: s.label, sub: sub[s.id], error: errorSteps.includes(s.id) }))}
            active={step}
            onSelect={(id) => go(id as StepId)}
            testId="wizard-steps"
          />
          <Card title={STEPS[index].label} testId={`step-${step}`}>
            {/* shown once: at its field(s) when the error is about one (the steps are marked), else here */}
            {error && errorSteps.some((s) => s !== "review") ? (
              <p className="field-error" data-testid="create-vm-error-placed" data-error-code={error.code}>
                The server refused the VM ({error.code}): see the marked field{errorSteps.length > 1 ? "s" : ""}.
              </p>
            ) : (
              <ErrorBanner error={error} title="The server refused the VM" onDismiss={() => setError(null)} testId="create-vm-error" />
            )}
            {step === "basics" && <BasicsStep {...props} />}
            {step === "disk" && <DiskStep {...props} onCapacity={setBaseCapacity} />}
            {step === "size" && <SizeStep {...props} baseCapacity={baseCapacity} />}
            {step === "network" && <NetworkStep {...props} />}
            {step === "cloudinit" && <CloudInitStep {...props} />}
            {step === "review" && <Review form={form} templatesSupported={templatesSupported} set={set} err={err} />}
            <StepperFooter
              onBack={index > 0 ? () => go(STEPS[index - 1].id) : undefined}
              onNext={step === "review" ? () => void submit() : () => go(STEPS[index + 1].id)}
              nextLabel={step === "review" ? "Create VM" : "Next"}
              busy={busy}
              testId="wizard"
            />
          </Card>
        </>
      )}
    </>
  );
}
