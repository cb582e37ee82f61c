"use client";

import "../vms.css";
import Link from "next/link";
import { Suspense, useEffect, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@/lib/hooks";
import { isVmEvent } from "@/lib/events";
import { formatMiB, formatTime, show } from "@/lib/format";
import { getIdentity, onSessionChange } from "@/lib/session";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { StateBadge } from "@/components/StateBadge";
import { ProblemsAlert } from "../_components/Problems";
import { Tabs } from "@/components/Tabs";
import { ActionMenu } from "@/components/ActionMenu";
import { useServerInfo } from "@/lib/server";
import { POWER_MENU, VmActionId, vmMenuItem, whyNot } from "../_components/vmActions";
import { ConsolePanel } from "../console/_components/ConsolePanel";
import { ConsoleType } from "../console/_components/consoleSession";
import { useVmOps, vmKey } from "../_components/useVmOps";
import { Vm, formatUptime, vmHref } from "../_components/vmUtil";
import { DisksCard, MediaCard } from "./DisksCard";
import { EditVmDialog } from "./EditVmDialog";
import { MigrateDialog } from "./MigrateDialog";
import { NicsCard } from "./NicsCard";
import { PasswordDialog } from "./PasswordDialog";
import { RebuildVmDialog } from "./RebuildVmDialog";
import { XmlCard } from "./XmlCard";
import { VmSnapshots } from "../../snapshots/_components/SnapshotTree";
import { VmMetricsPanel } from "./MetricsPanel";
import { WindowId, windowOf } from "@/lib/metrics";

const REFRESH_MS = 5_000;

function useIsAdmin(): boolean {
  const [role, setRole] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    const read = () => setRole(getIdentity()?.role);
    read();
    return onSessionChange(read);
  }, []);
  return role === "admin";
}

function Kv({ items }: { items: [string, React.ReactNode, string?][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v, id]) => (
        <div key={k} style={{ display: "contents" }}>
          <dt>{k}</dt>
          <dd data-testid={id}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function Summary({ vm }: { vm: Vm }) {
  const labels = Object.entries(vm.labels ?? {});
  return (
    <div className="cards">
      <Card title="Compute" testId="card-compute">
        <Kv
          items={[
            ["vCPUs", vm.max_vcpus != null && vm.max_vcpus !== vm.vcpus ? `${show(vm.vcpus)} (of ${vm.max_vcpus})` : show(vm.vcpus), "vm-vcpus"],
            ["Memory", vm.max_memory_mib != null && vm.max_memory_mib !== vm.memory_mib ? `${formatMiB(vm.memory_mib)} (of ${formatMiB(vm.max_memory_mib)})` : formatMiB(vm.memory_mib), "vm-memory"],
            ["Domain type", show(vm.domain_type), "vm-domain-type"],
            ["CPU mode", show(vm.cpu_mode)],
            ["Firmware", vm.firmware === "uefi" ? `UEFI${vm.secure_boot ? ", Secure Boot" : ""}` : show(vm.firmware)],
            ["TPM", vm.tpm ? "TPM 2.0" : vm.tpm === false ? "none" : show(vm.tpm)],
          ]}
        />
      </Card>
      <Card title="State" testId="card-state">
        <Kv
          items={[
            ["State", <StateBadge key="s" state={vm.state} testId="vm-state-kv" />],
            ["Reason", show(vm.state_reason), "vm-state-reason"],
            ["Persistent", vm.persistent == null ? "—" : vm.persistent ? "yes" : "no (transient: gone once stopped)", "vm-persistent"],
            ["Uptime", formatUptime(vm.uptime), "vm-uptime"],
            ["Started", formatTime(vm.started_at)],
            ["Autostart", vm.autostart == null ? "—" : vm.autostart ? <span className="yes">yes</span> : <span className="no">no</span>, "vm-autostart"],
            ["Guest agent", vm.guest_agent == null ? "—" : vm.guest_agent ? <span className="yes">answers</span> : <span className="no">no answer</span>, "vm-agent"],
          ]}
        />
      </Card>
      <Card title="About" testId="card-about">
        <Kv
          items={[
            ["Template", show(vm.template), "vm-template"],
            ["Description", show(vm.description), "vm-description"],
            ["Created", `${formatTime(vm.created_at)}${vm.created_by ? ` by ${vm.created_by}` : ""}`, "vm-created"],
            ["Keypairs", vm.keypairs?.length ? vm.keypairs.join(", ") : "—", "vm-keypairs"],
            [
              "Labels",
              labels.length ? (
                <span className="chips">
                  {labels.map(([k, v]) => (
                    <span key={k} className="chip">
                      {k}={v}
                    </span>
                  ))}
                </span>
              ) : (
                "—"
              ),
            ],
            ["UUID", <span key="u" className="mono small">{vm.uuid}</span>],
          ]}
        />
      </Card>
    </div>
  );
}

type DetailTab = "overview" | "console" | "metrics" | "snapshots";
const TABS: DetailTab[] = ["overview", "console", "metrics", "snapshots"];

/** A toolbar button: disabled with the reason (title and a visually hidden description) when it cannot work. */
function ToolButton({ id, label, icon, reason, busy, onClick, danger }: {
  id: string;
  label: string;
  icon: React.ComponentProps<typeof Icon>["name"];
  reason?: string;
  busy?: boolean;
  onClick: () => void;
  danger?: boolean;
}) {
  return (
    <button type="button" className={`btn${danger ? " btn-danger" : ""}`} onClick={onClick} disabled={!!reason || busy}
            title={reason} data-disabled-reason={reason} data-testid={`vm-${id}`}
            aria-describedby={reason ? `vm-${id}-why` : undefined}>
      {busy ? <Spinner /> : <Icon name={icon} size={15} />} {label}
      {reason && <span id={`vm-${id}-why`} className="sr-only">{reason}</span>}
    </button>
  );
}

function VmDetail({ node, name, tab, consoleType, windowId }: {
  node: string; name: string; tab: DetailTab; consoleType: ConsoleType; windowId: WindowId;
}) {
  const router = useRouter();
  const server = useServerInfo();
  const showTab = (t: string, w?: WindowId, type?: ConsoleType) => {
    const q = new URLSearchParams({ node, name });
    if (t !== "overview") q.set("tab", t);
    if (t === "metrics" && w && w !== "1h") q.set("window", w);
    if (t === "console" && type === "serial") q.set("type", "serial");
    router.replace(`/vms/detail/?${q.toString()}`, { scroll: false });
  };
  const q = useQuery("describe-vm", { node, name }, { refreshMs: REFRESH_MS, live: isVmEvent(node, name) });
  const [fresh, setFresh] = useState<Vm | null>(null); // the VM from an action's answer, until the next poll
  const [editing, setEditing] = useState(false);
  const [password, setPassword] = useState(false);
  const [rebuilding, setRebuilding] = useState(false);
  const [migrating, setMigrating] = useState(false);
  const admin = useIsAdmin();
  const ops = useVmOps({ onChanged: () => void q.refresh(), onDeleted: () => router.push("/vms/") });
  useEffect(() => setFresh(null), [q.data]);
  const vm = fresh ?? q.data?.vm;
  const changed = (v: Vm) => {
    setFresh(v);
    if (v.name !== name) router.replace(vmHref(v.node, v.name));
  };

  if (q.loading && !vm) return <LoadingBlock>Loading VM {name}…</LoadingBlock>;
  if (!vm) {
    return (
      <>
        <PageHeader breadcrumb={<><Link href="/vms/">VMs</Link> / {node}</>} title={name} />
        <ErrorBanner error={q.error} title={`Could not read VM ${name}`} onRetry={() => void q.refresh()} testId="vm-error" />
        {q.error?.code === "VmNotFound" && (
          <EmptyState title="This VM does not exist (any more)" action={<Link href="/vms/" className="btn">All VMs</Link>} testId="vm-missing" />
        )}
      </>
    );
  }

  const ips = vm.nics.flatMap((n) => n.ips);
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link href="/vms/">VMs</Link> / <Link href={`/vms/?node=${encodeURIComponent(node)}`}>{node}</Link> / {vm.name}
          </>
        }
        title={
          <>
            <span data-testid="vm-name">{vm.name}</span>
            <StateBadge state={vm.state} testId="vm-detail-state" />
            {q.fetching && <Spinner />}
          </>
        }
        subtitle={
          <span data-testid="vm-subtitle">
            on node {vm.node}
            {ips.length ? ` · ${ips.join(", ")}` : ""}
          </span>
        }
        fold={false}
        actions={(() => {
          const busy = ops.busy?.key === vmKey(vm) ? ops.busy.kind : null;
          const why = (a: VmActionId) => whyNot(a, vm, server);
          const item = (id: VmActionId, label: string, onSelect: () => void, danger = false) =>
            vmMenuItem(vm, id, label, onSelect, { busy: !!busy, server, danger });
          return (
            <div className="vm-toolbar" data-testid="vm-toolbar">
              <ToolButton id="start" label="Start" icon="play" reason={why("start")} busy={busy === "start"}
                          onClick={() => ops.run("start", vm)} />
              <ToolButton id="stop" label="Stop" icon="stop" reason={why("stop")} busy={busy === "stop"}
                          onClick={() => ops.run("stop", vm)} />
              <ToolButton id="console-vnc" label="Console" icon="vm" reason={why("console")}
                          onClick={() => showTab("console", undefined, "vnc")} />
              <ActionMenu
                label="More actions"
                testId="vm-more"
                items={[
                  ...POWER_MENU.map(([id, label, danger]) => item(id, label, () => ops.run(id, vm), danger)),
                  item("serial", "Serial console", () => showTab("console", undefined, "serial")),
                  item("edit", "Edit…", () => setEditing(true)),
                  item("password", "Set password…", () => setPassword(true)),
                  item("rebuild", "Rebuild…", () => setRebuilding(true)),
                  item("migrate", "Migrate…", () => setMigrating(true)),
                  item("delete", "Delete…", () => ops.run("delete", vm), true),
                ]}
              />
            </div>
          );
        })()}
      />
      <ErrorBanner error={q.error} title={`Could not refresh VM ${name}`} onRetry={() => void q.refresh()} testId="vm-error" />
      {ops.ui}
      {vm.state === "crashed" && (
        <Alert tone="danger" title="The VM crashed" testId="vm-crashed">
          Start it again, or power it off with Stop (force); its serial console log may say why.
        </Alert>
      )}
      {vm.state === "pmsuspended" && (
        <Alert tone="info" title="The guest suspended itself (power management)" testId="vm-pmsuspended">
          Resume wakes it up; Stop with force powers it off.
        </Alert>
      )}
      <ProblemsAlert problems={vm.problems} />
      <Tabs
        tabs={[
          { id: "overview", label: "Overview" },
          { id: "console", label: "Console" },
          { id: "metrics", label: "Metrics" },
          { id: "snapshots", label: "Snapshots" },
        ]}
        active={tab}
        onChange={showTab}
        testId="vm-tabs"
      />
      {tab === "console" ? (
        <ConsolePanel key={`${vm.node}/${vm.name}/${consoleType}`} node={vm.node} name={vm.name} type={consoleType}
                      onType={(t) => showTab("console", undefined, t)} />
      ) : tab === "metrics" ? (
        <VmMetricsPanel node={vm.node} name={vm.name} windowId={windowId} onWindow={(w) => showTab("metrics", w)} />
      ) : tab === "snapshots" ? (
        <div className="stack">
          <VmSnapshots node={vm.node} vm={vm.name} vmState={vm.state} />
        </div>
      ) : (
        <>
          <Summary vm={vm} />
          <div className="stack">
            <DisksCard vm={vm} onChanged={changed} />
            <NicsCard vm={vm} onChanged={changed} />
            <MediaCard vm={vm} onChanged={changed} />
            {admin && <XmlCard node={vm.node} name={vm.name} />}
          </div>
        </>
      )}
      <EditVmDialog vm={vm} open={editing} onClose={() => setEditing(false)} onChanged={changed} />
      <PasswordDialog vm={vm} open={password} onClose={() => setPassword(false)} />
      <RebuildVmDialog vm={vm} open={rebuilding} onClose={() => setRebuilding(false)} onDone={() => void q.refresh()} />
      <MigrateDialog vm={vm} open={migrating} onClose={() => setMigrating(false)}
                     onMoved={(target) => router.replace(vmHref(target, vm.name))} />
    </>
  );
}

function DetailPage() {
  const params = useSearchParams();
  const node = params.get("node") || "local";
  const name = params.get("name");
  if (!name) {
    return <ErrorBanner error={new Error("No VM named: open this page as /vms/detail/?node=<node>&name=<vm>.")} title="Which VM?" testId="vm-error" />;
  }
  const tab: DetailTab = TABS.find((t) => t === params.get("tab")) ?? "overview";
  const consoleType: ConsoleType = params.get("type") === "serial" ? "serial" : "vnc";
  return <VmDetail key={`${node}/${name}`} node={node} name={name} tab={tab} consoleType={consoleType}
                   windowId={windowOf(params.get("window")).id} />;
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <DetailPage />
    </Suspense>
  );
}
