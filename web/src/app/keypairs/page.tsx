"use client";

import { useState } from "react";
import { Schema } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatTime } from "@/lib/format";
import { callOp, useOperations } from "@/lib/useOperations";
import { Column, actionsColumn } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { ListPage, PartialError } from "@/components/ListPage";
import { useToast } from "@/components/Toast";
import { CreateKeypairDialog, ImportKeypairDialog } from "./_components/KeypairDialogs";

type Keypair = Schema<"Keypair">;

export default function KeypairsPage() {
  const q = useQuery("list-keypairs", {});
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState(false);
  const ops = useOperations<Keypair, "delete">({
    key: (k) => k.name,
    onChanged: () => void q.refresh(),
    ops: {
      delete: callOp("delete-keypair", (k) => ({ name: k.name }), (k) => `Keypair ${k.name} deleted`, {
        confirm: (k) => ({
          title: `Delete keypair ${k.name}?`,
          message: <p>New VMs can no longer get this key. VMs that already received it keep it.</p>,
          confirmLabel: "Delete keypair",
          danger: true,
          typeToConfirm: k.name,
          testId: "delete-keypair-dialog",
        }),
      }),
    },
  });

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
    actionsColumn((k) => (
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
          <OpButton ops={ops} kind="delete" target={k} icon="trash" look="icon" label="Delete keypair" ariaLabel={`Delete keypair ${k.name}`} testId="keypair-delete" />
        </div>
      )),
  ];

  return (
    <ListPage
      title="Keypairs"
      subtitle="SSH public keys that cloud-init puts in new VMs. JVP keeps the public half only."
      actions={
        <>
          <button type="button" className="btn" onClick={() => setImporting(true)} data-testid="import-keypair">
            <Icon name="upload" size={15} /> Import public key
          </button>
          <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} data-testid="create-keypair">
            <Icon name="plus" size={15} /> Create keypair
          </button>
        </>
      }
      query={q}
      testId="keypairs"
      errorTitle="Could not list the keypairs"
      refresh="none"
      partial={{ title: "Some keypair files could not be read", errors: q.data?.errors as PartialError[] | undefined, testId: "keypairs-list-errors" }}
      notices={ops.ui}
      count={{ noun: "keypair", fallback: "Keypairs" }}
      table={{ columns, rows: q.data?.keypairs, rowKey: (k) => k.name, rowTestId: "keypair-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No keypairs", hint: "Create one (the private key is shown once) or import an existing public key." }}
    >
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
    </ListPage>
  );
}
