"use client";

import { Suspense, useState } from "react";
import { useRouter, useSearchParams } from "next/navigation";
import { ApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { demoLimit, useServerInfo } from "@/lib/server";
import { formatAgo, formatBytes } from "@/lib/format";
import { useOperations } from "@/lib/useOperations";
import { Column, actionsColumn } from "@/components/DataTable";
import { Alert } from "@/components/ErrorBanner";
import { Field, Select } from "@/components/Field";
import { Icon } from "@/components/Icon";
import { OpButton, opItem } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { LoadingBlock } from "@/components/Loading";
import { StateBadge } from "@/components/StateBadge";
import { useToast } from "@/components/Toast";
import { DetailsDialog } from "./_components/DetailsDialog";
import { RebuildDialog } from "./_components/RebuildDialog";
import { EditDialog } from "./_components/EditDialog";
import { RegisterDialog } from "./_components/RegisterDialog";
import { TemplateTasks } from "./_components/TemplateTasks";
import { UpdateDialog } from "./_components/UpdateDialog";
import { Template, osText, sourceText } from "./_components/templateUtil";

const REFRESH_MS = 10_000;

/** The 409 TemplateInUse of delete-template names what still depends on the template; 409
 * TemplateUsageUnknown names the storage pools whose volumes cannot be seen. */
function Dependents({ error }: { error: ApiError | null }) {
  if (error?.code === "TemplateUsageUnknown") {
    const pools = (error.details.pools as string[] | undefined) ?? [];
    return (
      <Alert tone="warning" title="Usage cannot be known" testId="delete-template-unknown">
        Start these storage pools (or repair them), then delete again:{" "}
        {pools.map((p) => <span key={p} className="chip mono" data-testid="unknown-pool">{p}</span>)}
      </Alert>
    );
  }
  if (!error || error.code !== "TemplateInUse") return null;
  const volumes = (error.details.volumes as string[] | undefined) ?? [];
  const vms = (error.details.vms as string[] | undefined) ?? [];
  return (
    <Alert tone="danger" title="Still in use" testId="delete-template-dependents">
      {vms.length > 0 && <div>VMs: {vms.map((v) => <span key={v} className="chip" data-testid="dependent-vm">{v}</span>)}</div>}
      {volumes.length > 0 && (
        <div>Volumes backed by it: {volumes.map((v) => <span key={v} className="chip mono" data-testid="dependent-volume">{v}</span>)}</div>
      )}
    </Alert>
  );
}

function TemplatesPage() {
  const params = useSearchParams();
  const router = useRouter();
  const node = params.get("node") || "";
  const q = useQuery("list-templates", node ? { node } : {}, { refreshMs: REFRESH_MS });
  const nodes = useQuery("list-nodes", {});
  const toast = useToast();
  const [registering, setRegistering] = useState(false);
  const server = useServerInfo();
  const registerWhy = demoLimit(server, "template_register");
  const checkWhy = demoLimit(server, "template_update");
  const [checking, setChecking] = useState<Template | null>(null);
  const [editing, setEditing] = useState<Template | null>(null);
  const [viewing, setViewing] = useState<Template | null>(null);
  const [rebuilding, setRebuilding] = useState<Template | null>(null);
  const [reloadDetails, setReloadDetails] = useState(0);
  const [checkingAll, setCheckingAll] = useState(false);
  const checkAll = async () => {
    setCheckingAll(true);
    try {
      const res = await call("check-template-updates", node ? { node } : {});
      toast.info(`Checking every template for updates (task ${res.task.id.slice(0, 8)})`);
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    } finally {
      setCheckingAll(false);
    }
  };
  const verify = async (t: Template) => {
    try {
      await call("verify-template", { node: t.node, name: t.name });
      toast.info(`Verifying the image of ${t.name}: its checksum is computed in a task`);
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const ops = useOperations<Template, "delete">({
    key: (t) => `${t.node}/${t.name}`,
    onChanged: () => void q.refresh(),
    ops: {
      delete: {
        action: "delete-template",
        confirm: (t, error) => ({
          title: `Delete template ${t.name}?`,
          message: (
            <>
              <p>Its images are removed from the node. JVP refuses while any VM disk or volume is backed by it.</p>
              <Dependents error={error} />
            </>
          ),
          confirmLabel: "Delete template",
          danger: true,
          typeToConfirm: t.name,
          testId: "delete-template",
        }),
        run: async (t) => {
          const res = await call("delete-template", { node: t.node, name: t.name });
          return `Template ${t.name} deleted${res.template_pool_removed ? " (its template pool too)" : ""}`;
        },
      },
    },
  });

  const columns: Column<Template>[] = [
    {
      key: "name",
      header: "Name",
      render: (t) => (
        <div>
          <button type="button" className="btn-link cell-main" onClick={() => setViewing(t)} data-testid="template-name"
                  title="Details: the VMs and volumes built from it, its old images">{t.name}</button>
          {t.description && <div className="cell-sub">{t.description}</div>}
        </div>
      ),
    },
    { key: "node", header: "Node / pool", render: (t) => <span className="small">{t.node} / {t.pool}</span> },
    { key: "os", header: "OS", sortValue: (t) => osText(t), render: (t) => <span data-testid="template-os">{osText(t)}</span> },
    {
      key: "size",
      header: "Size",
      align: "num",
      sortValue: (t) => t.storage.virtual_size ?? null,
      render: (t) => (
        <div data-testid="template-size">
          {formatBytes(t.storage.virtual_size)}
          <div className="cell-sub">{t.storage.format}, file {formatBytes(t.storage.size)}{t.storage.version > 1 ? `, v${t.storage.version}` : ""}</div>
        </div>
      ),
    },
    {
      key: "source",
      header: "Source",
      sortValue: (t) => sourceText(t),
      render: (t) => (
        <div data-testid="template-source" title={t.source.url ?? undefined}>
          <span className="badge badge-neutral">{t.source.type}</span> <span className="small">{sourceText(t)}</span>
          {t.source.verified && <span className="badge badge-success" style={{ marginLeft: 4 }} title={t.source.checksum ?? ""}>verified</span>}
          {t.update_check?.update_available && <span className="badge badge-warning" style={{ marginLeft: 4 }} data-testid="template-update-badge">update</span>}
        </div>
      ),
    },
    {
      key: "usage",
      header: "Usage",
      align: "num",
      sortValue: (t) => t.usage.vm_count ?? null,
      render: (t) => (
        <div data-testid="template-usage">
          {t.usage.vm_count == null ? "—" : `${t.usage.vm_count} VM${t.usage.vm_count === 1 ? "" : "s"}`}
          <div className="cell-sub">{t.usage.last_used ? `used ${formatAgo(t.usage.last_used)}` : "never used"}</div>
        </div>
      ),
    },
    {
      key: "tags",
      header: "Tags",
      sortable: false,
      render: (t) => <div className="chips">{t.tags.map((g) => <span key={g} className="chip">{g}</span>)}</div>,
    },
    { key: "state", header: "State", render: (t) => <StateBadge state={t.state} testId="template-state" /> },
    actionsColumn((t) => (
        <div className="row-actions">
          {t.source.type === "url" && (
            <button type="button" className="btn btn-sm" onClick={() => setChecking(t)} data-testid="template-check" disabled={!!checkWhy}
                    title={checkWhy ? `Disabled in the demo: ${checkWhy}` : "Ask the source for a newer image"}>
              <Icon name="refresh" size={13} /> Check for update
            </button>
          )}
          <button type="button" className="btn btn-sm btn-ghost btn-icon" onClick={() => setViewing(t)} data-testid="template-details-open"
                  title="Details" aria-label={`Details of template ${t.name}`}>
            <Icon name="info" size={15} />
          </button>
          <button type="button" className="btn btn-sm btn-ghost btn-icon" onClick={() => setEditing(t)} data-testid="template-edit"
                  title="Edit" aria-label={`Edit template ${t.name}`}>
            <Icon name="edit" size={15} />
          </button>
          <OpButton ops={ops} kind="delete" target={t} icon="trash" look="icon" label="Delete" ariaLabel={`Delete template ${t.name}`} testId="template-delete" />
        </div>
      ), (t) => [
        ...(t.source.type === "url"
          ? [{ id: "check", label: "Check for update…", onSelect: () => setChecking(t), disabled: !!checkWhy,
               reason: checkWhy ? `Disabled in the demo: ${checkWhy}` : undefined }]
          : []),
        { id: "details", label: "Details", onSelect: () => setViewing(t) },
        { id: "edit", label: "Edit…", onSelect: () => setEditing(t) },
        opItem(ops, "delete", t, "Delete template…", true),
      ]),
  ];

  return (
    <ListPage
      title="Templates"
      subtitle="Read-only base images VMs are cloned from: downloaded, verified and kept in each pool's _templates_ directory."
      actions={
        <div className="split" style={{ flexWrap: "wrap" }}>
          <Field label="Node" name="tpl-filter-node">
            <Select id="tpl-filter-node" value={node} data-testid="templates-node"
                    onChange={(e) => router.replace(e.target.value ? `/templates/?node=${encodeURIComponent(e.target.value)}` : "/templates/")}>
              <option value="">All nodes</option>
              {(nodes.data?.nodes ?? []).map((n) => <option key={n.name} value={n.name}>{n.name}</option>)}
            </Select>
          </Field>
          <button type="button" className="btn" onClick={() => void checkAll()} disabled={checkingAll || !!checkWhy} data-testid="templates-check-all"
                  title={checkWhy ? `Disabled in the demo: ${checkWhy}` : "Ask every template's source for a newer image (nothing is downloaded)"}>
            <Icon name="refresh" size={14} /> Check all for updates
          </button>
          <button type="button" className="btn btn-primary" onClick={() => setRegistering(true)} disabled={!!registerWhy}
                  title={registerWhy ? `Disabled in the demo: ${registerWhy}` : undefined} data-testid="register-template-open">
            <Icon name="plus" size={14} /> Register template
          </button>
        </div>
      }
      query={q}
      testId="templates"
      errorTitle="Could not list the templates"
      refreshLabel="Reload"
      notices={
        <>
          <TemplateTasks node={node || null} onFinished={() => void q.refresh()} />
          {(q.data?.errors ?? []).map((e, i) => (
            <Alert key={i} tone="warning" title={`Node ${e.node ?? e.path ?? "?"}: ${e.code}`} testId="templates-node-error">{e.message}</Alert>
          ))}
          {ops.ui}
        </>
      }
      count={{ noun: "template", fallback: "Templates" }}
      table={{ columns, rows: q.data?.templates, rowKey: (t) => `${t.node}/${t.name}`, rowTestId: "template-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No templates", hint: "Register one from a cloud image URL to create VMs from it." }}
    >
      <RegisterDialog
        open={registering}
        defaultNode={node || "local"}
        onClose={() => setRegistering(false)}
        onStarted={(task) => {
          setRegistering(false);
          toast.info(`Registering ${task.resource?.name ?? "the template"}: follow the download below`);
        }}
      />
      <UpdateDialog
        template={checking}
        onClose={() => setChecking(null)}
        onStarted={() => {
          toast.info(`Downloading the new image of ${checking?.name}`);
          setChecking(null);
          void q.refresh();
        }}
      />
      <DetailsDialog template={viewing} onClose={() => setViewing(null)} reload={reloadDetails}
                     onRebuild={(t) => setRebuilding(t)} onVerify={(t) => void verify(t)} />
      <RebuildDialog template={rebuilding} onClose={() => setRebuilding(null)} onFinished={() => {
        setReloadDetails((n) => n + 1);
        void q.refresh();
      }} />
      <EditDialog
        template={editing}
        onClose={() => setEditing(null)}
        onSaved={(t) => {
          toast.success(`Template ${t.name} saved`);
          setEditing(null);
          void q.refresh();
        }}
      />
    </ListPage>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<LoadingBlock />}>
      <TemplatesPage />
    </Suspense>
  );
}
