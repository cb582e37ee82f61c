"use client";

import { useEffect, useState } from "react";
import { Schema } from "@/lib/api";
import { useQuery } from "@/lib/hooks";
import { formatAgo, formatTime } from "@/lib/format";
import { getIdentity } from "@/lib/session";
import { callOp, useOperations } from "@/lib/useOperations";
import { Column, actionsColumn } from "@/components/DataTable";
import { Icon } from "@/components/Icon";
import { OpButton } from "@/components/OpButton";
import { ListPage } from "@/components/ListPage";
import { StateBadge } from "@/components/StateBadge";
import { CreateTokenDialog } from "./_components/CreateTokenDialog";

type Token = Schema<"Token">;

function expired(t: Token): boolean {
  return !!t.expires_at && new Date(t.expires_at).getTime() < Date.now();
}

export default function TokensPage() {
  const q = useQuery("list-tokens", {});
  const [creating, setCreating] = useState(false);
  const [me, setMe] = useState<string | null>(null);
  useEffect(() => setMe(getIdentity()?.name ?? null), []);
  const ops = useOperations<Token, "revoke">({
    key: (t) => t.name,
    onChanged: () => void q.refresh(),
    ops: {
      revoke: callOp("revoke-token", (t) => ({ name: t.name }), (t) => `Token ${t.name} revoked`, {
        confirm: (t) => ({
          title: `Revoke token ${t.name}?`,
          message: (
            <p>
              Every client using it ({t.role}) is refused at once, in every server process. This cannot be undone: a
              new token has a new secret.
            </p>
          ),
          confirmLabel: "Revoke token",
          danger: true,
          testId: "revoke-token-dialog",
        }),
      }),
    },
  });

  const columns: Column<Token>[] = [
    {
      key: "name",
      header: "Name",
      render: (t) => (
        <div>
          <span className="cell-main" data-testid="token-name-cell">{t.name}</span>
          {t.name === me && <div className="cell-sub">this browser&apos;s token</div>}
        </div>
      ),
    },
    { key: "role", header: "Role", render: (t) => <span data-testid="token-role-cell">{t.role}</span> },
    { key: "created_at", header: "Created", render: (t) => <span title={t.created_at}>{formatTime(t.created_at)}</span> },
    {
      key: "expires_at",
      header: "Expires",
      sortValue: (t) => t.expires_at ?? "9999",
      render: (t) =>
        expired(t) ? (
          <StateBadge state="expired" tone="danger" testId="token-expired" />
        ) : (
          <span title={t.expires_at ?? undefined} data-testid="token-expires">{t.expires_at ? formatTime(t.expires_at) : "never"}</span>
        ),
    },
    {
      key: "last_used_at",
      header: "Last used",
      sortValue: (t) => t.last_used_at ?? "",
      render: (t) => (
        <span title={t.last_used_at ? `${formatTime(t.last_used_at)} (recorded to the minute)` : "not used since it was created"} data-testid="token-last-used">
          {t.last_used_at ? formatAgo(t.last_used_at) : "never"}
        </span>
      ),
    },
    actionsColumn((t) =>
      t.name === me ? (
        <span className="small muted" data-testid="token-revoke-self" title="A token cannot revoke itself: log in with another admin token, or use `jvp token revoke` on the controller">
          in use here
        </span>
      ) : (
        <OpButton ops={ops} kind="revoke" target={t} icon="trash" look="icon" label="Revoke token" ariaLabel={`Revoke token ${t.name}`} testId="token-revoke" />
      ),
    ),
  ];

  return (
    <ListPage
      title="API tokens"
      subtitle="Bearer tokens for the API, the CLI and this console. JVP stores only their hashes: a secret is shown once, when it is created."
      actions={
        <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} data-testid="create-token">
          <Icon name="plus" size={15} /> Create token
        </button>
      }
      query={q}
      testId="tokens"
      errorTitle="Could not list the tokens"
      refresh="none"
      notices={ops.ui}
      count={{ noun: "token", fallback: "Tokens" }}
      table={{ columns, rows: q.data?.tokens, rowKey: (t) => t.name, rowTestId: "token-row", initialSort: { key: "name", dir: "asc" } }}
      empty={{ title: "No tokens", hint: "Create one for a script or a colleague; its secret is shown once." }}
    >
      <CreateTokenDialog open={creating} onClose={() => setCreating(false)} onCreated={() => void q.refresh()} />
    </ListPage>
  );
}
