"use client";

import { useQuery } from "@/lib/hooks";
import { formatBytes } from "@/lib/format";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Field, Select, TextInput } from "@/components/Field";
import { Checkbox } from "@/components/Checkbox";
import { OsProfile, defaultNicModel } from "../wizardModel";
import { StepProps } from "./shared";

// -- basics ---------------------------------------------------------------------------------------------
export function BasicsStep({ form, set, err }: StepProps) {
  const nodes = useQuery("list-nodes", {});
  const node = nodes.data?.nodes.find((n) => n.name === form.node);
  return (
    <>
      <ErrorBanner error={nodes.error} title="Could not list the nodes" testId="nodes-error" />
      <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
        <div style={{ flex: "1 1 240px" }}>
          <Field label="Node" name="vm-node" required error={err("node")} hint={node ? `${node.cpus ?? "?"} CPUs, ${formatBytes(node.memory_bytes)} memory${node.maintenance ? " — in maintenance" : ""}` : undefined}>
            <Select id="vm-node" value={form.node} onChange={(e) => set({ node: e.target.value, pool: "", volume: "", isoPool: "", isoVolume: "", nics: [], extraDisks: [] })} data-testid="vm-node">
              {!nodes.data && <option value={form.node}>{form.node}</option>}
              {nodes.data?.nodes.map((n) => (
                <option key={n.name} value={n.name} disabled={n.state !== "online"}>
                  {n.name}
                  {n.state !== "online" ? ` (${n.state})` : ""}
                </option>
              ))}
            </Select>
          </Field>
        </div>
        <div style={{ flex: "1 1 240px" }}>
          <Field label="Name" name="vm-name" required error={err("name")} hint="Letters, digits, '.', '_' or '-'; unique on the node.">
            <TextInput id="vm-name" value={form.name} onChange={(e) => set({ name: e.target.value })} placeholder="web1" data-testid="vm-name" />
          </Field>
        </div>
      </div>
      <div className="split" style={{ alignItems: "flex-start", flexWrap: "wrap", gap: 16 }}>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="vCPUs" name="vm-vcpus" required error={err("vcpus")} hint={node?.cpus ? `At most ${node.cpus} on ${node.name}.` : undefined}>
            <TextInput id="vm-vcpus" type="number" min={1} value={form.vcpus} onChange={(e) => set({ vcpus: e.target.value })} data-testid="vm-vcpus" />
          </Field>
        </div>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="Memory (MiB)" name="vm-memory" required error={err("memory_mib")} hint={`${formatBytes((Number(form.memoryMib) || 0) * 1024 * 1024)}`}>
            <TextInput id="vm-memory" type="number" min={64} step={256} value={form.memoryMib} onChange={(e) => set({ memoryMib: e.target.value })} data-testid="vm-memory" />
          </Field>
        </div>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="Guest OS" name="vm-os-profile" error={err("os_profile")} hint={form.osProfile === "windows" ? "Hyper-V enlightenments, local-time clock, SATA disks and e1000e NICs; cloud-init settings go to Cloudbase-Init." : "VirtIO disks and NICs; cloud-init."}>
            <Select
              id="vm-os-profile"
              value={form.osProfile}
              onChange={(e) => {
                const osProfile = e.target.value as OsProfile;
                const [from, to] = [defaultNicModel(form.osProfile), defaultNicModel(osProfile)];
                set({ osProfile, nics: form.nics.map((n) => (n.model === from ? { ...n, model: to } : n)) });
              }}
              data-testid="vm-os-profile"
            >
              <option value="linux">Linux</option>
              <option value="windows">Windows</option>
            </Select>
          </Field>
        </div>
        <div style={{ flex: "1 1 160px" }}>
          <Field label="Firmware" name="vm-firmware" error={err("firmware")} hint="UEFI needs OVMF on the node.">
            <Select id="vm-firmware" value={form.firmware} onChange={(e) => {
              const firmware = e.target.value as "bios" | "uefi";
              set(firmware === "uefi" ? { firmware } : { firmware, secureBoot: false });
            }} data-testid="vm-firmware">
              <option value="bios">BIOS</option>
              <option value="uefi">UEFI</option>
            </Select>
          </Field>
        </div>
      </div>
      <div className="split" style={{ flexWrap: "wrap", gap: 16 }}>
        <Checkbox
          id="vm-secure-boot"
          checked={form.secureBoot}
          disabled={form.firmware !== "uefi" || form.osProfile === "windows"}
          onChange={(secureBoot) => set({ secureBoot })}
          hint={form.firmware !== "uefi" ? "needs UEFI firmware" : form.osProfile === "windows" ? "not offered for Windows guests yet" : "the q35 machine with SMM; the guest's boot loader must be signed"}
        >
          UEFI Secure Boot
        </Checkbox>
        <Checkbox id="vm-tpm" checked={form.tpm} onChange={(tpm) => set({ tpm })} hint="an emulated TPM 2.0 (swtpm on the node)">
          TPM 2.0
        </Checkbox>
      </div>
      <Field label="Description" name="vm-description" error={err("description")}>
        <TextInput id="vm-description" value={form.description} onChange={(e) => set({ description: e.target.value })} data-testid="vm-description" />
      </Field>
    </>
  );
}
