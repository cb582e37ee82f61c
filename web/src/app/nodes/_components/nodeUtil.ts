import type { Schema } from "@/lib/api";

export type Node = Schema<"Node">;

/** vm_counts as {running, total} or null (the schema types it loosely: an empty object or null when the
 * node did not answer). */
export function vmCounts(node: Pick<Node, "vm_counts">): { running: number; total: number } | null {
  const c = node.vm_counts as { running?: number; total?: number } | null | undefined;
  return c && typeof c.running === "number" && typeof c.total === "number" ? { running: c.running, total: c.total } : null;
}

export function nodeHref(name: string): string {
  return `/nodes/detail/?name=${encodeURIComponent(name)}`;
}
