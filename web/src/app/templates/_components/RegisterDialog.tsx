"use client";

import { useEffect } from "react";
import { RequestOf, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { Checkbox } from "@/components/Checkbox";
import { Field, Select, TextArea, TextInput } from "@/components/Field";
import { FormDialog, useForm } from "@/components/FormDialog";
import type { Task } from "@/components/TaskProgress";
import { PRESETS } from "./presets";

type Register = RequestOf<"register-template">;
type SourceType = "url" | "file" | "volume";
type ChecksumMode = "file" | "sha256" | "none";
const FILE_POOLS = ["dir", "fs", "netfs"];
const TWO_COLUMNS = { display: "grid", gridTemplateColumns: "1fr 1fr", gap: "0 16px" } as const;

interface Form {
  preset: string;
  node: string;
  pool: string;
  name: string;
  type: SourceType;
  url: string;
  checksumMode: ChecksumMode;
  checksumUrl: string;
  sha256: string;
  format: "" | "qcow2" | "raw";
  path: string;
  sourcePool: string;
  volume: string;
  osName: string;
  osVersion: string;
  osArch: string;
  osKernel: string;
  cloudInit: boolean;
  virtio: boolean;
  agent: boolean;
  tags: string;
  description: string;
}

const EMPTY: Form = {
  preset: "", node: "local", pool: "", name: "", type: "url", url: "", checksumMode: "file", checksumUrl: "",
  sha256: "", format: "", path: "", sourcePool: "", volume: "", osName: "", osVersion: "", osArch: "x86_64",
  osKernel: "", cloudInit: true, virtio: true, agent: false, tags: "", description: "",
};

function body(f: Form): Register {
  const source: Register["source"] = { type: f.type };
  if (f.type === "url") {
    source.url = f.url.trim();
    if (f.checksumMode === "file" && f.checksumUrl.trim()) source.checksum_url = f.checksumUrl.trim();
    if (f.checksumMode === "sha256" && f.sha256.trim()) source.sha256 = f.sha256.trim();
  }
  if (f.type === "file") {
    source.path = f.path.trim();
    if (f.sha256.trim()) source.sha256 = f.sha256.trim();
  }
  if ((f.type === "url" || f.type === "file") && f.format) source.format = f.format;
  if (f.type === "volume") {
    source.volume = f.volume.trim();
    if (f.sourcePool) source.pool = f.sourcePool;
  }
  const os: NonNullable<Register["os"]> = {};
  if (f.osName.trim()) os.name = f.osName.trim();
  if (f.osVersion.trim()) os.version = f.osVersion.trim();
  if (f.osArch.trim()) os.arch = f.osArch.trim();
  if (f.osKernel.trim()) os.kernel = f.osKernel.trim();
  return {
    node: f.node, pool: f.pool, name: f.name.trim(), source, os,
    features: { cloud_init: f.cloudInit, virtio: f.virtio, qemu_guest_agent: f.agent },
    tags: f.tags.split(",").map((t) => t.trim()).filter(Boolean),
    description: f.description.trim(),
  };
}

/** Register a template from a URL (with a checksum file, a sha256 or none), a file of the JVP server or a
 * volume. The answer is a task: the page shows its progress from list-tasks. */
export function RegisterDialog({ open, defaultNode, onClose, onStarted }: {
  open: boolean;
  defaultNode: string;
  onClose: () => void;
  onStarted: (task: Task) => void;
}) {
  const form = useForm<Form>(open, () => ({ ...EMPTY, node: defaultNode }), defaultNode);
  const { values: f, error } = form;
  const nodes = useQuery("list-nodes", {}, { enabled: open });
  const pools = useQuery("list-storage-pools", { node: f.node }, { enabled: open });
  const set = (patch: Partial<Form>) => form.setValues((prev) => ({ ...prev, ...patch }));

  const usable = (pools.data?.pools ?? []).filter((p) => FILE_POOLS.includes(p.type) && p.active);
  useEffect(() => {
    if (open && !f.pool && usable.length) set({ pool: usable.find((p) => p.name === "default")?.name ?? usable[0].name });
  }, [open, f.pool, usable]);

  const applyPreset = (id: string) => {
    const p = PRESETS.find((x) => x.id === id);
    if (!p) return set({ preset: "" });
    set({
      preset: id, name: p.name, type: "url", url: p.url, checksumMode: "file", checksumUrl: p.checksumUrl,
      sha256: "", format: "", osName: p.os.name ?? "", osVersion: p.os.version ?? "", osArch: p.os.arch ?? "",
      osKernel: "", cloudInit: !!p.features.cloud_init, virtio: !!p.features.virtio,
      agent: !!p.features.qemu_guest_agent, tags: p.tags.join(", "), description: p.description,
    });
  };

  const submit = () => void form.submit("register-template", async () => onStarted((await call("register-template", body(f))).task));

  const fe = form.field;
  const testId = "register-template";
  return (
    <FormDialog open={open} form={form} title="Register a template" errorTitle="Could not register the template" testId={testId}
                submitLabel="Register" onClose={onClose} onSubmit={submit} wide>
      <Field label="Preset" name="tpl-preset" hint="Official cloud images; every field below stays editable.">
        <Select id="tpl-preset" value={f.preset} onChange={(e) => applyPreset(e.target.value)} data-testid="tpl-preset">
          <option value="">Custom</option>
          {PRESETS.map((p) => <option key={p.id} value={p.id}>{p.label}</option>)}
        </Select>
      </Field>
      <div style={TWO_COLUMNS}>
        <Field label="Node" name="tpl-node" error={fe("node")}>
          <Select id="tpl-node" value={f.node} onChange={(e) => set({ node: e.target.value, pool: "" })} data-testid="tpl-node">
            {(nodes.data?.nodes.map((n) => n.name) ?? [f.node]).map((n) => <option key={n} value={n}>{n}</option>)}
          </Select>
        </Field>
        <Field label="Storage pool" name="tpl-pool" required error={fe("pool")}
               hint="A dir, fs or netfs pool: the image goes to its _templates_ directory.">
          <Select id="tpl-pool" value={f.pool} onChange={(e) => set({ pool: e.target.value })} data-testid="tpl-pool">
            {!usable.length && <option value="">(no active dir/fs/netfs pool)</option>}
            {usable.map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
          </Select>
        </Field>
      </div>
      <Field label="Name" name="tpl-name" required error={fe("name")} hint="Letters, digits, '.', '_' or '-'; unique on the node.">
        <TextInput id="tpl-name" value={f.name} onChange={(e) => set({ name: e.target.value })} placeholder="debian-12" data-testid="tpl-name" />
      </Field>
      <Field label="Source" name="tpl-type" error={fe("source.type")}>
        <Select id="tpl-type" value={f.type} onChange={(e) => set({ type: e.target.value as SourceType })} data-testid="tpl-type">
          <option value="url">Download from a URL</option>
          <option value="file">A file on the JVP server</option>
          <option value="volume">Copy a volume of the node</option>
        </Select>
      </Field>
      {f.type === "url" && (
        <>
          <Field label="Image URL" name="tpl-url" required error={fe("source.url")} hint="http:// or https://; redirects are followed.">
            <TextInput id="tpl-url" className="input mono" value={f.url} onChange={(e) => set({ url: e.target.value })}
                       placeholder="https://…/image.qcow2" data-testid="tpl-url" />
          </Field>
          <div style={TWO_COLUMNS}>
            <Field label="Verify with" name="tpl-checksum-mode">
              <Select id="tpl-checksum-mode" value={f.checksumMode} onChange={(e) => set({ checksumMode: e.target.value as ChecksumMode })} data-testid="tpl-checksum-mode">
                <option value="file">a published checksum file</option>
                <option value="sha256">a sha256 I have</option>
                <option value="none">nothing (the sha256 is only recorded)</option>
              </Select>
            </Field>
            <Field label="Format" name="tpl-format" error={fe("source.format")} hint="Auto: qcow2, or raw with a partition table.">
              <Select id="tpl-format" value={f.format} onChange={(e) => set({ format: e.target.value as Form["format"] })} data-testid="tpl-format">
                <option value="">auto</option><option value="qcow2">qcow2</option><option value="raw">raw</option>
              </Select>
            </Field>
          </div>
          {f.checksumMode === "file" && (
            <Field label="Checksum file URL" name="tpl-checksum-url" error={fe("source.checksum_url")} hint="SHA256SUMS, SHA512SUMS or a CHECKSUM file listing the image.">
              <TextInput id="tpl-checksum-url" className="input mono" value={f.checksumUrl} onChange={(e) => set({ checksumUrl: e.target.value })} data-testid="tpl-checksum-url" />
            </Field>
          )}
        </>
      )}
      {f.type === "file" && (
        <Field label="Path on the JVP server" name="tpl-path" required error={fe("source.path")} hint="Under download.file_dirs; needs download.allow_file_urls.">
          <TextInput id="tpl-path" className="input mono" value={f.path} onChange={(e) => set({ path: e.target.value })} data-testid="tpl-path" />
        </Field>
      )}
      {(f.type === "file" || (f.type === "url" && f.checksumMode === "sha256")) && (
        <Field label="sha256" name="tpl-sha256" error={fe("source.sha256")}>
          <TextInput id="tpl-sha256" className="input mono" value={f.sha256} onChange={(e) => set({ sha256: e.target.value })} placeholder="64 hex digits" data-testid="tpl-sha256" />
        </Field>
      )}
      {f.type === "volume" && (
        <div style={TWO_COLUMNS}>
          <Field label="Volume" name="tpl-volume" required error={fe("source.volume")}>
            <TextInput id="tpl-volume" value={f.volume} onChange={(e) => set({ volume: e.target.value })} data-testid="tpl-volume" />
          </Field>
          <Field label="Its pool" name="tpl-source-pool" hint="Default: the template's pool.">
            <Select id="tpl-source-pool" value={f.sourcePool} onChange={(e) => set({ sourcePool: e.target.value })} data-testid="tpl-source-pool">
              <option value="">(same pool)</option>
              {(pools.data?.pools ?? []).map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
            </Select>
          </Field>
        </div>
      )}
      <div style={TWO_COLUMNS}>
        <Field label="OS name" name="tpl-os-name" error={fe("os.name")}>
          <TextInput id="tpl-os-name" value={f.osName} onChange={(e) => set({ osName: e.target.value })} placeholder="debian" data-testid="tpl-os-name" />
        </Field>
        <Field label="OS version" name="tpl-os-version" error={fe("os.version")}>
          <TextInput id="tpl-os-version" value={f.osVersion} onChange={(e) => set({ osVersion: e.target.value })} placeholder="12" data-testid="tpl-os-version" />
        </Field>
        <Field label="Architecture" name="tpl-os-arch" error={fe("os.arch")}>
          <TextInput id="tpl-os-arch" value={f.osArch} onChange={(e) => set({ osArch: e.target.value })} data-testid="tpl-os-arch" />
        </Field>
        <Field label="Kernel" name="tpl-os-kernel" error={fe("os.kernel")}>
          <TextInput id="tpl-os-kernel" value={f.osKernel} onChange={(e) => set({ osKernel: e.target.value })} placeholder="optional" data-testid="tpl-os-kernel" />
        </Field>
      </div>
      <Checkbox id="tpl-cloud-init" checked={f.cloudInit} onChange={(v) => set({ cloudInit: v })}>cloud-init</Checkbox>
      <Checkbox id="tpl-virtio" checked={f.virtio} onChange={(v) => set({ virtio: v })}>virtio drivers</Checkbox>
      <Checkbox id="tpl-agent" checked={f.agent} onChange={(v) => set({ agent: v })}>QEMU guest agent installed</Checkbox>
      <Field label="Tags" name="tpl-tags" error={fe("tags")} hint="Comma separated.">
        <TextInput id="tpl-tags" value={f.tags} onChange={(e) => set({ tags: e.target.value })} data-testid="tpl-tags" />
      </Field>
      <Field label="Description" name="tpl-description" error={fe("description")}>
        <TextArea id="tpl-description" rows={2} value={f.description} onChange={(e) => set({ description: e.target.value })} data-testid="tpl-description" />
      </Field>
    </FormDialog>
  );
}
