"use client";

// Every list's table, on TanStack Table (headless: sorting, filtering and pagination are its row models;
// the markup and styles are ours).
//  - sortable headers are <button>s inside <th aria-sort>: Tab to one, Enter/Space sorts (again: reverses);
//    missing values ("—") sort last both ways;
//  - a filter box (on by default once a list has more than 10 rows; `filter` forces it on or off) keeps the
//    rows whose text (their fields, sort values and `filterValue`s) contains every word typed;
//  - pages of 25 / 50 / 100 rows once there are more rows than the smallest page;
//  - the actions column (`actionsColumn(render, menu)`) shows its buttons on wide screens and, given `menu`,
//    one "Actions" menu (components/ActionMenu) on narrow ones; the table scrolls inside its own box, never
//    the page.

import {
  ColumnDef,
  PaginationState,
  Row,
  SortingState,
  getCoreRowModel,
  getFilteredRowModel,
  getPaginationRowModel,
  getSortedRowModel,
  useReactTable,
} from "@tanstack/react-table";
import { ReactNode, useEffect, useMemo, useState } from "react";
import { ActionMenu, ActionMenuItem } from "@/components/ActionMenu";
import { Icon } from "@/components/Icon";
import { EmptyState, LoadingBlock } from "@/components/Loading";

export type SortValue = string | number | boolean | null | undefined;

export interface Column<T> {
  /** Unique id of the column (also the default field to show and sort by). */
  key: string;
  header: ReactNode;
  /** Cell content; default: the row's field `key` as text ("—" when missing). */
  render?: (row: T) => ReactNode;
  /** Value to sort by; default: the row's field `key` when it is a string/number/boolean. */
  sortValue?: (row: T) => SortValue;
  /** Text the filter box searches in this column (default: the sort value). */
  filterValue?: (row: T) => string | null | undefined;
  /** false: the header is not a sort button. Default true. */
  sortable?: boolean;
  /** "num" right-aligns with tabular figures. */
  align?: "left" | "num";
  className?: string;
  width?: number | string;
  /** The actions column on narrow screens: these items in one menu instead of the buttons. */
  menu?: (row: T) => ActionMenuItem[];
}

export interface DataTableProps<T> {
  columns: Column<T>[];
  rows: T[] | undefined;
  rowKey: (row: T) => string;
  /** Show a spinner instead of the empty state while the first load is running. */
  loading?: boolean;
  /** Shown when rows is empty (a title, or an <EmptyState/>). */
  empty?: ReactNode;
  initialSort?: { key: string; dir: "asc" | "desc" };
  testId?: string;
  /** data-testid of each <tr>; default `${testId}-row`. The row key is in data-key. */
  rowTestId?: string;
  rowClassName?: (row: T) => string | undefined;
  /** The filter box: true / false; default shown once there are more than 10 rows. */
  filter?: boolean;
  /** Rows per page at first (25, 50 or 100; default 25); false: never paginate. */
  pageSize?: 25 | 50 | 100 | false;
}

export const PAGE_SIZES = [25, 50, 100] as const;
const FILTER_FROM = 10;

function defaultSortValue<T>(row: T, key: string): SortValue {
  const v = (row as Record<string, unknown>)[key];
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : null;
}

function compare(a: SortValue, b: SortValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

const missing = (v: SortValue) => v === null || v === undefined || v === "";

/** The words a row can be found by: its own fields (strings, numbers, lists and maps of them, one level
 * down) and each column's filter or sort value. */
function rowText<T>(row: T, columns: Column<T>[]): string {
  const parts: string[] = [];
  const add = (v: unknown, depth: number) => {
    if (v === null || v === undefined) return;
    if (typeof v === "string" || typeof v === "number") parts.push(String(v));
    else if (depth > 0 && Array.isArray(v)) v.forEach((x) => add(x, depth - 1));
    else if (depth > 0 && typeof v === "object") Object.entries(v as object).forEach(([k, x]) => {
      parts.push(k);
      add(x, depth - 1);
    });
  };
  if (row && typeof row === "object") Object.values(row as object).forEach((v) => add(v, 2));
  for (const c of columns) {
    const f = c.filterValue?.(row) ?? (c.sortValue ? c.sortValue(row) : null);
    if (!missing(f as SortValue)) parts.push(String(f));
  }
  return parts.join(" ").toLowerCase();
}

export function DataTable<T>({
  columns,
  rows,
  rowKey,
  loading,
  empty = "Nothing to show",
  initialSort,
  testId = "data-table",
  rowTestId,
  rowClassName,
  filter,
  pageSize = 25,
}: DataTableProps<T>) {
  const [sorting, setSorting] = useState<SortingState>(
    initialSort ? [{ id: initialSort.key, desc: initialSort.dir === "desc" }] : [],
  );
  const [globalFilter, setGlobalFilter] = useState("");
  const [pagination, setPagination] = useState<PaginationState>({ pageIndex: 0, pageSize: pageSize || 25 });

  const defs = useMemo<ColumnDef<T>[]>(
    () =>
      columns.map((c) => {
        const get = c.sortValue ?? ((r: T) => defaultSortValue(r, c.key));
        return {
          id: c.key,
          accessorFn: (r: T) => {
            const v = get(r);
            return missing(v) ? undefined : v;
          },
          enableSorting: c.sortable !== false,
          sortUndefined: "last",
          sortingFn: (a: Row<T>, b: Row<T>, id: string) => compare(a.getValue(id) as SortValue, b.getValue(id) as SortValue),
          // no header or cell here: both are rendered from `columns` directly (renderCell below says why)
        } satisfies ColumnDef<T>;
      }),
    [columns],
  );
  const texts = useMemo(() => {
    const m = new WeakMap<object, string>();
    return (r: T) => {
      if (!r || typeof r !== "object") return rowText(r, columns);
      let t = m.get(r as object);
      if (t === undefined) {
        t = rowText(r, columns);
        m.set(r as object, t);
      }
      return t;
    };
  }, [columns]);

  const data = useMemo(() => rows ?? [], [rows]);
  const table = useReactTable<T>({
    data,
    columns: defs,
    state: { sorting, globalFilter, pagination },
    onSortingChange: setSorting,
    onGlobalFilterChange: setGlobalFilter,
    onPaginationChange: setPagination,
    getRowId: (r) => rowKey(r),
    globalFilterFn: (row, _id, value: string) => {
      const text = texts(row.original);
      return String(value)
        .toLowerCase()
        .split(/\s+/)
        .filter(Boolean)
        .every((w) => text.includes(w));
    },
    getColumnCanGlobalFilter: () => true,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getFilteredRowModel: getFilteredRowModel(),
    getPaginationRowModel: getPaginationRowModel(),
    autoResetPageIndex: false,
    sortDescFirst: false,
    enableSortingRemoval: false,
  });

  const filtered = table.getFilteredRowModel().rows.length;
  const paginate = pageSize !== false && filtered > PAGE_SIZES[0];
  const pageCount = paginate ? Math.max(1, Math.ceil(filtered / pagination.pageSize)) : 1;
  // a refresh with fewer rows must not leave us on a page past the end
  useEffect(() => {
    if (pagination.pageIndex > pageCount - 1) setPagination((p) => ({ ...p, pageIndex: pageCount - 1 }));
  }, [pageCount, pagination.pageIndex]);

  const showFilter = filter ?? ((rows?.length ?? 0) > FILTER_FROM || globalFilter !== "");
  const visible = paginate ? table.getRowModel().rows : table.getSortedRowModel().rows;
  const showLoading = loading && (!rows || rows.length === 0);
  const first = pagination.pageIndex * pagination.pageSize;
  // loading, empty or nothing matching: said under the headers, outside the table, so that it is as wide as
  // the card (a cell spanning the columns is as wide as the table, which on a phone runs past the screen)
  const noRows = showLoading ? (
    <LoadingBlock testId={`${testId}-loading`} />
  ) : (rows?.length ?? 0) === 0 ? (
    typeof empty === "string" ? <EmptyState title={empty} testId={`${testId}-empty`} /> : empty
  ) : visible.length === 0 ? (
    <EmptyState title={`No row matches “${globalFilter}”`} testId={`${testId}-no-match`} />
  ) : null;

  return (
    <div className="data-table" data-testid={`${testId}-box`}>
      {showFilter && (
        <div className="table-tools">
          <label className="table-filter">
            <Icon name="search" size={14} />
            <span className="sr-only">Filter the rows</span>
            <input
              type="search"
              className="input input-sm"
              placeholder="Filter…"
              value={globalFilter}
              onChange={(e) => {
                setGlobalFilter(e.target.value);
                setPagination((p) => ({ ...p, pageIndex: 0 }));
              }}
              data-testid={`${testId}-filter`}
            />
          </label>
          {globalFilter && (
            <span className="muted small" data-testid={`${testId}-filter-count`}>
              {filtered} of {rows?.length ?? 0}
            </span>
          )}
        </div>
      )}
      <div className="table-wrap">
        <table className="table" data-testid={testId}>
          <thead>
            <tr>
              {table.getFlatHeaders().map((h, i) => {
                const c = columns[i];
                const sortable = h.column.getCanSort();
                const dir = h.column.getIsSorted();
                return (
                  <th
                    key={h.id}
                    className={[sortable ? "sortable" : "", c.align === "num" ? "num" : "", c.className ?? ""].join(" ").trim() || undefined}
                    style={c.width ? { width: c.width } : undefined}
                    aria-sort={dir ? (dir === "asc" ? "ascending" : "descending") : sortable ? "none" : undefined}
                    data-testid={`${testId}-col-${c.key}`}
                    scope="col"
                  >
                    {sortable ? (
                      <button
                        type="button"
                        className="th-sort"
                        onClick={h.column.getToggleSortingHandler()}
                        data-testid={`${testId}-sort-${c.key}`}
                      >
                        {c.header}
                        <span className="sort-ind" aria-hidden="true">{dir === "asc" ? "▲" : dir === "desc" ? "▼" : ""}</span>
                      </button>
                    ) : (
                      c.header
                    )}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {noRows ? null : (
              visible.map((row) => (
                <tr key={row.id} data-testid={rowTestId ?? `${testId}-row`} data-key={row.id} className={rowClassName?.(row.original)}>
                  {row.getVisibleCells().map((cell, i) => {
                    const c = columns[i];
                    return (
                      <td key={cell.id} className={[c.align === "num" ? "num" : "", c.className ?? ""].join(" ").trim() || undefined} data-col={c.key}>
                        {c.menu ? (
                          <>
                            <div className="row-actions-wide">{renderCell(c, row.original)}</div>
                            <div className="row-actions-narrow">
                              <ActionMenu label="Actions" icon="more" items={c.menu(row.original)} testId={`${testId}-row-menu`} />
                            </div>
                          </>
                        ) : (
                          renderCell(c, row.original)
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      {noRows}
      {paginate && (
        <nav className="pager" aria-label="Pages" data-testid={`${testId}-pager`}>
          <span className="muted small" data-testid={`${testId}-pager-range`}>
            {first + 1}–{Math.min(first + pagination.pageSize, filtered)} of {filtered}
          </span>
          <label className="pager-size">
            <span className="muted small">Rows per page</span>
            <select
              className="select select-sm"
              value={pagination.pageSize}
              onChange={(e) => setPagination({ pageIndex: 0, pageSize: Number(e.target.value) })}
              data-testid={`${testId}-page-size`}
            >
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="btn btn-sm" onClick={() => table.previousPage()} disabled={pagination.pageIndex === 0} data-testid={`${testId}-prev`}>
            Previous
          </button>
          <span className="small" data-testid={`${testId}-page`}>
            Page {pagination.pageIndex + 1} of {pageCount}
          </span>
          <button type="button" className="btn btn-sm" onClick={() => table.nextPage()} disabled={pagination.pageIndex >= pageCount - 1} data-testid={`${testId}-next`}>
            Next
          </button>
        </nav>
      )}
    </div>
  );
}

/** A cell's content, called as a plain function. Not through TanStack's flexRender: it renders a function
 * `cell` as a React component, and the column definitions are rebuilt whenever a page passes new column
 * objects (every render of most pages), so each re-render (a refetch, a live event, a selection) gave React a
 * new component type and remounted every cell: an open row menu closed under the pointer, a cell's own state
 * was lost. Called here, the cell's elements are reconciled by their own types (RowActions stays mounted). */
function renderCell<T>(c: Column<T>, row: T): ReactNode {
  return c.render ? c.render(row) : showCell(defaultSortValue(row, c.key));
}

function showCell(v: SortValue): ReactNode {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

/** The last column of a list: the row's buttons, right-aligned, not sortable; with `menu`, those actions
 * as one menu on narrow screens. */
export function actionsColumn<T>(render: (row: T) => ReactNode, menu?: (row: T) => ActionMenuItem[]): Column<T> {
  return { key: "actions", header: <span className="sr-only">Actions</span>, sortable: false, className: "actions-col", render, menu };
}
