"use client";

import { ReactNode, useMemo, useState } from "react";
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
  /** false: the header is not clickable. Default true. */
  sortable?: boolean;
  /** "num" right-aligns with tabular figures. */
  align?: "left" | "num";
  className?: string;
  width?: number | string;
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
}

function defaultSortValue<T>(row: T, key: string): SortValue {
  const v = (row as Record<string, unknown>)[key];
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : null;
}

function compare(a: SortValue, b: SortValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

/** A table with clickable sortable headers (missing values always sort last), an empty state and a
 * loading state. */
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
}: DataTableProps<T>) {
  const [sort, setSort] = useState(initialSort ?? null);
  const sorted = useMemo(() => {
    if (!rows || !sort) return rows ?? [];
    const col = columns.find((c) => c.key === sort.key);
    if (!col) return rows;
    const get = col.sortValue ?? ((r: T) => defaultSortValue(r, col.key));
    const factor = sort.dir === "asc" ? 1 : -1;
    return [...rows].sort((ra, rb) => {
      const a = get(ra);
      const b = get(rb);
      const am = a === null || a === undefined || a === "";
      const bm = b === null || b === undefined || b === "";
      if (am || bm) return am === bm ? 0 : am ? 1 : -1;
      return compare(a, b) * factor;
    });
  }, [rows, sort, columns]);

  const toggle = (key: string) =>
    setSort((s) => (s?.key === key ? { key, dir: s.dir === "asc" ? "desc" : "asc" } : { key, dir: "asc" }));

  const showLoading = loading && (!rows || rows.length === 0);
  return (
    <div className="table-wrap">
      <table className="table" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c) => {
              const sortable = c.sortable !== false;
              const active = sort?.key === c.key;
              return (
                <th
                  key={c.key}
                  className={[sortable ? "sortable" : "", c.align === "num" ? "num" : "", c.className ?? ""].join(" ").trim() || undefined}
                  style={c.width ? { width: c.width } : undefined}
                  onClick={sortable ? () => toggle(c.key) : undefined}
                  aria-sort={active ? (sort!.dir === "asc" ? "ascending" : "descending") : undefined}
                  data-testid={`${testId}-col-${c.key}`}
                >
                  {c.header}
                  {sortable && <span className="sort-ind">{active ? (sort!.dir === "asc" ? "▲" : "▼") : ""}</span>}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {showLoading ? (
            <tr>
              <td colSpan={columns.length}>
                <LoadingBlock testId={`${testId}-loading`} />
              </td>
            </tr>
          ) : sorted.length === 0 ? (
            <tr>
              <td colSpan={columns.length} style={{ padding: 0 }}>
                {typeof empty === "string" ? <EmptyState title={empty} testId={`${testId}-empty`} /> : empty}
              </td>
            </tr>
          ) : (
            sorted.map((row) => {
              const key = rowKey(row);
              return (
                <tr key={key} data-testid={rowTestId ?? `${testId}-row`} data-key={key} className={rowClassName?.(row)}>
                  {columns.map((c) => (
                    <td key={c.key} className={[c.align === "num" ? "num" : "", c.className ?? ""].join(" ").trim() || undefined} data-col={c.key}>
                      {c.render ? c.render(row) : showCell(defaultSortValue(row, c.key))}
                    </td>
                  ))}
                </tr>
              );
            })
          )}
        </tbody>
      </table>
    </div>
  );
}

function showCell(v: SortValue): ReactNode {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

/** The last column of a list: the row's buttons, right-aligned, not sortable. */
export function actionsColumn<T>(render: (row: T) => ReactNode): Column<T> {
  return { key: "actions", header: "", sortable: false, className: "actions-col", render };
}
