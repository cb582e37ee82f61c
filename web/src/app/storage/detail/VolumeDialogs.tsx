"use client";

import { FormEvent, ReactNode, useEffect, useState } from "react";
import { ApiError, RequestOf, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { Spinner } from "@/components/Loading";
import { Modal } from "@/components/Modal";
import { Task, TaskProgress } from "@/components/TaskProgress";
import { Pool, Volume, errorFor, gibOf } from "../_components/storageUtil";

function FormModal({ open, title, testId, busy, submitLabel, onClose, onSubmit, children, hideSubmit }: {
  open: boolean;
  title: string;
  testId: string;
  busy: boolean;
  submitLabel: string;
  onClose: () => void;
  onSubmit: (e: FormEvent) => void;
  children: ReactNode;
  hideSubmit?: boolean;
}) {
  return (
    <Modal
      open={open}
      title={title}
      onClose={onClose}
      busy={busy}
      testId={testId}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy} data-testid={`${testId}-cancel`}>
            {hideSubmit ? "Close" : "Cancel"}
          </button>
          {!hideSubmit && (
            <button type="submit" form={`${testId}-form`} className="btn btn-primary" disabled={busy} data-testid={`${testId}-submit`}>
              {busy && <Spinner />}
              {submitLabel}
            </button>
          )}
        </>
      }
    >
      <form id={`${testId}-form`} onSubmit={onSubmit} noValidate>
        {children}
      </form>
    </Modal>
  );
}

/** A blank volume (qcow2 or raw), or a qcow2 overlay on a volume of the same pool. */
export function CreateVolumeDialog({ open, pool, volumes, onClose, onCreated }: {
  open: boolean;
  pool: Pool;
  volumes: Volume[];
  onClose: () => void;
  onCreated: (v: Volume) => void;
}) {
  const [name, setName] = useState("");
  const [size, setSize] = useState("10");
  const [format, setFormat] = useState<"qcow2" | "raw">("qcow2");
  const [backing, setBacking] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!open) return;
    setName("");
    setSize("10");
    setFormat("qcow2");
    setBacking("");
    setError(null);
  }, [open]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: RequestOf<"create-volume"> = { node: pool.node, pool: pool.name, name: name.trim(), size_gib: Number(size), format };
    if (backing) body.backing_volume = backing;
    try {
      onCreated((await call("create-volume", body)).volume);
    } catch (err) {
      setError(asApiError(err, "create-volume"));
    } finally {
      setBusy(false);
    }
  };
  const fileBased = ["dir", "fs", "netfs"].includes(pool.type);
  return (
    <FormModal open={open} title={`New volume in ${pool.name}`} testId="create-volume-dialog" busy={busy} submitLabel="Create volume" onClose={onClose} onSubmit={submit}>
      <ErrorBanner error={error} title="Could not create the volume" testId="create-volume-dialog-error" />
      <Field label="Name" name="vol-name" required error={errorFor(error, "name")} hint="e.g. data1.qcow2">
        <TextInput id="vol-name" value={name} onChange={(e) => setName(e.target.value)} data-testid="vol-name-input" />
      </Field>
      <Field label="Size (GiB)" name="vol-size" required error={errorFor(error, "size_gib")} hint={`${formatBytes(pool.available_bytes)} free in the pool; thin in file pools.`}>
        <TextInput id="vol-size" type="number" min={1} value={size} onChange={(e) => setSize(e.target.value)} data-testid="vol-size-input" />
      </Field>
      {fileBased && (
        <>
          <Field label="Format" name="vol-format" error={errorFor(error, "format")}>
            <Select id="vol-format" value={format} onChange={(e) => setFormat(e.target.value as "qcow2" | "raw")} data-testid="vol-format-input">
              <option value="qcow2">qcow2</option>
              <option value="raw">raw</option>
            </Select>
          </Field>
          <Field label="Backing volume" name="vol-backing" error={errorFor(error, "backing_volume")} hint="Optional: a qcow2 overlay on this volume (linked clone).">
            <Select id="vol-backing" value={backing} onChange={(e) => setBacking(e.target.value)} data-testid="vol-backing-input">
              <option value="">none</option>
              {volumes.map((v) => (
                <option key={v.name} value={v.name}>
                  {v.name}
                </option>
              ))}
            </Select>
          </Field>
        </>
      )}
    </FormModal>
  );
}

/** Grow a volume; a running VM attaching it is grown live. */
export function ResizeVolumeDialog({ volume, onClose, onResized }: {
  volume: Volume | null;
  onClose: () => void;
  onResized: (v: Volume, liveVms: string[]) => void;
}) {
  const [size, setSize] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!volume) return;
    setSize(String(gibOf(volume.capacity_bytes) + 1));
    setError(null);
  }, [volume]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!volume) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("resize-volume", { node: volume.node, pool: volume.pool, name: volume.name, size_gib: Number(size) });
      onResized(res.volume, res.live_vms);
    } catch (err) {
      setError(asApiError(err, "resize-volume"));
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormModal open={!!volume} title={`Resize ${volume?.name ?? ""}`} testId="resize-volume-dialog" busy={busy} submitLabel="Grow volume" onClose={onClose} onSubmit={submit}>
      <ErrorBanner error={error} title="Could not resize the volume" testId="resize-volume-dialog-error" />
      <Field label="New size (GiB)" name="resize-size" required error={errorFor(error, "size_gib")}
             hint={`Now ${formatBytes(volume?.capacity_bytes)}. Grow only; a running VM that attaches it sees the new size at once.`}>
        <TextInput id="resize-size" type="number" min={1} value={size} onChange={(e) => setSize(e.target.value)} data-testid="resize-size-input" />
      </Field>
    </FormModal>
  );
}

/** A full copy on the node, as a task whose progress shows here until it ends. */
export function CloneVolumeDialog({ volume, onClose, onCloned }: {
  volume: Volume | null;
  onClose: () => void;
  onCloned: (task: Task) => void;
}) {
  const [name, setName] = useState("");
  const [target, setTarget] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [taskId, setTaskId] = useState<string | null>(null);
  const pools = useQuery("list-storage-pools", { node: volume?.node ?? "local" }, { enabled: !!volume });
  useEffect(() => {
    if (!volume) return;
    setName(`${volume.name.replace(/(\.[a-z0-9]+)?$/i, "")}-copy${volume.name.match(/\.[a-z0-9]+$/i)?.[0] ?? ""}`);
    setTarget(volume.pool);
    setError(null);
    setTaskId(null);
  }, [volume]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!volume) return;
    setBusy(true);
    setError(null);
    try {
      const res = await call("clone-volume", { node: volume.node, pool: volume.pool, name: volume.name, new_name: name.trim(), target_pool: target || undefined });
      setTaskId(res.task.id);
    } catch (err) {
      setError(asApiError(err, "clone-volume"));
    } finally {
      setBusy(false);
    }
  };
  const active = (pools.data?.pools ?? []).filter((p) => p.active);
  return (
    <FormModal open={!!volume} title={`Clone ${volume?.name ?? ""}`} testId="clone-volume-dialog" busy={busy} submitLabel="Clone" onClose={onClose} onSubmit={submit} hideSubmit={!!taskId}>
      <ErrorBanner error={error} title="Could not start the clone" testId="clone-volume-dialog-error" />
      {taskId ? (
        <TaskProgress taskId={taskId} testId="clone-task" onDone={onCloned} />
      ) : (
        <>
          <Field label="New name" name="clone-name" required error={errorFor(error, "new_name") ?? errorFor(error, "name")}>
            <TextInput id="clone-name" value={name} onChange={(e) => setName(e.target.value)} data-testid="clone-name-input" />
          </Field>
          <Field label="Into pool" name="clone-pool" error={errorFor(error, "target_pool")} hint="A pool of the same node; the copy is made there by libvirt.">
            <Select id="clone-pool" value={target} onChange={(e) => setTarget(e.target.value)} data-testid="clone-pool-input">
              {(active.length ? active.map((p) => p.name) : [volume?.pool ?? ""]).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </Select>
          </Field>
        </>
      )}
    </FormModal>
  );
}
