"use client";

import { useState } from "react";
import { ApiError, Schema, asApiError, call } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatTime } from "@/lib/format";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Column, DataTable } from "@/components/DataTable";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Icon } from "@/components/Icon";
import { EmptyState, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";
import { useToast } from "@/components/Toast";
import { CreateKeypairDialog, ImportKeypairDialog } from "./_components/KeypairDialogs";

type Keypair = Schema<"Keypair">;

export default function KeypairsPage() {
  const q = useQuery("list-keypairs", {});
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState(false);
  const [deleting, setDeleting] = useState<Keypair | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | null>(null);

  const doDelete = async () => {
    if (!deleting) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await call("delete-keypair", { name: deleting.name });
      toast.success(`Keypair ${deleting.name} deleted`);
      setDeleting(null);
      void q.refresh();
    } catch (err) {
      setDeleteError(asApiError(err, "delete-keypair"));
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<Keypair>[] = [
    {
      key: "name",
      header: "Name",
      render: (k) => (
        <div>
          <span className="cell-main" data-testid="keypair-name-cell">{k.name}</span>
          {k.comment && k.comment !== k.name && <div className="cell-sub">{k.comment}</div>}
        </div>
      ),
    },
    {
      key: "algorithm",
      header: "Algorithm",
      render: (k) => (
        <span data-testid="keypair-algorithm-cell">
          {k.algorithm}
          {k.bits ? <span className="muted"> ({k.bits} bits)</span> : null}
        </span>
      ),
    },
    { key: "fingerprint", header: "Fingerprint", render: (k) => <code className="small" data-testid="keypair-fingerprint">{k.fingerprint}</code> },
    { key: "imported", header: "Origin", render: (k) => (k.imported ? "imported" : "generated") },
    { key: "created_at", header: "Created", render: (k) => <span data-testid="keypair-created">{formatTime(k.created_at)}</span> },
    {
      key: "actions",
      header: "",
      sortable: false,
      className: "actions-col",
      render: (k) => (
        <div className="row-actions">
          <button
            type="button"
            className="btn btn-sm btn-ghost btn-icon"
            title="Copy the public key"
            aria-label={`Copy the public key of ${k.name}`}
            onClick={() => {
              navigator.clipboard?.writeText(k.public_key).then(
                () => toast.info(`Public key of ${k.name} copied`),
                () => toast.error("The browser refused the clipboard"),
              );
            }}
            data-testid="keypair-copy"
          >
            <Icon name="copy" size={14} />
          </button>
          <button
            type="button"
            className="btn btn-sm btn-ghost btn-icon"
            title="Delete keypair"
            aria-label={`Delete keypair ${k.name}`}
            onClick={() => {
              setDeleteError(null);
              setDeleting(k);
            }}
            data-testid="keypair-delete"
          >
            <Icon name="trash" size={15} />
          </button>
        </div>
      ),
    },
  ];

  const keypairs = q.data?.keypairs;
  const listErrors = q.data?.errors ?? [];
  return (
    <>
      <PageHeader
        title="Keypairs"
        subtitle="SSH public keys that cloud-init puts in new VMs. JVP keeps the public half only."
        actions={
          <>
            {q.fetching && <Spinner />}
            <button type="button" className="btn" onClick={() => setImporting(true)} data-testid="import-keypair">
              <Icon name="upload" size={15} /> Import public key
            </button>
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} data-testid="create-keypair">
              <Icon name="plus" size={15} /> Create keypair
            </button>
          </>
        }
      />
      <ErrorBanner error={q.error} title="Could not list the keypairs" onRetry={() => void q.refresh()} testId="keypairs-error" />
      {listErrors.length > 0 && (
        <Alert title="Some keypair files could not be read" testId="keypairs-list-errors">
          <ul>
            {listErrors.map((e, i) => (
              <li key={i}>{String((e as { path?: string }).path ?? "")} {String((e as { message?: string }).message ?? JSON.stringify(e))}</li>
            ))}
          </ul>
        </Alert>
      )}
      <Card bodyless title={keypairs ? `${keypairs.length} keypair${keypairs.length === 1 ? "" : "s"}` : "Keypairs"}>
        <DataTable
          columns={columns}
          rows={keypairs}
          rowKey={(k) => k.name}
          loading={q.loading}
          testId="keypairs-table"
          rowTestId="keypair-row"
          initialSort={{ key: "name", dir: "asc" }}
          empty={
            <EmptyState title="No keypairs" testId="keypairs-empty">
              Create one (the private key is shown once) or import an existing public key.
            </EmptyState>
          }
        />
      </Card>
      <CreateKeypairDialog open={creating} onClose={() => setCreating(false)} onCreated={() => void q.refresh()} />
      <ImportKeypairDialog
        open={importing}
        onClose={() => setImporting(false)}
        onImported={(name) => {
          setImporting(false);
          toast.success(`Keypair ${name} imported`);
          void q.refresh();
        }}
      />
      <ConfirmDialog
        open={!!deleting}
        title={`Delete keypair ${deleting?.name ?? ""}?`}
        message={<p>New VMs can no longer get this key. VMs that already received it keep it.</p>}
        confirmLabel="Delete keypair"
        danger
        typeToConfirm={deleting?.name}
        busy={busy}
        error={deleteError}
        onConfirm={() => void doDelete()}
        onCancel={() => setDeleting(null)}
        testId="delete-keypair-dialog"
      />
    </>
  );
}
