"use client";

// The one list page: header (title, subtitle, actions), the list's error once, notices (partial-answer
// warnings, operation errors), a card with the count, refresh and actions, an optional toolbar (filters),
// the sortable table with its loading and empty states, then the page's dialogs (children).
//
// Every data-testid derives from `testId`: `${testId}-error`, `${testId}-table`, `${testId}-empty`,
// `${testId}-refresh` (or `-reload`), `${testId}-updated`.

import { ReactNode } from "react";
import { formatAgo } from "@/lib/format";
import { QueryState, useTick } from "@/lib/hooks";
import { DataTable, DataTableProps } from "@/components/DataTable";
import { Alert, ErrorBanner } from "@/components/ErrorBanner";
import { Icon } from "@/components/Icon";
import { EmptyState, Spinner } from "@/components/Loading";
import { Card, PageHeader } from "@/components/PageHeader";

export interface ListPageProps<T> {
  /** The page header; absent when the list is one tab of a page that has its own. */
  title?: ReactNode;
  subtitle?: ReactNode;
  /** Buttons and filters on the right of the header. */
  actions?: ReactNode;
  /** The list's query: its error, loading state and refresh. */
  query: Pick<QueryState<unknown>, "error" | "loading" | "fetching" | "updatedAt" | "refresh">;
  /** Base of the data-testids. */
  testId: string;
  /** Bold line of the error banner, e.g. "Could not list the networks". */
  errorTitle: string;
  /** Where the refresh button goes: the card's header (default), the page header (with "Updated N s
   * ago"), or nowhere (a spinner in the page header only). */
  refresh?: "card" | "header" | "none";
  /** The refresh button's label (its data-testid is `${testId}-${label in lower case}`). */
  refreshLabel?: "Refresh" | "Reload";
  /** What the list could not read (unreachable nodes, unreadable files): a warning above the table. */
  partial?: { title: string; errors: PartialError[] | undefined; testId?: string; itemTestId?: string };
  /** Warnings and operation errors, between the error and the card (render `ops.ui` here). */
  notices?: ReactNode;
  /** The card's title is "N <noun>s" once the rows are here, `fallback` before; absent: no count. */
  count?: { noun: string; plural?: string; fallback: ReactNode };
  /** Extra text in the card's header, e.g. "3 running". */
  summary?: ReactNode;
  /** Buttons in the card's header, after refresh. */
  cardActions?: ReactNode;
  /** Inside the card, above the table: filters, bulk actions. */
  toolbar?: ReactNode;
  table: Omit<DataTableProps<T>, "loading" | "testId" | "empty">;
  /** The empty state (its data-testid is `${testId}-empty`). */
  empty: { title: ReactNode; hint?: ReactNode; action?: ReactNode };
  /** The page's dialogs. */
  children?: ReactNode;
}

/** One entry of a list's `errors` (every list action answers what it could not read this way). */
export interface PartialError {
  node?: string | null;
  path?: string | null;
  code?: string | null;
  message: string;
}

/** The entries a list left out and why; each item has data-node. */
export function PartialErrors({ title, errors, testId, itemTestId = `${testId}-item` }: {
  title: string;
  errors: PartialError[] | undefined;
  testId: string;
  itemTestId?: string;
}) {
  if (!errors?.length) return null;
  return (
    <Alert title={title} testId={testId}>
      <ul>
        {errors.map((e, i) => (
          <li key={`${e.node ?? e.path ?? ""}-${i}`} data-testid={itemTestId} data-node={e.node ?? ""}>
            {e.path && !e.message.includes(e.path) && <code>{e.path}: </code>}
            {e.node && !e.path && <strong>{e.node}: </strong>}
            {e.message}
            {e.code && <> <span className="muted">({e.code})</span></>}
          </li>
        ))}
      </ul>
    </Alert>
  );
}

function countText(n: number, noun: string, plural?: string): string {
  return `${n} ${n === 1 ? noun : plural ?? `${noun}s`}`;
}

export function ListPage<T>(p: ListPageProps<T>) {
  const { query: q, testId, refresh = "card", refreshLabel = "Refresh", table } = p;
  const rows = table.rows;
  useTick(refresh === "header" ? 5000 : 0);
  const refreshId = `${testId}-${refreshLabel.toLowerCase()}`;
  const headerActions =
    refresh === "header" ? (
      <>
        <span className="refresh-hint" data-testid={`${testId}-updated`}>
          {q.fetching ? <Spinner /> : null}
          {q.updatedAt ? `Updated ${formatAgo(q.updatedAt)}` : ""}
        </span>
        <button type="button" className="btn" onClick={() => void q.refresh()} disabled={q.fetching} data-testid={refreshId}>
          <Icon name="refresh" size={15} /> {refreshLabel}
        </button>
        {p.actions}
      </>
    ) : refresh === "none" ? (
      <>
        {q.fetching && <Spinner />}
        {p.actions}
      </>
    ) : (
      p.actions
    );
  const cardExtra =
    refresh === "card" ? (
      <div className="split">
        {p.summary}
        {q.fetching && <Spinner />}
        <button type="button" className="btn btn-sm" onClick={() => void q.refresh()} data-testid={refreshId}>
          <Icon name="refresh" size={14} /> {refreshLabel}
        </button>
        {p.cardActions}
      </div>
    ) : p.summary || p.cardActions ? (
      <div className="split">
        {p.summary}
        {p.cardActions}
      </div>
    ) : undefined;
  const title = p.count && (rows ? countText(rows.length, p.count.noun, p.count.plural) : p.count.fallback);
  return (
    <>
      {p.title !== undefined && <PageHeader title={p.title} subtitle={p.subtitle} actions={headerActions} />}
      <ErrorBanner error={q.error} title={p.errorTitle} onRetry={() => void q.refresh()} testId={`${testId}-error`} />
      {p.partial && <PartialErrors {...p.partial} testId={p.partial.testId ?? `${testId}-partial`} />}
      {p.notices}
      <Card bodyless title={title} extra={cardExtra}>
        {p.toolbar}
        <DataTable
          {...table}
          loading={q.loading}
          testId={`${testId}-table`}
          empty={
            <EmptyState title={p.empty.title} action={p.empty.action} testId={`${testId}-empty`}>
              {p.empty.hint}
            </EmptyState>
          }
        />
      </Card>
      {p.children}
    </>
  );
}
