"use client";

import { useState } from "react";
import { call } from "@/lib/api";
import { formatBytes, show } from "@/lib/format";
import { useOperations } from "@/lib/useOperations";
import { Column, DataTable, actionsColumn } from "@/components/DataTable";
import { Field, Select, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import { Icon } from "@/components/Icon";
import { EmptyState } from "@/components/Loading";
import { Card } from "@/components/PageHeader";
import { useToast } from "@/components/Toast";
import { PoolSelect, VolumeSelect } from "../_components/StoragePickers";
import { Vm, VmDisk, vmFieldError } from "../_components/vmUtil";

type Changed = (vm: Vm) => void;

const liveText = (live: string) =>
  live === "applied" ? "live and in the config" : live === "pending" ? "in the config; the guest has not released it yet" : "in the config (the VM is not running)";

function volumeText(d: VmDisk): string {
  // a network disk has no path: its source (rbd://mon:6789/pool/image) says what it reads
  return d.volume ? `${d.pool ?? "?"}/${d.volume}` : d.path ?? d.source ?? "empty";
}

function AttachVolumeDialog({ vm, open, onClose, onChanged }: { vm: Vm; open: boolean; onClose: () => void; onChanged: Changed }) {
  const toast = useToast();
  const [pool, setPool] = useState("");
  const form = useForm(open, () => ({ volume: "", target: "", bus: "virtio" as "virtio" | "scsi" | "sata" }));
  const { volume, target, bus } = form.values;
  const { set, error } = form;
  const submit = () =>
    void form.submit("attach-volume", async () => {
      const res = await call("attach-volume", { node: vm.node, name: vm.name, pool, volume, bus, ...(target.trim() ? { target: target.trim() } : {}) });
      toast.success(`${volume} attached as ${res.target ?? "?"}, ${liveText(res.live)}`);
      onChanged(res.vm);
      onClose();
    });
  const fe = (f: string) => vmFieldError(error, f) ?? (error && ["VolumeInUse", "VolumeNotFound"].includes(error.code) && f === "volume" ? error.message : undefined);
  return (
    <FormDialog open={open} form={form} title={`Attach a volume to ${vm.name}`} errorTitle="Could not attach the volume" testId="attach-volume-dialog"
                submitLabel="Attach" onClose={onClose} onSubmit={submit}>
      <PoolSelect id="attach-pool" node={vm.node} value={pool} onChange={(p) => { setPool(p); set("volume", ""); }} error={vmFieldError(error, "pool")} />
      <VolumeSelect id="attach-volume" node={vm.node} pool={pool} value={volume} onChange={(v) => set("volume", v)} error={fe("volume")} label="Volume" disableUsed />
      <div className="split" style={{ alignItems: "flex-start", gap: 12 }}>
        <div style={{ flex: 1 }}>
          <Field label="Bus" name="attach-bus" error={vmFieldError(error, "bus")}>
            <Select id="attach-bus" value={bus} onChange={(e) => set("bus", e.target.value as typeof bus)} data-testid="attach-bus">
              <option value="virtio">virtio</option>
              <option value="scsi">scsi</option>
              <option value="sata">sata</option>
            </Select>
          </Field>
        </div>
        <div style={{ flex: 1 }}>
          <Field label="Target" name="attach-target" error={vmFieldError(error, "target")} hint="Empty: the next free one (vdb, …).">
            <TextInput id="attach-target" className="input mono" value={target} onChange={(e) => set("target", e.target.value)} placeholder="vdb" data-testid="attach-target" />
          </Field>
        </div>
      </div>
    </FormDialog>
  );
}

export function DisksCard({ vm, onChanged }: { vm: Vm; onChanged: Changed }) {
  const [attaching, setAttaching] = useState(false);
  const disks = vm.disks.filter((d) => d.device !== "cdrom");

  const ops = useOperations<VmDisk, "detach">({
    key: (d) => d.target,
    ops: {
      detach: {
        action: "detach-volume",
        confirm: (d) => ({
          title: `Detach disk ${d.target}?`,
          message: (
            <p>
              {volumeText(d)} is removed from the VM (live and in the config). The volume itself stays in its pool.
              {d.system ? " This is the system disk: the server refuses to detach it." : ""}
            </p>
          ),
          confirmLabel: "Detach",
          danger: true,
          testId: "detach-disk-dialog",
        }),
        run: async (d) => {
          const res = await call("detach-volume", { node: vm.node, name: vm.name, target: d.target });
          onChanged(res.vm);
          return `Disk ${d.target} detached, ${liveText(res.live)}`;
        },
      },
    },
  });

  const columns: Column<VmDisk>[] = [
    {
      key: "target",
      header: "Target",
      render: (d) => (
        <span className="mono cell-main" data-testid="disk-target">
          {d.target}
          {d.system && (
            <span className="badge badge-info" style={{ marginLeft: 6 }} data-testid="disk-system">
              system
            </span>
          )}
        </span>
      ),
    },
    { key: "volume", header: "Volume", sortValue: volumeText, render: (d) => <div><div data-testid="disk-volume">{volumeText(d)}</div>{d.backing && <div className="cell-sub mono" title="backing file (linked clone)">↳ {d.backing}</div>}</div> },
    { key: "bus", header: "Bus", render: (d) => show(d.bus) },
    { key: "format", header: "Format", render: (d) => show(d.format) },
    { key: "capacity_bytes", header: "Size", align: "num", render: (d) => <span data-testid="disk-capacity">{formatBytes(d.capacity_bytes)}</span> },
    actionsColumn((d) => (
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => ops.run("detach", d)}
          title={d.system ? "The system disk cannot be detached (the server will say so)" : "Detach this disk"}
          data-testid="disk-detach"
        >
          Detach
        </button>
      )),
  ];

  return (
    <Card
      bodyless
      title={`Disks (${disks.length})`}
      testId="card-disks"
      extra={
        <button type="button" className="btn btn-sm" onClick={() => setAttaching(true)} data-testid="attach-volume">
          <Icon name="plus" size={13} /> Attach volume
        </button>
      }
    >
      <DataTable
        columns={columns}
        rows={disks}
        rowKey={(d) => d.target}
        testId="disks-table"
        rowTestId="disk-row"
        initialSort={{ key: "target", dir: "asc" }}
        empty={<EmptyState title="No disks" testId="disks-empty" />}
      />
      <AttachVolumeDialog vm={vm} open={attaching} onClose={() => setAttaching(false)} onChanged={onChanged} />
      {ops.ui}
    </Card>
  );
}

function InsertMediaDialog({ vm, target, onClose, onChanged }: { vm: Vm; target: string | null; onClose: () => void; onChanged: Changed }) {
  const toast = useToast();
  const [pool, setPool] = useState("");
  const form = useForm(!!target, () => ({ volume: "" }), target);
  const { volume } = form.values;
  const { set, error } = form;
  const submit = () => {
    if (!target) return;
    void form.submit("insert-media", async () => {
      const res = await call("insert-media", { node: vm.node, name: vm.name, target, pool, volume });
      toast.success(`${volume} inserted in ${target}, ${liveText(res.live)}`);
      onChanged(res.vm);
      onClose();
    });
  };
  return (
    <FormDialog open={!!target} form={form} title={`Insert an ISO in ${target ?? ""}`} errorTitle="Could not insert the media" testId="insert-media-dialog"
                submitLabel="Insert" onClose={onClose} onSubmit={submit}>
      <PoolSelect id="media-pool" node={vm.node} value={pool} onChange={(p) => { setPool(p); set("volume", ""); }} error={vmFieldError(error, "pool")} />
      <VolumeSelect id="media-volume" node={vm.node} pool={pool} value={volume} onChange={(v) => set("volume", v)} error={vmFieldError(error, "volume")} label="ISO volume" preferIso />
    </FormDialog>
  );
}

export function MediaCard({ vm, onChanged }: { vm: Vm; onChanged: Changed }) {
  const [inserting, setInserting] = useState<string | null>(null);
  const cdroms = vm.disks.filter((d) => d.device === "cdrom");
  const seed = vm.cloud_init?.seed_volume;

  const ops = useOperations<VmDisk, "eject">({
    key: (d) => d.target,
    error: { title: "Could not eject", testId: "media-error" },
    ops: {
      eject: {
        action: "eject-media",
        run: async (d) => {
          const res = await call("eject-media", { node: vm.node, name: vm.name, target: d.target });
          onChanged(res.vm);
          return `${d.target} ejected, ${liveText(res.live)}`;
        },
      },
    },
  });

  const columns: Column<VmDisk>[] = [
    { key: "target", header: "Drive", render: (d) => <span className="mono cell-main">{d.target}</span> },
    {
      key: "volume",
      header: "Media",
      sortValue: volumeText,
      render: (d) =>
        d.path ? (
          <span data-testid="media-volume">
            {volumeText(d)}
            {seed && d.volume === seed && <span className="badge badge-neutral" style={{ marginLeft: 6 }}>cloud-init seed</span>}
          </span>
        ) : (
          <span className="muted" data-testid="media-volume">empty</span>
        ),
    },
    { key: "capacity_bytes", header: "Size", align: "num", render: (d) => formatBytes(d.capacity_bytes) },
    actionsColumn((d) => (
        <div className="row-actions">
          <button type="button" className="btn btn-sm" onClick={() => setInserting(d.target)} data-testid="media-insert">
            {d.path ? "Change" : "Insert"}
          </button>
          {d.path && (
            <button type="button" className="btn btn-sm" onClick={() => ops.run("eject", d)} disabled={ops.isBusy(d)} data-testid="media-eject">
              Eject
            </button>
          )}
        </div>
      )),
  ];

  return (
    <Card bodyless title={`CD/DVD drives (${cdroms.length})`} testId="card-media">
      {ops.failed && <div className="card-body">{ops.ui}</div>}
      <DataTable
        columns={columns}
        rows={cdroms}
        rowKey={(d) => d.target}
        testId="media-table"
        rowTestId="media-row"
        initialSort={{ key: "target", dir: "asc" }}
        empty={<EmptyState title="No cdrom drive" testId="media-empty">This VM has no cdrom drive to put an ISO in.</EmptyState>}
      />
      <InsertMediaDialog vm={vm} target={inserting} onClose={() => setInserting(null)} onChanged={onChanged} />
    </Card>
  );
}

